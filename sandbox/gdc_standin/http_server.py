"""The socket side of the stand-in (sandbox.gdc_standin.server): a threading HTTP/1.1 server with keep-alive,
request parsing, the injected faults (latency, dropped connections, error statuses, truncated bodies), the
`/_admin` endpoints, and writing a `Response` — whole, streamed from a file, or chunked.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.gdc_standin.bundle import BundleError, UnknownReleaseError
from sandbox.gdc_standin.faults import ERROR_STATUS, ActiveFaults
from sandbox.gdc_standin.filters import QueryError
from sandbox.gdc_standin.http_messages import HttpError, Params, Response, error_response, json_response

if TYPE_CHECKING:  # the server's owner; imported for the annotation only (server.py imports this module)
    from sandbox.gdc_standin.server import GdcStandIn

CHUNK_BYTES = 256 * 1024
TEXT_BODY_TYPES = ("text/tsv", "text/tab-separated-values", "text/plain")
NGINX_504_HTML = (
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    "<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
ERROR_MESSAGES = {
    429: "Too Many Requests",
    500: "Internal server error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class _ChunkedWriter:
    """File-like sink that frames writes as HTTP/1.1 chunks, so a tarball streams without Content-Length."""

    def __init__(self, wfile: Any) -> None:
        self._wfile = wfile
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            self._flush()
        return len(data)

    def _flush(self) -> None:
        if self._buffer:
            self._wfile.write(b"%x\r\n%s\r\n" % (len(self._buffer), bytes(self._buffer)))
            self._buffer.clear()

    def close(self) -> None:
        self._flush()
        self._wfile.write(b"0\r\n\r\n")


# ------------------------------------------------------------------------------------------------------------
# Socket side


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length or is chunked
    server_version = "gdc-standin"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out as separate writes; avoid the 40 ms stall
    timeout = 120  # idle keep-alive connections are closed after this
    server: StandInHttpServer

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # the request log is `GdcStandIn.request_log`; stderr stays quiet

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # -- request parsing -------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            return self.rfile.read(int(length))
        except ValueError:
            raise HttpError(400, f"bad Content-Length {length!r}") from None

    def _params(self, query: str, body: bytes) -> Params:
        query_values = parse_qs(query, keep_blank_values=True)
        body_values: dict[str, Any] = {}
        if body.strip():
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type in TEXT_BODY_TYPES:
                pass  # a posted manifest (/files/versions/manifest): kept raw, not parameters
            elif content_type == "application/x-www-form-urlencoded":
                form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
                body_values = {k: (v if k == "ids" else v[-1]) for k, v in form.items()}
            else:
                try:
                    parsed = json.loads(body)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise HttpError(400, f"request body is not valid JSON: {exc}") from None
                if not isinstance(parsed, dict):
                    raise HttpError(400, "request body must be a JSON object")
                body_values = parsed
        return Params(query_values, body_values, body)

    # -- dispatch --------------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path)
        route_path = path[3:] if path == "/v0" or path.startswith("/v0/") else path
        # Logged (and a release switch applied) just before the first byte goes out, so a client that
        # has its answer can rely on request_log and on the switch having happened.
        self._pending: tuple[str, str, ActiveFaults] | None = (method, path, ActiveFaults())
        self._head_only = method == "HEAD"  # headers as for GET, no body (RFC 9110 9.3.2)
        try:
            body = self._read_body()
        except HttpError as exc:
            self._send(error_response(exc.status, exc.message))
            return
        if route_path.startswith("/_admin"):
            if not self.server.standin.admin:  # off unless asked for: answered as the live API would (unknown path)
                self._send(error_response(404, f"{route_path} not found"))
                return
            self._send(self._admin(method, route_path, body))
            return
        active = self.server.standin.faults.for_request(route_path)
        self._pending = (method, path, active)
        try:
            self._answer_with_faults(method, route_path, split.query, body, active)
        finally:
            self._before_write(0)  # no-op unless nothing was written (dropped, or an unexpected error)

    def _before_write(self, status: int) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        method, path, active = pending
        self.server.standin._log(method, path, status)
        switch = active.first("release_switch")
        if switch is not None:  # the answer is computed from the old release; the next request sees the new
            self.server.standin.set_release(switch.params["to_release"])

    def _answer_with_faults(self, method: str, path: str, query: str, body: bytes, active: ActiveFaults) -> int:
        if active.first("drop_connection"):
            self._before_write(0)
            self._abort_connection()
            return 0
        latency = active.first("latency")
        if latency is not None:
            self.server.stopping.wait(float(latency.params["seconds"]))
        error_fault = active.first(*ERROR_STATUS)
        if error_fault is not None:
            return self._send(_fault_response(error_fault.kind, error_fault.params))
        try:
            response = self.server.app.route(method, path, self._params(query, body), active, self.headers)
        except HttpError as exc:
            response = error_response(exc.status, exc.message)
        except QueryError as exc:
            response = error_response(400, str(exc))
        except UnknownReleaseError as exc:
            response = error_response(500, str(exc))
        except BundleError as exc:
            response = error_response(500, f"bundle error: {exc}")
        if active.first("truncated_json") and response.body is not None and not self._head_only:
            return self._send_truncated(response)
        return self._send(response)

    def _admin(self, method: str, path: str, body: bytes) -> Response:
        standin = self.server.standin
        try:
            payload = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError as exc:
            return error_response(400, f"admin body is not valid JSON: {exc}")
        if not isinstance(payload, dict):
            return error_response(400, "admin body must be a JSON object")
        if path.rstrip("/") == "/_admin/faults":
            if method == "DELETE":
                standin.faults.clear()
                return json_response({"cleared": True})
            if method == "GET":
                return json_response({"faults": standin.faults.list()})
            if method == "POST":
                params = dict(payload.get("params") or {})
                params.update(
                    {k: v for k, v in payload.items() if k not in ("kind", "endpoint", "times", "after", "params")}
                )
                try:
                    fault = standin.faults.inject(
                        payload.get("kind", ""),
                        payload.get("endpoint"),
                        payload.get("times", 1),
                        payload.get("after", 0),
                        **params,
                    )
                except (TypeError, ValueError) as exc:
                    return error_response(400, str(exc))
                return json_response({"injected": fault.describe()})
        if path.rstrip("/") == "/_admin/release":
            if method == "GET":
                return json_response({"release": standin.store.current_label(), "releases": standin.store.labels()})
            if method == "POST":
                label = payload.get("release")
                if not isinstance(label, str):
                    return error_response(400, 'admin release body must be {"release": "<label>"}')
                try:
                    standin.set_release(label)
                except UnknownReleaseError as exc:
                    return error_response(404, str(exc))
                return json_response({"release": label})
        return error_response(404, f"admin endpoint {method} {path} not found")

    # -- writing ---------------------------------------------------------------------------------------

    def _start(self, response: Response, length: int | None) -> None:
        self._before_write(response.status)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _send(self, response: Response) -> int:
        try:
            if getattr(self, "_head_only", False):
                # HEAD: the headers GET would send (Content-Length included), no body; a tarball's length is
                # unknown before it is written, so it gets neither Content-Length nor Transfer-Encoding.
                if response.file_path is not None:
                    length: int | None = response.file_length
                elif response.chunked_writer is not None:
                    length = None
                else:
                    length = len(response.body or b"")
                self._start(response, length)
            elif response.file_path is not None:
                self._start(response, response.file_length)
                with response.file_path.open("rb") as handle:  # stream: never the whole file in memory
                    handle.seek(response.file_offset)
                    remaining = response.file_length
                    while remaining > 0 and (chunk := handle.read(min(CHUNK_BYTES, remaining))):
                        self.wfile.write(chunk)
                        remaining -= len(chunk)
            elif response.chunked_writer is not None:
                if self.request_version == "HTTP/1.0":
                    self.close_connection = True
                    self._start(response, None)
                    response.chunked_writer(self.wfile)
                else:
                    response.headers["Transfer-Encoding"] = "chunked"
                    self._start(response, None)
                    sink = _ChunkedWriter(self.wfile)
                    response.chunked_writer(sink)
                    sink.close()
            else:
                body = response.body or b""
                self._start(response, len(body))
                self.wfile.write(body)
        except OSError:  # BrokenPipe, reset, timeout, or closed by stop()
            self.close_connection = True  # the client gave up (e.g. its timeout after a latency fault)
        return response.status

    def _send_truncated(self, response: Response) -> int:
        body = response.body or b""
        try:
            self._start(response, len(body))
            self.wfile.write(body[: len(body) // 2])
        except OSError:
            pass
        self._abort_connection()
        return response.status

    def _abort_connection(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _fault_response(kind: str, params: dict[str, Any]) -> Response:
    status = ERROR_STATUS[kind]
    if kind == "http_504_html":
        return Response(504, "text/html", NGINX_504_HTML.encode("utf-8"))
    response = error_response(status, str(params.get("message") or ERROR_MESSAGES[status]))
    retry_after = params.get("retry_after")
    if kind == "http_429" and retry_after is not None:
        value = float(retry_after)
        response.headers["Retry-After"] = str(int(value)) if value.is_integer() else str(value)
    return response


class StandInHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], standin: GdcStandIn) -> None:
        self.standin = standin
        self.app = standin._app
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.connections_accepted = 0
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
            self.connections_accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        """Keep-alive handler threads would otherwise keep answering after stop()."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
