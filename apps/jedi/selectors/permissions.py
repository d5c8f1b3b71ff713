"""The facts about a task that the permission rules need (apps.accounts.permissions)."""

from apps.jedi.models import Task


def task_permission_facts(*, task_id: int) -> dict | None:
    """``task_owner`` (the task's ``userName``) and ``task_status``; None when there is no such task."""
    row = Task.objects.filter(jeditaskid=task_id).values("username", "status").first()
    if row is None:
        return None
    return {"task_owner": row["username"], "task_status": row["status"]}
