"""The endpoints of the stand-in (sandbox.gdc_standin.server): what answers a request, everything except the
socket handling — routing, searches with paging, facets and TSV, single entities, data downloads (whole
file, one Range, tar archives), /files/versions and manifests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import io
import random
import tarfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sandbox.gdc_standin.bundle import DOC_ENDPOINTS, SEARCH_ENDPOINTS, Release, ReleaseStore, pause_cyclic_gc
from sandbox.gdc_standin.data_protocol import (
    RangeNotSatisfiable,
    manifest_ids,
    parse_range,
    release_sort_key,
    version_entry,
)
from sandbox.gdc_standin.faults import ActiveFaults, FaultInjector
from sandbox.gdc_standin.filters import (
    JsonDoc,
    canonical_json,
    check_facet_filters,
    compile_filter,
    field_path,
    filters_without_field,
    parse_filters,
)
from sandbox.gdc_standin.http_messages import (
    HttpError,
    Params,
    Response,
    compact_json,
    error_response,
    ids_from,
    is_true,
    json_response,
    tsv_response,
)
from sandbox.gdc_standin.query import (
    build_projection,
    compile_projection,
    pagination,
    parse_int_param,
    parse_sort,
    project,
    split_param_list,
    to_tsv,
)


class App:
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

    def route(self, method: str, path: str, params: Params, active: ActiveFaults, headers: Any = None) -> Response:
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
            return json_response(self.store.release().status, pretty=is_true(params.get("pretty")))
        if head in SEARCH_ENDPOINTS:
            if len(parts) == 1:
                return self.search(head, params, active)
            if len(parts) == 2 and not parts[1].startswith("_"):
                return self.single(head, parts[1], params)
            raise HttpError(404, f"{path} is not served by the stand-in")
        if head == "data":
            ids = ids_from(parts[1:], params)
            return self.download(ids, params, method, headers)
        if head == "manifest":
            ids = ids_from(parts[1:], params)
            release = self.store.release()
            return self.manifest_response(self._file_docs(release, ids))
        raise HttpError(404, f"endpoint {path} not found")

    # -- searches --------------------------------------------------------------------------------------

    def search(self, endpoint: str, params: Params, active: ActiveFaults) -> Response:
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
        pretty = is_true(params.get("pretty"))

        def hit(doc: JsonDoc) -> JsonDoc:
            projected = projector(doc)
            projected["id"] = doc.get("id") or doc.get(id_field)
            return projected

        if output_format == "tsv":
            return tsv_response(to_tsv([hit(doc) for doc in source.docs(page_rows)], self.tsv_style), endpoint)

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
                return [compact_json(hit(doc)).encode("ascii") for doc in source.docs(some_rows)]

        # Compact output: cached serialised hits (hit_cache.py) make re-reading the same pages a join.
        if cacheable:
            query = (endpoint, canonical_json(filters), sort, canonical_json([sorted(fields), sorted(expand)]))
            hits = self.store.hits.page(release.serial, query, rows, offset, len(page_rows), render)
        else:
            hits = b",".join(render(page_rows))
        tail = compact_json(pagination_block)
        if facet_names:
            tail += ',"aggregations":' + compact_json(aggregations)
        body = b'{"data":{"hits":[' + hits + b'],"pagination":' + tail.encode("utf-8") + b'},"warnings":{}}'
        return Response(200, "application/json", body)

    def single(self, endpoint: str, entity_id: str, params: Params) -> Response:
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
            return tsv_response(to_tsv([hit], self.tsv_style), endpoint)
        if output_format != "json":
            raise HttpError(400, f"format {params.text('format')!r} is not supported by the stand-in (JSON, TSV)")
        return json_response({"data": hit, "warnings": {}}, pretty=is_true(params.get("pretty")))

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

    def download(self, ids: list[str], params: Params, method: str = "GET", headers: Any = None) -> Response:
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
            path: Path | bytes = release.data_path(file_id)
            if not path.is_file():
                generated = release.generated_data(file_id)
                if generated is None:
                    raise HttpError(404, f"file {file_id} has no data in release {release.label}")
                path = generated
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

    def _single_file(self, doc: JsonDoc, file_id: str, path: Path | bytes, method: str, headers: Any) -> Response:
        """The stored bytes, whole (200) or one `Range` (206 / 416).

        GDC_API_FACTS.md 1.7: "`GET /data/<uuid>` also sends **`Content-MD5`** (the file's md5, hex) ... and
        honours **`Range: bytes=a-b`** with `206 Partial Content`, `Content-Range: bytes a-b/<total>`".
        Content-MD5 is hex (not RFC 1864 base64): gdc-client compares it with the hexdigest of the file it
        wrote. It is the md5sum of files.jsonl (what the GDC index holds), sent on 200 only: on a 206 it would
        not be the md5 of the body. Range is honoured on GET only (RFC 9110 14.2: ignored for other methods)
        and ignored when `If-Range` is sent (the stand-in sends no validator that could match).
        """
        name = doc.get("file_name") or file_id
        total = len(path) if isinstance(path, bytes) else path.stat().st_size
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
            if isinstance(path, bytes):  # generated on request
                return Response(200, "application/octet-stream", path, base_headers)
            return Response(200, "application/octet-stream", None, base_headers, file_path=path, file_length=total)
        base_headers["Content-Range"] = wanted.content_range(total)
        if isinstance(path, bytes):
            return Response(206, "application/octet-stream", path[wanted.start : wanted.end + 1], base_headers)
        return Response(
            206,
            "application/octet-stream",
            None,
            base_headers,
            file_path=path,
            file_length=wanted.length,
            file_offset=wanted.start,
        )

    def _archive(self, paths: list[tuple[str, JsonDoc, Path | bytes]], *, plain: bool) -> Response:
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
                    info.mtime = int(now)
                    info.mode = 0o644
                    if isinstance(path, bytes):  # generated on request
                        info.size = len(path)
                        archive.addfile(info, io.BytesIO(path))
                        continue
                    info.size = path.stat().st_size
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

    def file_versions(self, path_parts: list[str], params: Params) -> Response:
        """`GET /files/versions/<ids>`, `POST /files/versions` `{"ids": [...]}`, `POST /files/versions/manifest`.

        GDC_API_FACTS.md 1.7: "NCI's gdc-client calls **`POST /files/versions` with `{"ids": [...]}`** before
        every download and stops on a non-200; the answer is the bare list above, one entry per known id
        (`latest_id` = `id` when current)". So: a bare JSON list (trap 1: not enveloped), entries in request
        order, unknown ids (also ids of older bundle releases: bundles link no versions) simply absent.
        """
        if path_parts[:1] == ["manifest"]:
            ids = manifest_ids(params.raw_body.decode("utf-8", errors="replace"))
            path_parts = path_parts[1:]
            ids.extend(ids_from(path_parts, params) if path_parts else [])
        else:
            if not path_parts and not params.has("ids"):
                raise HttpError(400, 'send {"ids": [<file uuid>, ...]} or GET /files/versions/<id>,<id>')
            ids = ids_from(path_parts, params)
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
            return tsv_response(to_tsv(entries, self.tsv_style), "files_versions")
        if output_format != "json":
            raise HttpError(400, f"format {params.text('format')!r} is not supported by the stand-in (JSON, TSV)")
        return json_response(entries, pretty=is_true(params.get("pretty")))

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


def _id_field(endpoint: str) -> str:
    return "project_id" if endpoint == "projects" else DOC_ENDPOINTS[endpoint][1]
