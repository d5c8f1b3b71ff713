"""Build ``job/submit`` payloads the way panda-client does (protocol.md §10.4)."""

from apps.jobs.models import FILE_WIRE_ATTRIBUTES, WIRE_ATTRIBUTES

NULL = "NULL"


def wire_file(**values) -> list:
    """A file array: the 22 attributes ("NULL" unless given) then the null owner."""
    return [values.get(name, NULL) for name in FILE_WIRE_ATTRIBUTES] + [None]


def wire_job(files: list | None = None, **values) -> list:
    """A job array: the 126 attributes ("NULL" unless given) then its file arrays."""
    defaults = {
        "jobName": "user.jdoe.test.job",
        "prodSourceLabel": "user",
        "computingSite": "Q_SUBMIT",
        "transformation": "http://127.0.0.1/trf/user/runGen.sh",
        "jobParameters": "-o out.$PANDAID.root",
        "coreCount": 1,
    }
    merged = {**defaults, **values}
    if files is None:
        files = [
            wire_file(lfn="in.root", type="input", dataset="user.jdoe:in", scope="user.jdoe", GUID="G-IN", fsize=10),
            wire_file(lfn="out.$PANDAID.root", type="output", dataset="user.jdoe.out/", GUID="G-OUT"),
            wire_file(lfn="log.$PANDAID.tgz", type="log", dataset="user.jdoe.log/", GUID="G-LOG"),
        ]
    return [merged.get(name, NULL) for name in WIRE_ATTRIBUTES] + [files]
