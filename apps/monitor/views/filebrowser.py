"""``/filebrowser/?pandaid=N[&filename=F]``: the files of a job's log tarball and a file's text (monitor.md §6).

``filename`` is a member name of the tarball or one of the well-known basenames (``pilotlog.txt``,
``payload.stdout``, ``payload.stderr``) that the job page links without opening the tarball.
"""

from dataclasses import asdict

from apps.monitor.selectors import log_files
from apps.monitor.views.common import respond
from apps.monitor.views.identity import bad_request, read_refused


def filebrowser(request):
    if (refused := read_refused(request)) is not None:
        return refused
    raw = request.GET.get("pandaid", "").strip()
    if not raw.isdigit():
        return bad_request(request, "give pandaid=<id> of the job whose log to show")
    pandaid = int(raw)
    filename = request.GET.get("filename", "")
    context = {"title": f"Log of job {pandaid}", "pandaid": pandaid, "max_bytes": log_files.MAX_TEXT_BYTES}
    status = 200
    try:
        tarball = log_files.job_log_tarball(pandaid)
        context["tarball"] = {"lfn": tarball.lfn, "endpoint": tarball.endpoint}
        if filename:
            members = log_files.tarball_members(tarball) if filename in log_files.WELL_KNOWN else []
            name = log_files.well_known_members(members).get(filename, filename)
            member = log_files.tarball_member_text(tarball, name)
            context["member"] = asdict(member)
            context["title"] = f"{member.name} of job {pandaid}"
        else:
            context["members"] = [asdict(m) for m in log_files.tarball_members(tarball)]
    except log_files.LogUnavailable as exc:
        context["error"] = str(exc)
        status = 404
    json_data = {key: context.get(key) for key in ("pandaid", "tarball", "members", "member", "error")}
    response = respond(request, "monitor/filebrowser.html", context, json_data=json_data)
    response.status_code = status
    return response
