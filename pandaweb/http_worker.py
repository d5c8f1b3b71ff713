"""A gunicorn worker for PanDA's HTTP APIs: gunicorn's sync model with a C parser and one write per answer.

Pilots open a new TCP connection for every call (pilot 3.11 uses urllib), so what a worker spends on each
connection besides the application is paid on every heartbeat. gunicorn's own sync worker spends
~140 µs of Python per connection on a 2-core EPYC (its request parser, the environ, per-request
configuration lookups and IP parsing, headers and body as two writes); this worker keeps everything
that makes gunicorn the production server - the arbiter, configuration, signals, graceful reloads,
worker timeouts, ``max_requests``, hooks and logs - and replaces the handling of one connection and
the wait for the next:

* the request is parsed by llhttp (``httptools``, Node.js's parser) with gunicorn's limits
  (``limit_request_line``, ``limit_request_fields``, ``limit_request_field_size``), header
  names containing ``_`` dropped as gunicorn's ``header_map = "drop"`` does, ``Expect: 100-continue``
  answered, chunked bodies decoded;
* the body is read whole before the application is called (in memory up to 1 MiB, then spooled to a
  temporary file; ``max_body`` refuses larger ones with 413), so ``CONTENT_LENGTH`` is always set,
  also for chunked requests;
* the answer's head and a body of up to 64 kB leave in one ``sendall``; longer or streamed bodies
  follow in blocks, files through ``socket.sendfile``; the connection always closes
  (``Connection: close``, as gunicorn's sync worker does), at once after a request read to its end,
  with gunicorn's ``close_graceful`` (lingering) only when the client may still be sending;
* idle workers wait with ``EPOLLEXCLUSIVE``, so a new connection wakes one of them, not all.

Use: ``gunicorn --worker-class pandaweb.http_worker.ApiWorker pandaweb.wsgi``.
"""

import io
import os
import re
import select
import socket
import tempfile
import time
from datetime import timedelta
from email.utils import formatdate
from http import HTTPStatus
from ipaddress import ip_address
from urllib.parse import unquote_to_bytes

import httptools
from gunicorn import util
from gunicorn.http.wsgi import FileWrapper, WSGIErrorsWrapper
from gunicorn.workers.sync import SyncWorker

RECV_SIZE = 65536
SPOOL_SIZE = 1 << 20  # bodies above this go to a temporary file
ONE_WRITE = 65536  # head and body in one sendall up to this many body bytes
MAX_HEAD = 65536 + 4096  # request line + header fields, whatever the per-field limits allow
DEFAULT_MAX_BODY = 1 << 30  # PANDA_HTTP_MAX_BODY overrides


class HttpError(Exception):
    """A request refused before the application sees it; answered with ``status`` and closed."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Message:
    """httptools' callbacks for one request; everything after the first message is ignored."""

    __slots__ = ("url", "headers", "body", "body_size", "headers_done", "complete", "limits", "spool")

    def __init__(self, limits: tuple[int, int, int, int]):
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.body_size = 0
        self.headers_done = False
        self.complete = False
        self.limits = limits
        self.spool = None

    def on_url(self, url: bytes) -> None:
        if self.headers_done:
            return
        self.url += url
        if len(self.url) > self.limits[0]:
            raise HttpError(414, f"request line longer than {self.limits[0]} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.headers_done:
            return
        _line_limit, fields, field_size, _max_body = self.limits
        if len(self.headers) >= fields:
            raise HttpError(431, f"more than {fields} header fields")
        if len(name) + len(value) + 2 > field_size:
            raise HttpError(431, f"header field {name[:64].decode('latin-1')!r} longer than {field_size} bytes")
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.body_size += len(body)
        if self.body_size > self.limits[3]:
            raise HttpError(413, f"request body larger than {self.limits[3]} bytes")
        if self.spool is not None:
            self.spool.write(body)
        elif self.body_size > SPOOL_SIZE:
            self.spool = tempfile.TemporaryFile()  # noqa: SIM115  (closed by ApiWorker.serve)
            self.spool.writelines(self.body)
            self.spool.write(body)
            self.body = []
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    def input(self):
        if self.spool is not None:
            self.spool.seek(0)
            return self.spool
        return io.BytesIO(b"".join(self.body))


class _Answer:
    """The answer's status and headers as the application set them; ``sent`` counts body bytes (for logs)."""

    __slots__ = ("status", "headers", "length", "sent", "headers_sent")

    def __init__(self):
        self.status = None
        self.headers: list[tuple[str, str]] = []
        self.length = None
        self.sent = 0
        self.headers_sent = False


class _RequestInfo:
    """What gunicorn's hooks and access log read of a request (headers as gunicorn gives them, on demand)."""

    __slots__ = ("method", "path", "uri", "query", "version", "raw_headers")

    def __init__(self, method, path, uri, query, version, raw_headers):
        self.method, self.path, self.uri, self.query, self.version = method, path, uri, query, version
        self.raw_headers = raw_headers

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(n.decode("latin-1").upper(), v.decode("latin-1")) for n, v in self.raw_headers]


