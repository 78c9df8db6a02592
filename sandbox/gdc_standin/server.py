"""The HTTP side of the stand-in: routing, envelopes, downloads, faults, keep-alive, start/stop."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import io
import json
import random
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sandbox.gdc_standin.bundle import (
    DOC_ENDPOINTS,
    HIT_CACHE_BYTES,
    SEARCH_ENDPOINTS,
    BundleError,
    Release,
    ReleaseStore,
    UnknownReleaseError,
    pause_cyclic_gc,
)
from sandbox.gdc_standin.data_protocol import (
    RangeNotSatisfiable,
    manifest_ids,
    parse_range,
    release_sort_key,
    version_entry,
)
from sandbox.gdc_standin.faults import ERROR_STATUS, ActiveFaults, FaultInjector
from sandbox.gdc_standin.query import (
    JsonDoc,
    QueryError,
    build_projection,
    canonical_json,
    check_facet_filters,
    compile_filter,
    compile_projection,
    field_path,
    filters_without_field,
    pagination,
    parse_filters,
    parse_int_param,
    parse_sort,
    project,
    split_param_list,
    to_tsv,
)

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
__all__ = ["GdcStandIn"]


class HttpError(Exception):
    """An application error answered as JSON `{"message": ...}` with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Response:
    status: int
    content_type: str = "application/json"
    body: bytes | None = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Streamed bodies: `file_length` bytes of a file from `file_offset` (whole file or one Range), or a
    # generator-writer for chunked transfer (tarballs).
    file_path: Path | None = None
    file_length: int = 0
    file_offset: int = 0
    chunked_writer: Callable[[Any], None] | None = None


# One reusable compact encoder; documents from JSON files cannot be circular, so skip that check.
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _dumps(payload: Any) -> str:
    return _ENCODER.encode(payload)


def json_response(payload: Any, status: int = 200, pretty: bool = False) -> Response:
    text = json.dumps(payload, indent=2) if pretty else _dumps(payload)
    return Response(status, "application/json", text.encode("utf-8"))


def error_response(status: int, message: str) -> Response:
    return json_response({"message": message}, status)


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


class _Params:
    """Request parameters from the query string and the body (JSON or form), last value wins."""

    def __init__(self, query: dict[str, list[str]], body: dict[str, Any], raw_body: bytes = b"") -> None:
        self.raw_body = raw_body  # for bodies that are not parameters (a manifest posted to /files/versions/manifest)
        self.values: dict[str, Any] = {k: v[-1] for k, v in query.items()}
        self.multi: dict[str, list[Any]] = {k: list(v) for k, v in query.items()}
        for key, value in body.items():
            self.values[key] = value
            self.multi[key] = value if isinstance(value, list) else [value]

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def has(self, key: str) -> bool:
        return key in self.values

    def text(self, key: str, default: str = "") -> str:
        value = self.values.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


