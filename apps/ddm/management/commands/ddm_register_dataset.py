from django.core.management.base import BaseCommand, CommandError

from apps.ddm.interface import DDMError
from apps.ddm.services.registration import dataset_register_from_disk


class Command(BaseCommand):
    help = (
        "Register files already on a local storage endpoint into a dataset: size and adler32 are computed, "
        "each file gets a GUID and a replica on the endpoint (PFN = absolute path)."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="scope:name (or a dotted name whose first field is the scope)")
        parser.add_argument("paths", nargs="+", help="files or directories (walked recursively) under the endpoint")
        parser.add_argument("--endpoint", required=True, help="storage endpoint (RSE) the files are on")
        parser.add_argument("--nevents", type=int, default=None, help="events in each file")
        parser.add_argument("--container", default=None, help="also attach the dataset to this container")

    def handle(self, *args, dataset, paths, endpoint, nevents, container, **options):
        try:
            registration = dataset_register_from_disk(
                dataset=dataset, paths=paths, endpoint=endpoint, nevents=nevents, container=container
            )
        except DDMError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(registration))
        if container:
            self.stdout.write(f"attached to container {container}")