_BODYLESS = frozenset({204, 304})
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"})
_date_cache = [0, ""]
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\r\n\0]")


def http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0], _date_cache[1] = now, formatdate(now, usegmt=True)
    return _date_cache[1]


def max_body_setting() -> int:
    value = os.environ.get("PANDA_HTTP_MAX_BODY", str(DEFAULT_MAX_BODY))
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise SystemExit(f"PANDA_HTTP_MAX_BODY must be a positive number of bytes, not {value!r}")
    return limit


def error_answer(status: int, reason: str) -> bytes:
    phrase = HTTPStatus(status).phrase
    body = f"{phrase}\n{reason}\n".encode()
    return (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
        f"Date: {http_date()}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body


def _check_header(name: str, value: str) -> None:
    """Refuse what would split the answer: a header name that is not a token, a value with CR, LF or NUL."""
    if _TOKEN.fullmatch(name) is None or _BAD_VALUE.search(value) is not None:
        raise ValueError(f"invalid response header {name!r}")


class ApiWorker(SyncWorker):
    """gunicorn's sync worker with its own handling of one connection (see the module's docstring)."""

    def init_process(self):
        cfg = self.cfg
        self.limits = (
            cfg.limit_request_line or 1 << 20,
            cfg.limit_request_fields or 32768,
            cfg.limit_request_field_size or 1 << 20,
            max_body_setting(),
        )
        self.read_timeout = max(float(cfg.timeout or 30) / 2, 1.0)
        self.base_environ = {
            "wsgi.errors": WSGIErrorsWrapper(cfg),
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": cfg.workers > 1,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
            "SCRIPT_NAME": os.environ.get("SCRIPT_NAME", ""),
            "SERVER_SOFTWARE": "gunicorn",
        }
        self.scheme_headers = {
            name.upper().replace("-", "_").encode("latin-1"): value
            for name, value in (cfg.secure_scheme_headers or {}).items()
        }
        allowed = list(cfg.forwarded_allow_ips or [])
        self.forwarders_all = "*" in allowed
        self.forwarders = {a for a in allowed if a != "*" and "/" not in a}
        self.forwarder_networks = cfg.forwarded_allow_networks() if hasattr(cfg, "forwarded_allow_networks") else []
        self.hooks = cfg.pre_request, cfg.post_request
        self.access_log = (
            self.log.access_log_enabled if hasattr(self.log, "access_log_enabled") else bool(cfg.accesslog)
        )
        self.server_names: dict = {}
        super().init_process()

    # --- waiting for connections ---------------------------------------------------------------

    def run(self):
        self.poller = None
        if hasattr(select, "epoll") and hasattr(select, "EPOLLEXCLUSIVE"):
            self.poller = select.epoll()
            for listener in self.sockets:
                self.poller.register(listener.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)
            self.poller.register(self.PIPE[0], select.EPOLLIN)
            self.listeners = {listener.fileno(): listener for listener in self.sockets}
        super().run()

    def wait(self, timeout):
        """Wait for a connection, waking one idle worker per connection, not all of them.

        gunicorn's sync workers all ``select()`` on the shared listening socket, so every new
        connection wakes every idle worker and all but one lose the race to ``accept`` - CPU spent
        per connection, growing with the number of workers. An ``EPOLLEXCLUSIVE`` registration
        makes the kernel wake one of them (Linux 4.5+; elsewhere gunicorn's ``select``).
        """
        if self.poller is None:
            return super().wait(timeout)
        self.notify()
        ready = []
        for fd, _events in self.poller.poll(timeout):
            if fd == self.PIPE[0]:
                os.read(fd, 1)
                ready.append(fd)
            else:
                ready.append(self.listeners[fd])
        return ready

    # --- one connection ------------------------------------------------------------------------

    def handle(self, listener, client, addr):
        read_whole = False
        try:
            read_whole = self.serve(listener, client, addr)
        except HttpError as exc:
            self.send_quietly(client, error_answer(exc.status, exc.reason))
        except (httptools.HttpParserError, httptools.HttpParserInvalidMethodError) as exc:
            self.send_quietly(client, error_answer(400, str(exc) or "malformed request"))
        except TimeoutError:
            self.log.debug("client %s too slow, closing", addr)
            read_whole = True  # nothing was answered: no answer to protect by lingering
        except OSError as exc:
            self.log.debug("connection error with %s: %s", addr, exc)
        except Exception:
            self.log.exception("Error handling request")
        finally:
            self.close(client, read_whole)

    @staticmethod
    def close(client, read_whole: bool) -> None:
        """Close as nginx does by default: linger only when the client may still be sending.

        After a request read to its end with nothing behind it, the receive buffer is empty, so
        closing sends a FIN after the answer (no RST that could cut the answer short) and the
        worker need not wait for the client to read the answer and close first, as
        ``util.close_graceful`` does: on a busy 2-core server that wait is a context switch and
        a scheduling delay of the client per call. A request refused part-way (its body may still
        be on the way) or bytes behind the request (pipelining) get gunicorn's lingering close.
        """
        if read_whole:
            try:
                client.setblocking(False)  # a socket with a timeout would wait for that long
                behind = client.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                behind = b""  # nothing waiting: the client sent its request and is reading the answer
            except OSError:
                behind = b""  # the connection is gone already
            if not behind:
                client.close()
                return
        util.close_graceful(client)

    def send_quietly(self, client, data: bytes) -> None:
        try:
            client.sendall(data)
        except OSError:
            pass

    def read_message(self, client) -> tuple[_Message, httptools.HttpRequestParser] | None:
        message = _Message(self.limits)
        parser = httptools.HttpRequestParser(message)
        client.settimeout(self.read_timeout)
        received = 0
        head_checked = False
        while not message.complete:
            data = client.recv(RECV_SIZE)
            if not data:
                if received == 0:
                    return None  # connected and left: nothing to answer
                raise HttpError(400, "connection closed before the request was complete")
            received += len(data)
            self.feed(parser, message, data)
            if not message.headers_done:
                if received > MAX_HEAD:
                    raise HttpError(431, f"request head larger than {MAX_HEAD} bytes")
            elif not head_checked:
                head_checked = True
                version = parser.get_http_version()
                if version not in ("1.0", "1.1"):
                    raise HttpError(400, f"HTTP/{version} is not served")
                if self.expects_continue(message.headers) and version == "1.1" and not message.complete:
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        return message, parser

    @staticmethod
    def feed(parser, message: _Message, data: bytes) -> None:
        try:
            parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HttpError):
                raise exc.__context__ from None  # a limit of ours, raised in a callback
            raise
        except httptools.HttpParserUpgrade:
            # No upgrades here: a request that asks for one is served as a plain request.
            if not message.headers_done:
                raise HttpError(400, "malformed upgrade request") from None
            message.complete = True

    @staticmethod
    def expects_continue(headers) -> bool:
        """Whether the client waits for ``100 Continue``; an expectation other than that is refused (417)."""
        for name, value in headers:
            if len(name) == 6 and name.lower() == b"expect":
                if value.strip().lower() != b"100-continue":
                    raise HttpError(417, "only Expect: 100-continue is understood")
                return True
        return False

    def serve(self, listener, client, addr) -> bool:
        """Read one request whole, answer it; True once the request was read to its end."""
        read = self.read_message(client)
        if read is None:
            return True
        message, parser = read
        environ = self.environ(listener, client, addr, message, parser)
        request = _RequestInfo(
            environ["REQUEST_METHOD"],
            environ["PATH_INFO"],
            environ["RAW_URI"],
            environ["QUERY_STRING"],
            (1, 0) if environ["SERVER_PROTOCOL"] == "HTTP/1.0" else (1, 1),
            message.headers,
        )
        answer = _Answer()
        self.hooks[0](self, request)
        started = time.monotonic()
        self.nr += 1
        if self.nr >= self.max_requests:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
        try:
            self.respond(client, environ, answer)
        finally:
            if self.access_log:
                self.log.access(answer, request, environ, timedelta(seconds=time.monotonic() - started))
            try:
                self.hooks[1](self, request, environ, answer)
            except Exception:
                self.log.exception("Exception in post_request hook")
            if message.spool is not None:
                message.spool.close()
        return True

    def environ(self, listener, client, addr, message: _Message, parser) -> dict:
        environ = self.base_environ.copy()
        url = message.url
        if url[:1] != b"/":
            if url == b"*":
                path, query = b"*", b""
            else:
                parsed = httptools.parse_url(url)
                path, query = parsed.path or b"/", parsed.query or b""
        else:
            path, _, query = url.partition(b"?")
            query = query.partition(b"#")[0]
            path = path.partition(b"#")[0]
        version = parser.get_http_version()
        environ["REQUEST_METHOD"] = parser.get_method().decode("latin-1")
        environ["SERVER_PROTOCOL"] = "HTTP/1.0" if version == "1.0" else "HTTP/1.1"
        environ["RAW_URI"] = url.decode("latin-1")
        environ["QUERY_STRING"] = query.decode("latin-1")
        raw_path = unquote_to_bytes(path) if b"%" in path else path
        environ["PATH_INFO"] = raw_path.decode("latin-1")
        script_name = environ["SCRIPT_NAME"]
        if script_name:
            if not environ["PATH_INFO"].startswith(script_name):
                raise HttpError(404, f"request path does not start with SCRIPT_NAME {script_name!r}")
            environ["PATH_INFO"] = environ["PATH_INFO"][len(script_name) :]
        environ["wsgi.input"] = message.input()
        environ["gunicorn.socket"] = client

        trusted = None
        scheme = "http"
        scheme_seen = None
        for name, value in message.headers:
            key = name.upper()
            if b"_" in key:
                continue  # gunicorn's header_map = "drop": X_Forwarded_For must not pass as X-Forwarded-For
            key = key.replace(b"-", b"_")
            if key in self.scheme_headers:
                if trusted is None:
                    trusted = self.trusted_forwarder(addr)
                if trusted:
                    secure = value.decode("latin-1").strip() == self.scheme_headers[key]
                    if scheme_seen is not None and scheme_seen != secure:
                        raise HttpError(400, "contradictory scheme headers")
                    scheme_seen = secure
                    scheme = "https" if secure else "http"
            text = value.decode("latin-1").strip(" \t")
            if key == b"CONTENT_LENGTH":
                environ["CONTENT_LENGTH"] = text
                continue
            if key == b"CONTENT_TYPE":
                environ["CONTENT_TYPE"] = text
                continue
            wsgi_key = "HTTP_" + key.decode("latin-1")
            previous = environ.get(wsgi_key)
            environ[wsgi_key] = text if previous is None else f"{previous},{text}"
        environ["wsgi.url_scheme"] = scheme
        if message.body_size and "CONTENT_LENGTH" not in environ:
            environ["CONTENT_LENGTH"] = str(message.body_size)  # a chunked body, read whole: its size is known

        if isinstance(addr, tuple):
            environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
        else:
            environ["REMOTE_ADDR"] = addr.decode() if isinstance(addr, bytes) else (addr or "")
        server = self.server_names.get(listener)
        if server is None:
            name = listener.getsockname()
            server = self.server_names[listener] = (str(name[0]), str(name[1])) if isinstance(name, tuple) else None
        if server is None:  # a unix socket: the Host header names the server
            host, _, port = environ.get("HTTP_HOST", "").partition(":")
            server = (host, port or ("443" if scheme == "https" else "80"))
        environ["SERVER_NAME"], environ["SERVER_PORT"] = server
        return environ

    def trusted_forwarder(self, addr) -> bool:
        if not isinstance(addr, tuple) or self.forwarders_all or addr[0] in self.forwarders:
            return True
        if not self.forwarder_networks:
            return False
        try:
            peer = ip_address(addr[0])
        except ValueError:
            return False
        return any(peer in network for network in self.forwarder_networks)

    # --- the answer ----------------------------------------------------------------------------

    def respond(self, client, environ: dict, answer: _Answer) -> None:
        def start_response(status, headers, exc_info=None):
            if exc_info:
                try:
                    if answer.headers_sent:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif answer.status is not None:
                raise AssertionError("start_response called twice without exc_info")
            code = int(status.split(None, 1)[0])
            if not 100 <= code <= 999:
                raise ValueError(f"invalid status {status!r}")
            kept = []
            length = None
            for name, value in headers:
                _check_header(name, value)
                lower = name.lower()
                if lower in _HOP_BY_HOP:
                    continue
                if lower == "content-length":
                    length = int(value)
                kept.append((name, value))
            answer.status, answer.headers, answer.length = status, kept, length
            return write

        def write(data: bytes) -> None:
            if not answer.headers_sent:
                self.send(client, answer, environ, data, complete=False)
            elif data:
                self.send_body(client, answer, environ, data)

        result = None
        try:
            result = self.wsgi(environ, start_response)
            if isinstance(result, FileWrapper) and not answer.headers_sent:
                self.send_file(client, answer, environ, result)
                return
            pending: list[bytes] = []
            size = 0
            for block in result:
                if answer.headers_sent:
                    if block:
                        self.send_body(client, answer, environ, block)
                    continue
                if block:
                    pending.append(block)
                    size += len(block)
                if size > ONE_WRITE:
                    self.send(client, answer, environ, b"".join(pending), complete=False)
                    pending, size = [], 0
            if not answer.headers_sent:
                if answer.status is None:
                    raise RuntimeError("the application returned without calling start_response")
                self.send(client, answer, environ, b"".join(pending), complete=True)
            elif pending:
                self.send_body(client, answer, environ, b"".join(pending))
        except Exception:
            if answer.headers_sent:
                raise
            self.log.exception("Error handling request %s", environ.get("RAW_URI"))
            answer.status, answer.headers = "500 Internal Server Error", []
            client.sendall(error_answer(500, "the server could not answer this request"))
            answer.headers_sent = True
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def head(self, answer: _Answer, environ: dict, body_size: int | None) -> bytes:
        lines = [f"HTTP/1.1 {answer.status}\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in answer.headers)
        if answer.length is None and body_size is not None and self.has_body(answer, environ):
            lines.append(f"Content-Length: {body_size}\r\n")
        lines.append(f"Date: {http_date()}\r\nConnection: close\r\n\r\n")
        return "".join(lines).encode("latin-1")

    @staticmethod
    def has_body(answer: _Answer, environ: dict) -> bool:
        code = int(answer.status[:3])
        return environ["REQUEST_METHOD"] != "HEAD" and code >= 200 and code not in _BODYLESS

    def body_part(self, answer: _Answer, environ: dict, data: bytes) -> bytes:
        if not self.has_body(answer, environ):
            return b""
        if answer.length is not None:
            data = data[: max(answer.length - answer.sent, 0)]
        answer.sent += len(data)
        return data

    def send(self, client, answer: _Answer, environ: dict, data: bytes, complete: bool) -> None:
        head = self.head(answer, environ, len(data) if complete else None)
        answer.headers_sent = True
        client.sendall(head + self.body_part(answer, environ, data))

    def send_body(self, client, answer: _Answer, environ: dict, data: bytes) -> None:
        data = self.body_part(answer, environ, data)
        if data:
            client.sendall(data)

    def send_file(self, client, answer: _Answer, environ: dict, wrapper: FileWrapper) -> None:
        client.sendall(self.head(answer, environ, None))
        answer.headers_sent = True
        if not self.has_body(answer, environ):
            return
        filelike = wrapper.filelike
        try:
            fileno = filelike.fileno()
        except (AttributeError, io.UnsupportedOperation):
            fileno = None
        if fileno is not None:
            offset = filelike.tell() if hasattr(filelike, "tell") else 0
            count = None if answer.length is None else answer.length
            client.settimeout(None)
            with os.fdopen(os.dup(fileno), "rb") as file:
                answer.sent += client.sendfile(file, offset, count)
            return
        for block in wrapper:
            self.send_body(client, answer, environ, block)


__all__ = ["ApiWorker", "HttpError", "http_date"]
