"""Log in to PanDA from the command line with the OAuth 2.0 device-code flow (iam.md §9).

    python scripts/panda_login.py --server https://panda.example.org --vo atlas
    export PANDA_AUTH_ID_TOKEN=$(python scripts/panda_login.py --server ... --vo atlas --print-token)

Standard library only, so it runs wherever Python does. It behaves like panda-client 2.x, with fixes:

1. ``$PANDA_CONFIG_ROOT/.token`` (default ``~/.panda``) holds the token endpoint's raw JSON answer, written
   atomically with mode 0600. Its ID token is reused while more than 5 minutes remain (``exp`` is read
   without verification: the server verifies it).
2. Otherwise, with a refresh token, ``grant_type=refresh_token``.
3. Otherwise the device flow: ``<server>/auth/<vo>_auth_config.json`` (TLS verified), the provider's
   discovery document, the device endpoint; the user opens ``verification_uri_complete`` while this polls
   the token endpoint every ``interval`` seconds (5 more after each ``slow_down``) until the code expires.

Tokens are never written to the terminal or a log, except the ID token that ``--print-token`` prints on
stdout on purpose; every message goes through :func:`scrub` first.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

TOKEN_BASENAME = ".token"
# The cached ID token is reused only while more than this many seconds remain (panda-client's rule).
REUSE_MARGIN_SECONDS = 300
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_SECONDS = 5
DEFAULT_INTERVAL_SECONDS = 5
SCOPES = "openid profile email offline_access"
WLCG_SCOPES = "wlcg wlcg.groups"
SECRET_FIELDS = ("access_token", "id_token", "refresh_token", "device_code", "client_secret", "code")


class LoginError(Exception):
    """The login cannot complete; the message says why and is safe to show."""


def scrub(text: str) -> str:
    """``text`` with bearer tokens, JWTs and secret JSON or form fields replaced by ``***``."""
    text = re.sub(r"(?i)(bearer\s+)[^\s\"',;]+", r"\1***", text)
    text = re.sub(r"eyJ[\w-]*\.[\w-]*\.[\w-]*", "***", text)
    fields = "|".join(SECRET_FIELDS)
    text = re.sub(rf"(\"(?:{fields})\"\s*:\s*)\"[^\"]*\"", r'\1"***"', text)
    return re.sub(rf"(?<![\w.])((?:{fields})=)[^&\s]+", r"\1***", text)


def unverified_claims(jwt: str) -> dict:
    """The payload of a JWT, not verified (the server verifies it; this only reads ``exp``)."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError) as exc:
        raise LoginError("the ID token is not a JWT") from exc
    if not isinstance(claims, dict):
        raise LoginError("the ID token's payload is not a JSON object")
    return claims


def seconds_left(tokens: dict, now: float) -> float:
    """Seconds until the ID token in ``tokens`` expires (negative once expired, -inf without one)."""
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        return float("-inf")
    try:
        return float(unverified_claims(id_token)["exp"]) - now
    except (LoginError, KeyError, TypeError, ValueError):
        return float("-inf")


def token_path(config_root: str | os.PathLike) -> Path:
    return Path(config_root).expanduser() / TOKEN_BASENAME


