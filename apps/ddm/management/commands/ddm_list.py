from django.core.management.base import BaseCommand, CommandError

from apps.ddm.interface import DDMError, ddm


class Command(BaseCommand):
    help = "Show a dataset or container: its state, where it is, its rules, its files and their replicas."

    def add_arguments(self, parser):
        parser.add_argument("name", help="scope:name or a dotted name")

    def handle(self, *args, name, **options):
        catalogue = ddm()
        try:
            info = catalogue.get_dataset(name)
            files = catalogue.list_files(name)
            locations = catalogue.dataset_locations(name)
            rules = catalogue.list_rules([name])[name]
        except DDMError as exc:
            raise CommandError(str(exc)) from exc
        replicas = catalogue.list_replicas((f.scope, f.lfn) for f in files)
        write = self.stdout.write
        write(f"{info.kind} {info.scope}:{info.name} state={info.state} files={info.nfiles} bytes={info.nbytes}")
        for endpoint, (n, nbytes) in locations.items():
            write(f"  available at {endpoint}: {n}/{info.nfiles} file(s), {nbytes} bytes")
        for rule in rules:
            line = (
                f"  rule {rule.rule_id}: {rule.activity} to {rule.endpoint} {rule.state} "
                f"(ok={rule.locks_ok} replicating={rule.locks_replicating} stuck={rule.locks_stuck})"
            )
            write(line + (f" {rule.error}" if rule.error else ""))
        for f in files:
            where = f" in {f.dataset}" if info.kind == "container" else ""
            events = f" nevents={f.nevents}" if f.nevents is not None else ""
            write(f"  {f.scope}:{f.lfn} guid={f.guid} size={f.fsize} adler32={f.adler32}{events}{where}")
            for replica in replicas[(f.scope, f.lfn)]:
                tape = " tape" if replica.is_tape else ""
                write(f"    {replica.endpoint} {replica.state}{tape} {replica.pfn}".rstrip())
        if not files:
            write("  (no files)")
