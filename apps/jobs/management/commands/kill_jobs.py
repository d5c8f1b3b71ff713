from django.core.management.base import BaseCommand, CommandError

from apps.jobs.services.kill import KillOptionError, jobs_kill_by_system


class Command(BaseCommand):
    help = "Kill jobs as the operator (no permission check), with a kill code of spec/states.md §4."

    def add_arguments(self, parser):
        parser.add_argument("pandaids", nargs="+", type=int, metavar="PandaID")
        parser.add_argument("--code", type=int, default=None, help="kill code (2, 3, 4, 7, 8, 9, 10, 50, 51, ...)")
        parser.add_argument("--keep-unmerged", action="store_true", help="leave the output files as they are")
        parser.add_argument("--job-sub-status", default=None, help="jobSubStatus to record")
        parser.add_argument("--killer", default="panda operator", help="who the diag names")

    def handle(self, *args, pandaids, code, keep_unmerged, job_sub_status, killer, **options):
        kill_options = ["keepUnmerged"] if keep_unmerged else []
        if job_sub_status:
            kill_options.append(f"jobSubStatus={job_sub_status}")
        try:
            results = jobs_kill_by_system(pandaids=pandaids, code=code, kill_options=kill_options, killer=killer)
        except KillOptionError as exc:
            raise CommandError(str(exc)) from exc
        for pandaid, killed in zip(pandaids, results, strict=True):
            self.stdout.write(f"PandaID={pandaid} {'killed' if killed else 'not killed'}")