def read_cached_tokens(path: Path) -> dict | None:
    """The cached token JSON, or None when there is none or it is unreadable (then a new login replaces it)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_tokens(path: Path, tokens: dict) -> None:
    """Replace ``path`` atomically with ``tokens`` as JSON, readable by the owner only (0600)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600, so the tokens are never readable by others, even briefly.
    fd, temporary = tempfile.mkstemp(prefix=TOKEN_BASENAME + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(tokens, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class Http:
    """JSON over HTTP(S) with certificate verification (``ca_bundle`` adds a CA file, e.g. a site CA)."""

    def __init__(self, *, ca_bundle: str | None = None, timeout: float = 30.0):
        self.context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
        self.timeout = timeout

    def get_json(self, url: str) -> dict:
        status, body = self._call(urllib.request.Request(url, headers={"Accept": "application/json"}))
        if status != 200:
            raise LoginError(f"GET {url} answered HTTP {status}: {scrub(body[:300])}")
        return self._decode(url, body)

    def post_form(self, url: str, fields: dict) -> tuple[int, dict]:
        data = urllib.parse.urlencode({k: v for k, v in fields.items() if v}).encode()
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        )
        status, body = self._call(request)
        return status, self._decode(url, body)

    def _call(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LoginError(f"cannot reach {request.full_url}: {scrub(str(reason))}") from exc

    @staticmethod
    def _decode(url: str, body: str) -> dict:
        try:
            data = json.loads(body)
        except ValueError:
            raise LoginError(f"{url} did not answer JSON: {scrub(body[:300])}") from None
        if not isinstance(data, dict):
            raise LoginError(f"{url} did not answer a JSON object")
        return data


def server_base(server: str) -> str:
    """The server's base URL; panda-client's ``PANDA_URL_SSL`` (``.../server/panda``) is accepted too."""
    base = server.rstrip("/")
    if base.endswith("/server/panda"):
        base = base[: -len("/server/panda")]
    if not base.startswith(("https://", "http://")):
        raise LoginError(f"--server must be an http(s) URL, got {server!r}")
    return base


def fetch_auth_config(http: Http, server: str, vo: str) -> dict:
    if not re.fullmatch(r"[\w.:-]+", vo):
        raise LoginError(f"--vo must be a VO name such as atlas or atlas.production, got {vo!r}")
    config = http.get_json(f"{server_base(server)}/auth/{vo}_auth_config.json")
    for key in ("client_id", "oidc_config_url"):
        if not config.get(key):
            raise LoginError(f"the server's auth config for {vo} has no {key}")
    return config


class DeviceLogin:
    """One login against one VO's provider; ``sleep`` and ``clock`` are injectable so tests need not wait."""

    def __init__(
        self,
        http: Http,
        auth_config: dict,
        *,
        say: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.http = http
        self.config = auth_config
        self.say = say
        self.sleep = sleep
        self.clock = clock
        self._endpoints: dict | None = None

    @property
    def endpoints(self) -> dict:
        if self._endpoints is None:
            self._endpoints = self.http.get_json(self.config["oidc_config_url"])
        return self._endpoints

    def endpoint(self, name: str) -> str:
        url = self.endpoints.get(name)
        if not url:
            raise LoginError(f"the provider's discovery document has no {name}")
        return url

    def client_fields(self) -> dict:
        return {"client_id": self.config["client_id"], "client_secret": self.config.get("client_secret") or ""}

    def refresh(self, refresh_token: str) -> dict | None:
        """New tokens from ``refresh_token``, or None when the provider refuses it (then log in again)."""
        status, answer = self.http.post_form(
            self.endpoint("token_endpoint"),
            {"grant_type": "refresh_token", "refresh_token": refresh_token, **self.client_fields()},
        )
        if status != 200 or not answer.get("id_token"):
            self.say(f"The refresh token was not accepted ({answer.get('error', f'HTTP {status}')}); logging in again.")
            return None
        # Providers that do not rotate refresh tokens leave it out of the answer: keep the one we have.
        answer.setdefault("refresh_token", refresh_token)
        return answer

    def device_flow(self) -> dict:
        scope = SCOPES + (" " + WLCG_SCOPES if self.config.get("jwt_profile") == "wlcg" else "")
        status, grant = self.http.post_form(
            self.endpoint("device_authorization_endpoint"),
            {"scope": scope, "audience": self.config.get("audience") or "", **self.client_fields()},
        )
        if status != 200 or not grant.get("device_code"):
            raise LoginError(f"the device endpoint refused the request: {describe(grant, status)}")
        url = grant.get("verification_uri_complete") or grant.get("verification_uri")
        code = "" if grant.get("verification_uri_complete") else f" and enter the code {grant.get('user_code')}"
        self.say(f"Please open {url}{code} to log in. Waiting until you have done so...")
        interval = float(grant.get("interval") or DEFAULT_INTERVAL_SECONDS)
        deadline = self.clock() + float(grant.get("expires_in") or 600)
        fields = {"grant_type": DEVICE_GRANT, "device_code": grant["device_code"], **self.client_fields()}
        while True:
            self.sleep(interval)
            status, answer = self.http.post_form(self.endpoint("token_endpoint"), fields)
            if status == 200 and answer.get("id_token"):
                return answer
            error = answer.get("error")
            if status == 200 or error not in ("authorization_pending", "slow_down"):
                raise LoginError(device_error_message(answer, status))
            if error == "slow_down":
                interval += SLOW_DOWN_SECONDS
            if self.clock() + interval > deadline:
                raise LoginError("the device code expired before the login was completed; run the command again")


def describe(answer: dict, status: int) -> str:
    text = answer.get("error", f"HTTP {status}")
    if answer.get("error_description"):
        text += f" ({answer['error_description']})"
    return scrub(text)


def device_error_message(answer: dict, status: int) -> str:
    error = answer.get("error")
    if error == "expired_token":
        return "the device code expired before the login was completed; run the command again"
    if error == "access_denied":
        return "the login was refused at the identity provider (access denied)"
    if status == 200:
        return "the token endpoint answered without an ID token (is the openid scope allowed for this client?)"
    return f"the token endpoint refused the login: {describe(answer, status)}"


def login(
    *,
    vo: str,
    server: str | None = None,
    auth_config: dict | None = None,
    config_root: str | os.PathLike = "~/.panda",
    force: bool = False,
    http: Http | None = None,
    say: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], float] = time.time,
) -> dict:
    """Valid tokens for ``vo``: the cached ones, refreshed ones, or new ones from the device flow.

    ``auth_config`` (the public fields of ``/auth/<vo>_auth_config.json``) saves fetching it from ``server``.
    The answer is also written to ``<config_root>/.token``.
    """
    http = http or Http()
    path = token_path(config_root)
    cached = read_cached_tokens(path)
    if cached and not force and seconds_left(cached, now()) > REUSE_MARGIN_SECONDS:
        return cached
    if auth_config is None:
        if not server:
            raise LoginError("no server given (--server or PANDA_URL_SSL)")
        auth_config = fetch_auth_config(http, server, vo)
    flow = DeviceLogin(http, auth_config, say=say, sleep=sleep, clock=clock)
    tokens = None
    if cached and cached.get("refresh_token"):
        tokens = flow.refresh(cached["refresh_token"])
    if tokens is None:
        tokens = flow.device_flow()
    write_tokens(path, tokens)
    return tokens


def default_server() -> str:
    return os.environ.get("PANDA_URL_SSL") or os.environ.get("PANDA_URL") or ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Log in to PanDA with the OIDC device-code flow.")
    parser.add_argument("--server", default=default_server(), help="PanDA server URL (default: $PANDA_URL_SSL)")
    parser.add_argument(
        "--vo", default=os.environ.get("PANDA_AUTH_VO", ""), help="VO, e.g. atlas (default: $PANDA_AUTH_VO)"
    )
    parser.add_argument(
        "--config-root",
        default=os.environ.get("PANDA_CONFIG_ROOT") or "~/.panda",
        help="directory of the token cache .token (default: $PANDA_CONFIG_ROOT or ~/.panda)",
    )
    parser.add_argument("--print-token", action="store_true", help="print only the ID token on stdout")
    parser.add_argument("--force", action="store_true", help="ignore the cached token and log in again")
    parser.add_argument("--ca-bundle", default=None, help="CA certificates to verify the server and provider with")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per HTTP request (default 30)")
    return parser


def main(argv: list[str] | None = None, *, auth_config: dict | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.vo:
        print("panda_login: --vo is required (or set PANDA_AUTH_VO)", file=sys.stderr)
        return 2

    def say(message: str) -> None:
        print(scrub(message), file=sys.stderr, flush=True)

    try:
        tokens = login(
            vo=args.vo,
            server=args.server,
            auth_config=auth_config,
            config_root=args.config_root,
            force=args.force,
            http=Http(ca_bundle=args.ca_bundle, timeout=args.timeout),
            say=say,
        )
    except LoginError as exc:
        say(f"panda_login: {exc}")
        return 1
    except ssl.SSLError as exc:
        say(f"panda_login: TLS error: {exc}")
        return 1
    if args.print_token:
        print(tokens["id_token"])
    else:
        claims = unverified_claims(tokens["id_token"])
        until = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(claims.get("exp", 0))))
        who = claims.get("preferred_username") or claims.get("sub", "?")
        say(f"Logged in as {who} for {args.vo}; the token is valid until {until} ({token_path(args.config_root)}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
