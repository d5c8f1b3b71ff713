"""Keep the quick start supplied with small production tasks that the JEDI agents carry to ``done``."""

from django.core.management.base import CommandError

from apps.ddm.interface import DDMError
from apps.jedi.selectors.demo import demo_task_counts
from apps.jedi.services.demo import (
    DEMO_FILES_PER_TASK,
    DEMO_INPUT_FILES,
    DEMO_KINDS,
    DemoUserMissing,
    demo_task_name_prefix,
    demo_tasks_submit,
)
from apps.jobs.management.demo_loop import DemoLoopCommand
from apps.jobs.selectors.demo import demo_job_counts


class Command(DemoLoopCommand):
    help = (
        "Submit small production tasks (one single-core, one multi-core) through task submission every --interval "
        "seconds, each kind only when its previous task has ended. Their inputs are a demo dataset registered in "
        "the embedded DDM with real files on the demo storage; the JEDI agents of the Celery beat turn them into "
        "jobs that Harvester's pilots run (transformation run_demo.sh served from PANDA_TRF_DIR)."
    )
    expected_errors = (*DemoLoopCommand.expected_errors, DemoUserMissing, DDMError)

    def add_own_arguments(self, parser):
        parser.add_argument(
            "--files",
            type=int,
            default=DEMO_FILES_PER_TASK,
            help=f"input files per task, one job each (1 to {DEMO_INPUT_FILES}; default {DEMO_FILES_PER_TASK})",
        )
        parser.add_argument(
            "--kind",
            action="append",
            dest="kinds",
            choices=[kind.name for kind in DEMO_KINDS],
            help="task kind to submit (repeatable; default all)",
        )

    def check_options(self, options):
        if not 1 <= options["files"] <= DEMO_INPUT_FILES:
            raise CommandError(f"--files must be between 1 and {DEMO_INPUT_FILES}")

    def run_round(self, options: dict, server_url: str) -> None:
        wanted = options["kinds"] or [kind.name for kind in DEMO_KINDS]
        kinds = [kind for kind in DEMO_KINDS if kind.name in wanted]
        result = demo_tasks_submit(
            kinds=kinds,
            n_files=options["files"],
            max_events=options["max_events"],
            server_url=server_url,
            transformation=options["transformation"],
        )
        counts = demo_task_counts(prefixes=[demo_task_name_prefix(kind) for kind in kinds])
        tasks = ", ".join(f"{status} {n}" for status, n in counts.items()) or "none"
        jobs = demo_job_counts(queues=sorted({kind.queue for kind in kinds}))
        jobs_text = ", ".join(f"{status} {n}" for status, n in jobs.items()) or "none"
        self.stdout.write(f"demo_tasks: {result.summary()} | demo tasks: {tasks} | jobs: {jobs_text}")
