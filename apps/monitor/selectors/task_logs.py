"""Reads of ``/tasklogs/<jeditaskid>/`` (monitor.md §1 "Task"): everything the server kept about a task's life.

The code base keeps three records: the status log (``jedi_tasks_statuslog``: each change with its
reason — the refiner's, contents feeder's, job generator's and post-processor's messages are these
reasons), the command history (``jedi_task_commands``: who asked for kill, retry, ... and what JEDI
answered) and the task's last message (``errordialog``: why it is pending, broken or exhausted). The
timeline merges the first two in time order. Three queries whatever the lengths.
"""

from apps.jedi.models import Task, TaskCommand, TaskStatusLog

TASK_FIELDS = (
    "jeditaskid",
    "taskname",
    "status",
    "oldstatus",
    "superstatus",
    "username",
    "errordialog",
    "attemptnr",
    "creationdate",
    "modificationtime",
    "statechangetime",
    "lockedby",
    "lockedtime",
    "throttledtime",
    "numthrottled",
    "frozentime",
)
MAX_ROWS = 2_000


def task_log_summary(jeditaskid: int) -> dict | None:
    return Task.objects.filter(jeditaskid=jeditaskid).values(*TASK_FIELDS).first()


def task_status_changes(jeditaskid: int) -> list[dict]:
    return list(
        TaskStatusLog.objects.filter(jeditaskid=jeditaskid)
        .order_by("modificationtime", "id")
        .values("modificationtime", "oldstatus", "status", "attemptnr", "reason")[:MAX_ROWS]
    )


def task_commands(jeditaskid: int) -> list[dict]:
    return list(
        TaskCommand.objects.filter(task_id=jeditaskid)
        .order_by("creationtime", "id")
        .values("id", "command", "status", "owner", "comment", "parameters", "result", "creationtime", "donetime")[
            :MAX_ROWS
        ]
    )


def task_timeline(status_changes: list[dict], commands: list[dict]) -> list[dict]:
    """Status changes, commands received and commands answered, oldest first: ``{time, source, event, detail}``."""
    events = [
        {
            "time": row["modificationtime"],
            "source": "status",
            "event": f"{row['oldstatus'] or '(new)'} -> {row['status']}",
            "detail": row["reason"],
        }
        for row in status_changes
    ]
    for command in commands:
        asked = f"by {command['owner']}" if command["owner"] else ""
        events.append(
            {
                "time": command["creationtime"],
                "source": "command",
                "event": f"{command['command']} requested",
                "detail": "; ".join(part for part in (asked, command["comment"]) if part),
            }
        )
        if command["donetime"] is not None:
            events.append(
                {
                    "time": command["donetime"],
                    "source": "command",
                    "event": f"{command['command']} {command['status']}",
                    "detail": command["result"],
                }
            )
    # Stable: a command answered at the same instant as the status change it caused stays after it.
    return sorted(events, key=lambda event: event["time"])