class _App:
    """What answers a request: everything except the socket handling."""

    def __init__(
        self, store: ReleaseStore, faults: FaultInjector, tsv_style: str, cache_hits: bool, head_data: str = "reject"
    ) -> None:
        self.cache_hits = cache_hits
        self.head_data = head_data
        self.store = store
        self.faults = faults
        self.tsv_style = tsv_style

    # -- routing ---------------------------------------------------------------------------------------

    def route(self, method: str, path: str, params: _Params, active: ActiveFaults, headers: Any = None) -> Response:
        """`headers`: the request headers (a `Message`/mapping with `.get`), for Range and If-Range."""
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise HttpError(404, "no endpoint given; try /status, /cases, /files, /projects")
        head = parts[0]
        if method not in ("GET", "POST", "HEAD"):
            raise HttpError(405, f"method {method} not allowed on {path}")
        if method == "HEAD":
            if head == "data" and self.head_data == "reject":
                # GDC_API_FACTS.md 1.7: "`HEAD /data/<uuid>` answers 400 [C: gdcfetch]" (verified live 2026-08);
                # clients probe the size with `Range: bytes=0-0` instead. The body is not sent (HEAD).
                raise HttpError(
                    400, "HEAD is not supported on /data; GET with 'Range: bytes=0-0' gives the size in Content-Range"
                )
            method = "GET"  # otherwise HEAD is GET without the body (RFC 9110 9.3.2); _send drops the body
        if head == "files" and len(parts) >= 2 and parts[1] == "versions":
            return self.file_versions(parts[2:], params)
        if head == "legacy":
            raise HttpError(404, "the legacy archive API was retired in API v4.0.0 (July 2023)")
        if head == "status" and len(parts) == 1:
            return json_response(self.store.release().status, pretty=_is_true(params.get("pretty")))
        if head in SEARCH_ENDPOINTS:
            if len(parts) == 1:
                return self.search(head, params, active)
            if len(parts) == 2 and not parts[1].startswith("_"):
                return self.single(head, parts[1], params)
            raise HttpError(404, f"{path} is not served by the stand-in")
        if head == "data":
            ids = _ids_from(parts[1:], params)
            return self.download(ids, params, method, headers)
        if head == "manifest":
            ids = _ids_from(parts[1:], params)
            release = self.store.release()
            return self.manifest_response(self._file_docs(release, ids))
        raise HttpError(404, f"endpoint {path} not found")

    # -- searches --------------------------------------------------------------------------------------

    def search(self, endpoint: str, params: _Params, active: ActiveFaults) -> Response:
        release = self.store.release()
        filters = parse_filters(params.get("filters"))
        if filters is not None:  # validate (and name the problem) even when a cached result exists
            compile_filter(filters, endpoint)
        sort = parse_sort(params.get("sort"), endpoint)

        if endpoint == "files" and params.text("return_type").lower() == "manifest":
            # size is ignored for manifests: the whole matching set comes back (GenomicDataCommons #105)
            rows = self.store.matching(release, endpoint, filters, sort)
            return self.manifest_response(release.source(endpoint).docs(rows))

        size = parse_int_param("size", params.get("size"), 10)
        offset = parse_int_param("from", params.get("from"), 0)
        output_format = params.text("format", "json").lower()
        if output_format not in ("json", "tsv"):
            raise HttpError(400, f"format {params.text('format')!r} is not supported by the stand-in (JSON, TSV)")
        facet_names = split_param_list(params.get("facets"))
        if facet_names:
            check_facet_filters(filters)

        rows: Sequence[int]
        if active.first("unsorted_paging"):
            # The 2016 known issue: order ignored sort and changed between calls, so paging skipped/duplicated.
            shuffled = list(self.store.matching(release, endpoint, filters, ()))
            random.shuffle(shuffled)
            rows, cacheable = shuffled, False
        else:
            rows, cacheable = self.store.matching(release, endpoint, filters, sort), self.cache_hits
        source = release.source(endpoint)  # after matching: its first pass indexes the file too

        fields = split_param_list(params.get("fields"))
        expand = split_param_list(params.get("expand"))
        projector = compile_projection(build_projection(endpoint, fields, expand))
        id_field = _id_field(endpoint)
        page_rows = rows[offset : offset + size] if size else rows[:0]
        pagination_block = pagination(len(rows), size, offset, len(page_rows))
        pretty = _is_true(params.get("pretty"))

        def hit(doc: JsonDoc) -> JsonDoc:
            projected = projector(doc)
            projected["id"] = doc.get("id") or doc.get(id_field)
            return projected

        if output_format == "tsv":
            return _tsv_response(to_tsv([hit(doc) for doc in source.docs(page_rows)], self.tsv_style), endpoint)

        aggregations: JsonDoc = {}
        for name in facet_names:
            path = field_path(endpoint, name)
            aggregations[name] = self.store.facets(
                release, endpoint, filters_without_field(filters, endpoint, path), path
            )

        if pretty:
            data: JsonDoc = {"hits": [hit(doc) for doc in source.docs(page_rows)], "pagination": pagination_block}
            if facet_names:
                data["aggregations"] = aggregations
            return json_response({"data": data, "warnings": {}}, pretty=True)

        def render(some_rows: Sequence[int]) -> list[bytes]:
            # ASCII (the encoder escapes the rest), so the fragments join into the UTF-8 body as they are.
            with pause_cyclic_gc():
                return [_dumps(hit(doc)).encode("ascii") for doc in source.docs(some_rows)]

        # Compact output: cached serialised hits (hit_cache.py) make re-reading the same pages a join.
        if cacheable:
            query = (endpoint, canonical_json(filters), sort, canonical_json([sorted(fields), sorted(expand)]))
            hits = self.store.hits.page(release.serial, query, rows, offset, len(page_rows), render)
        else:
            hits = b",".join(render(page_rows))
        tail = _dumps(pagination_block)
        if facet_names:
            tail += ',"aggregations":' + _dumps(aggregations)
        body = b'{"data":{"hits":[' + hits + b'],"pagination":' + tail.encode("utf-8") + b'},"warnings":{}}'
        return Response(200, "application/json", body)

    def single(self, endpoint: str, entity_id: str, params: _Params) -> Response:
        release = self.store.release()
        doc = release.source(endpoint).get(entity_id)
        if doc is None:
            raise HttpError(404, f"{endpoint} with id {entity_id} not found")
        projection = build_projection(
            endpoint, split_param_list(params.get("fields")), split_param_list(params.get("expand"))
        )
        hit = project(doc, projection, doc.get("id") or doc.get(_id_field(endpoint)))
        output_format = params.text("format", "json").lower()
        if output_format == "tsv":
            return _tsv_response(to_tsv([hit], self.tsv_style), endpoint)
        if output_format != "json":
            raise HttpError(400, f"format {params.text('format')!r} is not supported by the stand-in (JSON, TSV)")
        return json_response({"data": hit, "warnings": {}}, pretty=_is_true(params.get("pretty")))

    # -- downloads -------------------------------------------------------------------------------------

    def _file_docs(self, release: Release, ids: list[str]) -> list[JsonDoc]:
        if not ids:
            raise HttpError(400, "no file ids given")
        source = release.source("files")
        docs = [source.get(i) for i in ids]
        unknown = [i for i, doc in zip(ids, docs, strict=True) if doc is None]
        if unknown:
            raise HttpError(404, f"file ids not found in release {release.label}: {', '.join(unknown)}")
        return [doc for doc in docs if doc is not None]

    def download(self, ids: list[str], params: _Params, method: str = "GET", headers: Any = None) -> Response:
        release = self.store.release()
        docs = self._file_docs(release, ids)
        for doc in docs:
            if str(doc.get("access", "open")).lower() != "open":
                file_id = doc.get("file_id") or doc.get("id")
                raise HttpError(
                    403, f"You don't have access to this resource: Requested file {file_id} does not allow read access"
                )
        paths = []
        for file_id, doc in zip(ids, docs, strict=True):
            path = release.data_path(file_id)
            if not path.is_file():
                raise HttpError(404, f"file {file_id} has no data in release {release.label}")
            paths.append((file_id, doc, path))
        # GDC_API_FACTS.md 1.7: "`?tarfile` (and `?compress`) return an archive **even for one id**: gdc-client
        # posts every group of small files, groups of one included, and untars the reply". Several ids without
        # either parameter -> tar.gz; `?tarfile` -> plain tar; `?compress` -> tar.gz (wins over `?tarfile`).
        if params.has("compress"):
            archive: str | None = "tar.gz"
        elif params.has("tarfile"):
            archive = "tar"
        else:
            archive = "tar.gz" if len(paths) > 1 else None
        if archive is None:
            file_id, doc, path = paths[0]
            return self._single_file(doc, file_id, path, method, headers)
        return self._archive(paths, plain=archive == "tar")

    def _single_file(self, doc: JsonDoc, file_id: str, path: Path, method: str, headers: Any) -> Response:
        """The stored bytes, whole (200) or one `Range` (206 / 416).

        GDC_API_FACTS.md 1.7: "`GET /data/<uuid>` also sends **`Content-MD5`** (the file's md5, hex) ... and
        honours **`Range: bytes=a-b`** with `206 Partial Content`, `Content-Range: bytes a-b/<total>`".
        Content-MD5 is hex (not RFC 1864 base64): gdc-client compares it with the hexdigest of the file it
        wrote. It is the md5sum of files.jsonl (what the GDC index holds), sent on 200 only: on a 206 it would
        not be the md5 of the body. Range is honoured on GET only (RFC 9110 14.2: ignored for other methods)
        and ignored when `If-Range` is sent (the stand-in sends no validator that could match).
        """
        name = doc.get("file_name") or file_id
        total = path.stat().st_size
        base_headers = {"Content-Disposition": f"attachment; filename={name}", "Accept-Ranges": "bytes"}
        range_header = headers.get("Range") if headers is not None and method == "GET" else None
        if range_header is not None and headers.get("If-Range") is not None:
            range_header = None
        try:
            wanted = parse_range(range_header, total)
        except RangeNotSatisfiable as exc:
            response = error_response(416, str(exc))
            response.headers.update({"Content-Range": f"bytes */{exc.total}", "Accept-Ranges": "bytes"})
            return response
        if wanted is None:
            md5 = doc.get("md5sum")
            if md5:
                base_headers["Content-MD5"] = str(md5)
            return Response(200, "application/octet-stream", None, base_headers, file_path=path, file_length=total)
        base_headers["Content-Range"] = wanted.content_range(total)
        return Response(
            206,
            "application/octet-stream",
            None,
            base_headers,
            file_path=path,
            file_length=wanted.length,
            file_offset=wanted.start,
        )

    def _archive(self, paths: list[tuple[str, JsonDoc, Path]], *, plain: bool) -> Response:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d_%H%M%S.%f")
        suffix = "tar" if plain else "tar.gz"
        manifest = _manifest_text(d for _, d, _ in paths).encode("utf-8")

        def write_tar(sink: Any) -> None:
            # gzip at the default level 6 (tarfile's own "w|gz" stream is fixed at level 9, ~3x slower).
            compressed = None if plain else gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0)
            with contextlib.ExitStack() as stack:
                if compressed is not None:
                    stack.enter_context(compressed)
                archive = stack.enter_context(tarfile.open(fileobj=compressed or sink, mode="w|"))
                now = time.time()
                for file_id, doc, path in paths:
                    info = tarfile.TarInfo(f"{file_id}/{doc.get('file_name') or file_id}")
                    info.size = path.stat().st_size
                    info.mtime = int(now)
                    info.mode = 0o644
                    with path.open("rb") as handle:
                        archive.addfile(info, handle)
                info = tarfile.TarInfo("MANIFEST.txt")
                info.size = len(manifest)
                info.mtime = int(now)
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(manifest))

        return Response(
            200,
            "application/octet-stream",
            None,
            {"Content-Disposition": f"attachment; filename=gdc_download_{stamp}.{suffix}"},
            chunked_writer=write_tar,
        )

    # -- file versions ---------------------------------------------------------------------------------

    def file_versions(self, path_parts: list[str], params: _Params) -> Response:
        """`GET /files/versions/<ids>`, `POST /files/versions` `{"ids": [...]}`, `POST /files/versions/manifest`.

        GDC_API_FACTS.md 1.7: "NCI's gdc-client calls **`POST /files/versions` with `{"ids": [...]}`** before
        every download and stops on a non-200; the answer is the bare list above, one entry per known id
        (`latest_id` = `id` when current)". So: a bare JSON list (trap 1: not enveloped), entries in request
        order, unknown ids (also ids of older bundle releases: bundles link no versions) simply absent.
        """
        if path_parts[:1] == ["manifest"]:
            ids = manifest_ids(params.raw_body.decode("utf-8", errors="replace"))
            path_parts = path_parts[1:]
            ids.extend(_ids_from(path_parts, params) if path_parts else [])
        else:
            if not path_parts and not params.has("ids"):
                raise HttpError(400, 'send {"ids": [<file uuid>, ...]} or GET /files/versions/<id>,<id>')
            ids = _ids_from(path_parts, params)
        release = self.store.release()
        source = release.source("files")
        entries: list[JsonDoc] = []
        seen: set[str] = set()
        for file_id in ids:
            if file_id in seen:
                continue
            seen.add(file_id)
            doc = source.get(file_id)
            if doc is not None:
                entries.append(version_entry(doc, self._releases_carrying(release.label, file_id)))
        output_format = params.text("format", "json").lower()
        if output_format == "tsv":
            return _tsv_response(to_tsv(entries, self.tsv_style), "files_versions")
        if output_format != "json":
            raise HttpError(400, f"format {params.text('format')!r} is not supported by the stand-in (JSON, TSV)")
        return json_response(entries, pretty=_is_true(params.get("pretty")))

    def _releases_carrying(self, served: str, file_id: str) -> list[str]:
        """Bundle releases up to the served one whose data/ holds this file (a UUID's bytes never change)."""
        served_key = release_sort_key(served)
        carrying = [
            label
            for label in self.store.labels()
            if label != served
            and release_sort_key(label) < served_key
            and (self.store.release_directory(label) / "data" / file_id).is_file()
        ]
        return sorted(carrying, key=release_sort_key) + [served]

    def manifest_response(self, docs: Iterable[JsonDoc]) -> Response:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d_%H%M%S")
        return Response(
            200,
            "text/tab-separated-values; charset=utf-8",
            _manifest_text(docs).encode("utf-8"),
            {"Content-Disposition": f"attachment; filename=gdc_manifest.{stamp}.txt"},
        )


