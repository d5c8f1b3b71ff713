"""Factories for every model the tests touch. ``job_with_files`` builds a realistic job."""

import uuid

import factory

from apps.accounts.models import ExternalIdentity, User
from apps.jobs.models import FileType, Job, JobFile, JobParameters
from apps.jobs.services.transitions import job_log_creation
from apps.jobs.states import JobStatus
from apps.sites.models import PandaQueue, ResourceType, Site, StorageEndpoint
from tests.oidc_issuer import ISSUER, USER_CLIENT


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Jane"
    # Lower case after the first letter: token identities write names capitalised (iam.md §6), so the
    # compact name of the user's DN and of its token identity are the same.
    last_name = factory.Sequence(lambda n: f"Doe{chr(97 + n % 26)}")
    dn = factory.LazyAttribute(
        lambda u: f"/DC=ch/DC=cern/OU=Users/CN={u.first_name} {u.last_name}/CN=nickname:{u.username}"
    )
    fqans = factory.LazyFunction(list)


def production_user(**kwargs) -> User:
    return UserFactory(fqans=["/atlas/Role=production"], **kwargs)


def pilot_user(**kwargs) -> User:
    return UserFactory(fqans=["/atlas/Role=pilot"], **kwargs)


def token_groups(user: User) -> list[str]:
    """Every user is in the VO ``atlas``; FQANs add groups: ``/atlas/Role=production`` -> ``atlas/production``."""
    groups = ["atlas"]
    for fqan in user.fqans or []:
        parts = [p for p in fqan.strip("/").split("/") if p and p not in ("Role=NULL", "Capability=NULL")]
        if not parts:
            continue
        groups.append(parts[0])
        if len(parts) > 1:
            groups.append("/".join([*parts[:-1], parts[-1].removeprefix("Role=")]))
    return list(dict.fromkeys(groups))


def token_for(user: User, *, role: str | None = None, expires_in: int = 3600) -> str:
    """An RS256 ID token of the test issuer for ``user``: groups from its FQANs, plus ``atlas/<role>``.

    The account ``(issuer, username)`` is linked to ``user`` first, so the token maps to THAT user.
    """
    ExternalIdentity.objects.get_or_create(
        issuer=ISSUER.issuer.rstrip("/"), subject=user.username, defaults={"user": user}
    )
    groups = token_groups(user) + ([f"atlas/{role}"] if role else [])
    claims = {"aud": USER_CLIENT, "preferred_username": user.username, "groups": list(dict.fromkeys(groups))}
    if user.get_full_name():
        claims["name"] = user.get_full_name()
    if user.email:
        claims["email"] = user.email
    return ISSUER.sign(ISSUER.claims(subject=user.username, expires_in=expires_in, **claims))


def auth_header(user: User, *, role: str | None = None) -> dict:
    """The user's token (a member of ``atlas/<role>`` when a role is given) with ``Origin: atlas[.<role>]``."""
    return {
        "HTTP_AUTHORIZATION": f"Bearer {token_for(user, role=role)}",
        "HTTP_ORIGIN": f"atlas.{role}" if role else "atlas",
    }


def robot_token(client_id: str = "panda-pilot", *, expires_in: int = 4 * 24 * 3600) -> str:
    """A client-credentials access token of a robot (pilot, Harvester): the client is its own subject."""
    return ISSUER.sign(ISSUER.claims(subject=client_id, expires_in=expires_in, client_id=client_id, aud=client_id))


def robot_auth_header(client_id: str = "panda-pilot", role: str = "pilot") -> dict:
    """A robot caller (``robot_ids`` of the test VO: panda-pilot -> pilot, panda-harvester -> production)."""
    return {"HTTP_AUTHORIZATION": f"Bearer {robot_token(client_id)}", "HTTP_ORIGIN": f"atlas.{role}"}


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"SITE_{n}")
    cloud = "CERN"