def _manifest_text(docs: Iterable[JsonDoc]) -> str:
    lines = ["id\tfilename\tmd5\tsize\tstate"]
    for doc in docs:
        lines.append(
            "\t".join(
                str(v)
                for v in (
                    doc.get("file_id") or doc.get("id"),
                    doc.get("file_name", ""),
                    doc.get("md5sum", ""),
                    doc.get("file_size", ""),
                    doc.get("state", "released"),
                )
            )
        )
    return "\n".join(lines) + "\n"


def _tsv_response(text: str, endpoint: str) -> Response:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    return Response(
        200,
        "text/tab-separated-values; charset=utf-8",
        text.encode("utf-8"),
        {"Content-Disposition": f"attachment; filename={endpoint}.{stamp}.tsv"},
    )


def _id_field(endpoint: str) -> str:
    return "project_id" if endpoint == "projects" else DOC_ENDPOINTS[endpoint][1]


def _is_true(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def _ids_from(path_parts: list[str], params: _Params) -> list[str]:
    raw: list[Any] = []
    if path_parts:
        raw.append("/".join(path_parts))
    raw.extend(params.multi.get("ids", []))
    ids: list[str] = []
    for entry in raw:
        if isinstance(entry, list):
            entries = entry
        else:
            entries = [entry]
        for item in entries:
            if not isinstance(item, str):
                raise HttpError(400, f"ids must be strings, got {item!r}")
            ids.extend(s.strip() for s in item.split(",") if s.strip())
    return ids


# ------------------------------------------------------------------------------------------------------------
# Socket side


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length or is chunked
    server_version = "gdc-standin"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out as separate writes; avoid the 40 ms stall
    timeout = 120  # idle keep-alive connections are closed after this
    server: _Server

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

    def _params(self, query: str, body: bytes) -> _Params:
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
        return _Params(query_values, body_values, body)

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


class _Server(ThreadingHTTPServer):
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


class GdcStandIn:
    """A local GDC REST API serving a release bundle on 127.0.0.1 (see the package README).

    `GdcStandIn(bundle_root, host="127.0.0.1", port=0, tsv_style="dots", missing_parent_quirk=True,
    query_cache_entries=64, cache_hits=True, hit_cache_bytes=384 MiB, head_data="reject", admin=False)`;
    `admin=True` opens the `/_admin/faults` and `/_admin/release` HTTP endpoints (anyone who can reach the port
    could then inject faults or switch releases, so they are off by default; in-process callers use `.faults`
    and `set_release`); `cache_hits=False` re-projects and re-serialises every hit on every request (for
    benchmarks where the first of two timed loops must not warm the second); `hit_cache_bytes` bounds the
    compressed serialised hits kept between requests (hit_cache.py); `head_data="headers"` answers
    `HEAD /data/<id>` with GET's headers instead of the live API's 400;
    `start()` serves in a background thread and returns self; `stop()`; usable as a context manager.
    """

    def __init__(
        self,
        bundle_root: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tsv_style: str = "dots",
        missing_parent_quirk: bool = True,
        query_cache_entries: int = 64,
        cache_hits: bool = True,
        hit_cache_bytes: int = HIT_CACHE_BYTES,
        head_data: str = "reject",
        admin: bool = False,
    ) -> None:
        if tsv_style not in ("dots", "underscores"):
            raise ValueError(f"tsv_style must be 'dots' or 'underscores', got {tsv_style!r}")
        if head_data not in ("reject", "headers"):
            raise ValueError(f"head_data must be 'reject' (the live API: 400) or 'headers', got {head_data!r}")
        self.bundle_root = Path(bundle_root)
        self.admin = admin
        self.host = host
        self.port = port
        self.store = ReleaseStore(
            self.bundle_root,
            query_cache_entries=query_cache_entries,
            missing_parent_quirk=missing_parent_quirk,
            hit_cache_bytes=hit_cache_bytes,
        )
        self.faults = FaultInjector()
        self.request_log: list[tuple[str, str, int]] = []
        self._log_lock = threading.Lock()
        self._app = _App(self.store, self.faults, tsv_style, cache_hits, head_data)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> GdcStandIn:
        if self._httpd is not None:
            return self
        self._httpd = _Server((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"gdc-standin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.stopping.set()  # wakes requests sleeping in a latency fault
        httpd.shutdown()
        httpd.close_all_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GdcStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_release(self, label: str) -> None:
        """Serve `label` from the next request on (as rewriting CURRENT does); a later CURRENT rewrite wins."""
        self.store.set_release(label)

    @property
    def current_release(self) -> str:
        return self.store.current_label()

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (keep-alive clients reuse one)."""
        return self._httpd.connections_accepted if self._httpd is not None else 0

    def _log(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self.request_log.append((method, path, status))