def queue_document(name: str, site: str, **overrides) -> dict:
    document = {
        "nickname": name,
        "panda_resource": name,
        "atlas_site": site,
        "site": site,
        "state": "ACTIVE",
        "status": "online",
        "resource_type": "grid",
        "type": "unified",
        "copytools": {"mv": {"setup": ""}},
        "acopytools": {"pr": ["mv"], "pw": ["mv"], "pl": ["mv"], "pls": ["mv"], "default": ["mv"]},
        "astorages": {"pr": [f"{site}_DATADISK"], "pw": [f"{site}_DATADISK"], "pl": [f"{site}_DATADISK"]},
        "aprotocols": {},
        "acopytools_schemas": {},
        "maxwdir": 10000,
        "maxrss": 4000,
        "maxtime": 86400,
        "timefloor": 0,
        "corecount": 1,
        "catchall": "",
        "params": {},
        "container_type": "",
        "container_options": "",
        "direct_access_lan": False,
        "direct_access_wan": False,
        "allow_lan": True,
        "allow_wan": False,
        "is_cvmfs": False,
        "pledgedcpu": 0,
        "maxinputsize": 0,
        "environ": "",
        "cmtconfig": "",
    }
    document.update(overrides)
    return document


class PandaQueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PandaQueue
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"QUEUE_{n}")
    site = factory.SubFactory(SiteFactory)
    document = factory.LazyAttribute(lambda q: queue_document(q.name, q.site.name))


class StorageEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StorageEndpoint
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"SITE_{n}_DATADISK")
    site = factory.SubFactory(SiteFactory)
    rprotocols = factory.LazyFunction(
        lambda: {
            "1": {
                "endpoint": "file://localhost",
                "path": "/tmp/se",
                "flavour": "POSIX",
                "id": 1,
                "activities": [["read_lan", 1], ["write_lan", 1], ["read_wan", 1], ["write_wan", 1]],
            }
        }
    )


class ResourceTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResourceType
        django_get_or_create = ("name",)

    name = "SCORE"
    mincore = 1
    maxcore = 1


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job
        skip_postgeneration_save = True

    jobname = factory.Sequence(lambda n: f"job.{n}")
    jobstatus = JobStatus.ACTIVATED
    computingsite = "QUEUE_A"
    prodsourcelabel = "managed"
    produsername = "Jane Doe"
    currentpriority = 1000
    assignedpriority = 1000
    attemptnr = 1
    maxattempt = 1
    transformation = "http://127.0.0.1/trf/run.sh"
    homepackage = "AtlasOffline/22.0"
    atlasrelease = "Atlas-22.0"
    cmtconfig = "x86_64-el9-gcc13-opt"
    jeditaskid = 100
    jobsetid = 1
    jobdefinitionid = 1
    corecount = 1
    vo = "atlas"
    resource_type = "SCORE"

    @factory.post_generation
    def log_creation(obj, create, extracted, **kwargs):
        if create and obj.jobstatus in (JobStatus.PENDING, JobStatus.DEFINED, JobStatus.WAITING):
            job_log_creation([obj])


def job_with_files(*, n_inputs: int = 2, n_outputs: int = 1, parameters: str = "--in=${IN}", **fields) -> Job:
    """A job shaped like a real one: inputs, outputs, a log file (always last) and parameters."""
    job = JobFactory(**fields)
    JobParameters.objects.create(job=job, jobparameters=parameters)
    files = []
    for i in range(n_inputs):
        files.append(
            JobFile(
                job=job,
                type=FileType.INPUT,
                lfn=f"EVNT.{job.pandaid}._{i:06d}.pool.root.1",
                scope="mc23",
                dataset="mc23:mc23.EVNT.e1",
                proddblock="mc23:mc23.EVNT.e1",
                guid=str(uuid.uuid4()).upper(),
                fsize=1000 + i,
                checksum=f"ad:0000000{i}",
                status="ready",
                jeditaskid=job.jeditaskid,
                attemptnr=1,
            )
        )
    for i in range(n_outputs):
        files.append(
            JobFile(
                job=job,
                type=FileType.OUTPUT,
                lfn=f"HITS.{job.pandaid}._{i:06d}.pool.root.1",
                scope="mc23",
                dataset="mc23:mc23.HITS.s1",
                destinationdblock="mc23.HITS.s1_sub01",
                destinationdblocktoken="ddd:ATLASDATADISK",
                destinationse="QUEUE_A",
                guid=str(uuid.uuid4()).upper(),
                status="unknown",
                jeditaskid=job.jeditaskid,
            )
        )
    files.append(
        JobFile(
            job=job,
            type=FileType.LOG,
            lfn=f"log.{job.pandaid}.job.log.tgz.1",
            scope="mc23",
            dataset="mc23:mc23.log.s1",
            destinationdblock="mc23.log.s1_sub01",
            destinationdblocktoken="ddd:ATLASDATADISK",
            guid=str(uuid.uuid4()).upper(),
            status="unknown",
            jeditaskid=job.jeditaskid,
        )
    )
    JobFile.objects.bulk_create(files)
    return job
