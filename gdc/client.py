"""HTTP client for the NCI GDC REST API (live, or the local stand-in serving a bundle).

A plain class, no Dagster: `assets/resources.py` wraps it in a ConfigurableResource.

Retries of HTTP statuses (429/500/502/503/504) and of connection/read errors are done by urllib3's `Retry`
mounted on the session (exponential backoff with jitter, Retry-After honoured). The one application-level
retry is the re-request of a response whose status was fine but whose *body* was not (truncated JSON,
connection dropped mid-body): urllib3 has already handed the response over by then and cannot retry it.
Those re-requests reuse the same `Retry` object for their backoff, so both layers back off alike.

Searches page with a caller-supplied stable sort, check every envelope, track ids across pages and the
data release before and after, so a result is exactly one release's complete, duplicate-free set or an
exception says why not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from gdc.errors import (
    GdcConsistencyError,
    GdcEnvelopeError,
    GdcError,
    GdcHttpError,
    GdcIntegrityError,
    GdcReleaseChangedError,
)
from gdc.responses import (
    ArchiveFile,
    ClientStats,
    DownloadResult,
    GdcStatus,
    HitSink,
    SearchPage,
    SearchResult,
    excerpt,
    parse_status,
    validate_search_envelope,
)

__all__ = [
    "LIVE_GDC_BASE_URL",
    "RETRY_STATUS_CODES",
    "ClientStats",
    "DownloadResult",
    "GdcClient",
    "GdcConsistencyError",
    "GdcEnvelopeError",
    "GdcError",
    "GdcHttpError",
    "GdcIntegrityError",
    "GdcReleaseChangedError",
    "GdcStatus",
    "SearchPage",
    "SearchResult",
    "parse_status",
    "validate_search_envelope",
]

LIVE_GDC_BASE_URL = "https://api.gdc.cancer.gov"
RETRY_STATUS_CODES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
# GDC searches are idempotent reads sent as POST (big filters do not fit a URL); urllib3 excludes POST by default.
RETRY_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "POST", "OPTIONS"})

_DOWNLOAD_CHUNK_BYTES = 1 << 16
_LOG_EVERY_PAGES = 10
_LOG_EVERY_SECONDS = 5.0
_LARGE_DOWNLOAD_BYTES = 1 << 20  # log rate only for downloads big enough for a rate to mean something


# ---------------------------------------------------------------------------------------------------------
# Per-call bookkeeping


class _Logger(Protocol):
    def info(self, msg: str, *args: Any) -> Any: ...

    def warning(self, msg: str, *args: Any) -> Any: ...


@dataclass
class _Tally:
    """Per-call retry count, so results report their own retries even when calls interleave."""

    retries: int = 0


@dataclass
class _PagingOutcome:
    hits: list[dict[str, Any]]  # empty when a sink took them
    count: int  # unique hits delivered
    total: int
    pages: int
    problems: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------
# Retry policy


class _GdcRetry(Retry):
    """urllib3 Retry that also accepts fractional Retry-After seconds ("0.2"); stock urllib3 only
    accepts integers or HTTP dates and would raise InvalidHeader on a decimal value."""

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = float(retry_after.strip())
        except ValueError:
            return super().parse_retry_after(retry_after)
        if math.isnan(seconds):
            return 0.0
        return min(max(seconds, 0.0), float(self.retry_after_max))


# ---------------------------------------------------------------------------------------------------------
# The client


class GdcClient:
    """GDC REST client: POST searches with paging and consistency checks, verified streaming downloads."""

    def __init__(
        self,
        base_url: str = LIVE_GDC_BASE_URL,
        token: str | None = None,
        page_size: int = 1000,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_retries: int = 8,
        backoff_factor: float = 0.5,
        backoff_max: float = 30.0,
        logger: _Logger | None = None,
        *,
        max_body_retries: int = 3,
        retry_after_max: float = 300.0,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        if max_retries < 0 or max_body_retries < 0:
            raise ValueError(
                f"retry counts must be >= 0, got max_retries={max_retries}, max_body_retries={max_body_retries}"
            )
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.max_body_retries = max_body_retries
        self.log: _Logger = logger if logger is not None else logging.getLogger(__name__)
        self._token = token
        self.stats = ClientStats()
        self._stats_lock = threading.Lock()

        self._retry = _GdcRetry(
            total=max_retries,
            connect=max_retries,
            read=max_retries,
            status=max_retries,
            other=0,
            redirect=5,
            status_forcelist=RETRY_STATUS_CODES,
            allowed_methods=RETRY_METHODS,
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            backoff_jitter=backoff_factor,  # jitter of the same order as the base step de-synchronises clients
            respect_retry_after_header=True,
            retry_after_max=retry_after_max,  # type: ignore[arg-type]  # float is fine at runtime
            raise_on_status=False,  # hand back the last response so the error can quote its body
        )
        self._session = requests.Session()
        adapter = HTTPAdapter(max_retries=self._retry)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["Accept"] = "application/json"
        if token:
            self._session.headers["X-Auth-Token"] = token

    def __repr__(self) -> str:
        token = "'***'" if self._token else "None"
        return (
            f"GdcClient(base_url={self.base_url!r}, token={token}, page_size={self.page_size}, "
            f"timeout={self.timeout}, max_retries={self.max_retries})"
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> GdcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- status ---------------------------------------------------------------------------------------

    def status(self) -> GdcStatus:
        """GET /status: the data release the server serves now."""
        raw = self._fetch_json("GET", "status", None, what="GET /status", tally=_Tally())
        return parse_status(raw)

    # -- search ---------------------------------------------------------------------------------------

    def iter_search(
        self,
        endpoint: str,
        *,
        filters: dict[str, Any] | None,
        fields: list[str] | None = None,
        expand: list[str] | None = None,
        sort: str,
        page_size: int | None = None,
    ) -> Iterator[SearchPage]:
        """Yield the pages of a POST search, each envelope validated. No cross-page checks (see search_all)."""
        yield from self._iter_pages(
            _clean_endpoint(endpoint), filters, fields, expand, sort, page_size or self.page_size, _Tally()
        )

    def search_all(
        self,
        endpoint: str,
        *,
        filters: dict[str, Any] | None,
        fields: list[str] | None = None,
        expand: list[str] | None = None,
        sort: str,
        page_size: int | None = None,
        expected_release: str | None = None,
        sink: HitSink | None = None,
    ) -> SearchResult:
        """All hits of a search, guaranteed complete, duplicate-free and from one data release.

        With a `sink`, each page's new hits go to it as they arrive and `SearchResult.hits` stays empty,
        so memory does not grow with the result (millions of copy-number occurrences).

        The release is read before and after paging. If it moved, the search restarts once on the new
        release (or, when `expected_release` is given, fails: hits of another release are not what was
        asked for). Duplicates, skips or a moving `total` are repaired by one re-fetch of the whole result
        as a single page of size=total; if that is still inconsistent, GdcConsistencyError.
        """
        name = _clean_endpoint(endpoint)
        size = page_size or self.page_size
        tally = _Tally()
        started = time.monotonic()
        previous_release: str | None = None
        for attempt in (1, 2):
            release_before = self.status().data_release_label
            if expected_release is not None and release_before != expected_release:
                raise GdcReleaseChangedError(
                    f"{name}: expected data release {expected_release} but the server serves {release_before}",
                    expected_release,
                    release_before,
                )
            outcome = self._page_through(name, filters, fields, expand, sort, size, tally, started, sink)
            release_after = self.status().data_release_label
            if release_after == release_before and outcome.problems:
                # Same release, yet pages disagree: the server ignored the sort or the index moved.
                self.log.warning(
                    f"{name}: paging was inconsistent ({'; '.join(outcome.problems)}); re-fetching all "
                    f"{outcome.total} hits as one page"
                )
                tally.retries += 1
                outcome = self._single_page_refetch(name, filters, fields, expand, sort, outcome, tally, sink)
                release_after = self.status().data_release_label
            if release_after != release_before:
                # Checked before the consistency repair: a new release explains a moving total, and
                # repairing a mixed result would be wasted work.
                if attempt == 1 and expected_release is None:
                    self.log.warning(
                        f"{name}: data release changed from {release_before} to {release_after} while "
                        f"paging; restarting on {release_after}"
                    )
                    tally.retries += 1
                    previous_release = release_before
                    continue
                if expected_release is not None:
                    message = (
                        f"{name}: data release changed from {release_before} to {release_after} "
                        f"while paging (expected {expected_release})"
                    )
                else:
                    message = (
                        f"{name}: data release changed again while paging, from {release_before} to "
                        f"{release_after}, after a restart caused by {previous_release} -> {release_before}"
                    )
                raise GdcReleaseChangedError(message, release_before, release_after)
            if outcome.problems:
                raise GdcConsistencyError(
                    f"{name}: result still inconsistent after a single-page re-fetch of size={outcome.total} "
                    f"on release {release_after}: {'; '.join(outcome.problems)}"
                )
            elapsed = time.monotonic() - started
            self.log.info(
                f"{name}: done, {outcome.count} hits in {outcome.pages} pages, {elapsed:.1f} s, "
                f"{_rate(outcome.count, elapsed)} hits/s, {tally.retries} retries, release {release_after}"
            )
            return SearchResult(
                hits=outcome.hits,
                total=outcome.total,
                pages=outcome.pages,
                release=release_after,
                retries=tally.retries,
                elapsed_seconds=elapsed,
            )
        raise AssertionError("unreachable: the release loop either returns or raises")  # pragma: no cover

    def _page_through(
        self,
        name: str,
        filters: dict[str, Any] | None,
        fields: list[str] | None,
        expand: list[str] | None,
        sort: str,
        size: int,
        tally: _Tally,
        started: float,
        sink: HitSink | None = None,
    ) -> _PagingOutcome:
        hits: list[dict[str, Any]] = []
        count = 0
        if sink is not None:
            sink.reset()
        seen: set[str] = set()
        duplicates = 0
        totals: list[int] = []
        pages = 0
        last_log = time.monotonic()
        for page in self._iter_pages(name, filters, fields, expand, sort, size, tally):
            pages += 1
            if totals and page.total != totals[-1]:
                totals.append(page.total)
            elif not totals:
                totals.append(page.total)
            new_hits = []
            for hit in page.hits:
                hit_id = hit["id"]
                if hit_id in seen:
                    duplicates += 1
                    continue
                seen.add(hit_id)
                new_hits.append(hit)
            count += len(new_hits)
            if sink is not None:
                sink.add(new_hits)
            else:
                hits.extend(new_hits)
            now = time.monotonic()
            if pages % _LOG_EVERY_PAGES == 0 or now - last_log >= _LOG_EVERY_SECONDS:
                last_log = now
                self.log.info(
                    f"{name}: page {page.page}/{page.pages}, {count}/{page.total} hits, "
                    f"{_rate(count, now - started)} hits/s"
                )
        total = totals[-1] if totals else 0
        problems: list[str] = []
        if len(totals) > 1:
            problems.append(f"total changed between pages: {' -> '.join(map(str, totals))}")
        if duplicates:
            problems.append(f"{duplicates} duplicate ids across pages")
        if count != total:
            problems.append(f"{count} unique ids but total={total}")
        return _PagingOutcome(hits=hits, count=count, total=total, pages=pages, problems=problems)

    def _single_page_refetch(
        self,
        name: str,
        filters: dict[str, Any] | None,
        fields: list[str] | None,
        expand: list[str] | None,
        sort: str,
        previous: _PagingOutcome,
        tally: _Tally,
        sink: HitSink | None = None,
    ) -> _PagingOutcome:
        # One page holds one snapshot, so neither server-side ordering nor paging can skip or repeat.
        size = max(previous.total, previous.count, 1)
        page = self._fetch_page(name, filters, fields, expand, sort, size=size, offset=0, tally=tally)
        ids = [hit["id"] for hit in page.hits]
        unique = len(set(ids))
        problems: list[str] = []
        if unique != len(ids):
            problems.append(f"{len(ids) - unique} duplicate ids in the single page")
        if unique != page.total:
            problems.append(f"{unique} unique ids but total={page.total} in the single page of size={size}")
        pages = previous.pages + 1
        if page.total > size:  # grew since; one more try with the new total is still a single snapshot
            page = self._fetch_page(name, filters, fields, expand, sort, size=page.total, offset=0, tally=tally)
            pages += 1
            ids = [hit["id"] for hit in page.hits]
            unique = len(set(ids))
            problems = []
            if unique != len(ids) or unique != page.total:
                problems.append(f"{unique} unique of {len(ids)} ids but total={page.total} in a single page")
        if sink is not None:
            sink.reset()
            sink.add(page.hits)
            return _PagingOutcome(hits=[], count=len(page.hits), total=page.total, pages=pages, problems=problems)
        return _PagingOutcome(hits=page.hits, count=len(page.hits), total=page.total, pages=pages, problems=problems)

    def _iter_pages(
        self,
        name: str,
        filters: dict[str, Any] | None,
        fields: list[str] | None,
        expand: list[str] | None,
        sort: str,
        size: int,
        tally: _Tally,
    ) -> Iterator[SearchPage]:
        if not sort:
            raise ValueError(f"{name}: a stable sort is required for paging (e.g. 'case_id:asc')")
        offset = 0
        # One page of lookahead: the next page is requested while the caller processes this one, so
        # the server's work and the caller's (parsing, building tables) overlap. One thread, so the
        # session is still used by one thread at a time.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gdc-prefetch") as prefetch:
            pending = prefetch.submit(
                self._fetch_page, name, filters, fields, expand, sort, size=size, offset=offset, tally=tally
            )
            while True:
                page = pending.result()
                offset += size
                # `from` past the end gives empty hits; an empty page before the end is a skip the caller sees.
                last = page.total == 0 or not page.hits or page.page >= page.pages or offset >= page.total
                if not last:
                    pending = prefetch.submit(
                        self._fetch_page,
                        name,
                        filters,
                        fields,
                        expand,
                        sort,
                        size=size,
                        offset=offset,
                        tally=tally,
                    )
                yield page
                if last:
                    return

    def _fetch_page(
        self,
        name: str,
        filters: dict[str, Any] | None,
        fields: list[str] | None,
        expand: list[str] | None,
        sort: str,
        *,
        size: int,
        offset: int,
        tally: _Tally,
    ) -> SearchPage:
        body: dict[str, Any] = {"size": size, "from": offset, "sort": sort, "format": "json"}
        if filters is not None:
            body["filters"] = filters
        if fields:
            body["fields"] = ",".join(fields)
        if expand:
            body["expand"] = ",".join(expand)
        expected_page = offset // size + 1
        what = f"POST /{name} page {expected_page} (from={offset}, size={size})"
        envelope = self._fetch_json("POST", name, body, what=what, tally=tally)
        page = validate_search_envelope(envelope, what=what)
        page = SearchPage(hits=page.hits, page=page.page, pages=page.pages, total=page.total, offset=offset)
        self._bump(pages=1)
        return page

    # -- downloads ------------------------------------------------------------------------------------

    def download(self, file_id: str, dest: Path, *, md5: str, size: int | None) -> DownloadResult:
        """Stream GET /data/<file_id> to a temp file beside `dest`, verify size and md5, then rename.

        `dest` only ever appears complete and verified; on any failure the temp file is removed and
        nothing exists at `dest` that was not there before.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
        tally = _Tally()
        started = time.monotonic()
        digest = hashlib.md5()
        received = 0
        try:
            with open(tmp, "wb") as out:
                for chunk in self._stream_file(file_id, tally):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            _verify_file(file_id, received, digest.hexdigest(), md5=md5, size=size)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        elapsed = time.monotonic() - started
        if received >= _LARGE_DOWNLOAD_BYTES:
            self.log.info(
                f"data/{file_id}: {received} bytes in {elapsed:.2f} s, "
                f"{received / 1e6 / max(elapsed, 1e-9):.1f} MB/s, {tally.retries} retries"
            )
        return DownloadResult(
            path=dest, bytes=received, md5=digest.hexdigest(), retries=tally.retries, elapsed_seconds=elapsed
        )

    def iter_file_lines(self, file_id: str, *, md5: str, size: int | None) -> Iterator[bytes]:
        """Yield the lines of GET /data/<file_id> (without the line terminator) while streaming.

        Size and md5 are checked after the last line: GdcIntegrityError is raised then, so a consumer
        must read to the end for the check to happen (stopping early skips it).
        """
        digest = hashlib.md5()
        received = 0
        pending = b""
        started = time.monotonic()
        tally = _Tally()
        for chunk in self._stream_file(file_id, tally):
            digest.update(chunk)
            received += len(chunk)
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                yield line[:-1] if line.endswith(b"\r") else line
        if pending:
            yield pending[:-1] if pending.endswith(b"\r") else pending
        _verify_file(file_id, received, digest.hexdigest(), md5=md5, size=size)
        elapsed = time.monotonic() - started
        if received >= _LARGE_DOWNLOAD_BYTES:
            self.log.info(
                f"data/{file_id}: streamed {received} bytes in {elapsed:.2f} s, "
                f"{received / 1e6 / max(elapsed, 1e-9):.1f} MB/s, {tally.retries} retries"
            )

    def iter_archive_files(self, files: Sequence[ArchiveFile]) -> Iterator[tuple[str, bytes]]:
        """Many small files in one request: POST /data {"ids": [...]} returns a tar.gz with members
        `<file_id>/<file_name>` (and MANIFEST.txt). Yields (file_id, content) per member as the archive
        streams by, each checked against its md5 and size. A broken stream is re-requested (bounded) for
        the files not yet delivered. One request per few hundred small files instead of one per file is
        what makes tens of thousands of methylation files practical (gdc-client batches the same way).
        """
        expected = {f.file_id: f for f in files}
        if len(expected) == 1:
            # GDC answers a single id with the bare file, not an archive.
            (only,) = expected.values()
            yield only.file_id, b"\n".join(self.iter_file_lines(only.file_id, md5=only.md5, size=only.size)) + b"\n"
            return
        remaining = dict(expected)
        tally = _Tally()
        retry = self._retry.new()
        while remaining:
            what = f"POST /data ({len(remaining)} files)"
            response = self._send("POST", "data", {"ids": sorted(remaining)}, what=what, tally=tally)
            try:
                _raise_for_status(response, what)
                try:
                    with tarfile.open(fileobj=response.raw, mode="r|*") as archive:
                        for member in archive:
                            file_id = member.name.split("/", 1)[0]
                            wanted = remaining.get(file_id)
                            if wanted is None or not member.isfile():
                                continue  # MANIFEST.txt, or a file already delivered before a re-request
                            extracted = archive.extractfile(member)
                            content = extracted.read() if extracted is not None else b""
                            self._bump(bytes_received=len(content))
                            _verify_file(
                                file_id,
                                len(content),
                                hashlib.md5(content).hexdigest(),
                                md5=wanted.md5,
                                size=wanted.size,
                            )
                            del remaining[file_id]
                            yield file_id, content
                except (
                    tarfile.TarError,
                    EOFError,
                    OSError,
                    urllib3.exceptions.HTTPError,
                    requests.exceptions.RequestException,
                ) as exc:
                    retry = self._body_retry(retry, what, f"archive stream broken: {type(exc).__name__}: {exc}", tally)
                    continue
            finally:
                response.close()
            if remaining:
                raise GdcIntegrityError(
                    f"{what}: the archive lacked {len(remaining)} requested file(s), e.g. {sorted(remaining)[:3]}"
                )

    def _stream_file(self, file_id: str, tally: _Tally) -> Iterator[bytes]:
        """Chunks of GET /data/<file_id>, each byte exactly once, in order.

        A connection lost mid-body is resumed with a Range request from the first byte not yet delivered
        (or, if the server ignores Range and sends the whole file again, by skipping what was delivered).
        """
        if not file_id or "/" in file_id or "," in file_id:
            raise ValueError(f"file_id must be one GDC file UUID, got {file_id!r}")
        what = f"GET /data/{file_id}"
        delivered = 0
        retry = self._retry.new()
        while True:
            headers = {"Accept": "*/*"}
            if delivered:
                headers["Range"] = f"bytes={delivered}-"
            response = self._send("GET", f"data/{file_id}", None, what=what, tally=tally, headers=headers)
            try:
                _raise_for_status(response, what)
                if response.status_code == 206 and not _range_starts_at(response, delivered):
                    raise GdcIntegrityError(
                        f"{what}: asked to resume at byte {delivered} but got Content-Range "
                        f"{response.headers.get('Content-Range')!r}"
                    )
                # A server that ignores Range resends the whole file: skip what the caller already has.
                skip = delivered if (delivered and response.status_code != 206) else 0
                try:
                    for chunk in response.iter_content(chunk_size=_DOWNLOAD_CHUNK_BYTES):
                        self._bump(bytes_received=len(chunk))
                        if skip:
                            cut = min(skip, len(chunk))
                            chunk, skip = chunk[cut:], skip - cut
                        if chunk:
                            delivered += len(chunk)
                            yield chunk
                    return
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
                    retry = self._body_retry(retry, what, f"body broken after {delivered} bytes: {exc}", tally)
            finally:
                response.close()

    # -- HTTP plumbing --------------------------------------------------------------------------------

    def _fetch_json(self, method: str, path: str, body: dict[str, Any] | None, *, what: str, tally: _Tally) -> Any:
        """One JSON request; a 200 whose body is truncated/undecodable is re-requested (bounded)."""
        retry = self._retry.new()
        while True:
            response = self._send(method, path, body, what=what, tally=tally)
            try:
                try:
                    content = response.content
                except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
                    retry = self._body_retry(retry, what, f"response body broken: {exc}", tally)
                    continue
                self._bump(bytes_received=len(content))
                _raise_for_status(response, what)
                try:
                    return json.loads(content)
                except ValueError as exc:
                    problem = f"body is not valid JSON ({exc}); body starts {excerpt(content)}"
                    retry = self._body_retry(retry, what, problem, tally)
            finally:
                response.close()

    def _body_retry(self, retry: Retry, what: str, problem: str, tally: _Tally) -> Retry:
        """Count and back off before re-requesting a response whose body was bad, or raise when out of tries."""
        if len(retry.history) >= self.max_body_retries:
            raise GdcEnvelopeError(f"{what}: {problem} (gave up after {self.max_body_retries} re-requests)")
        # increment() appends to history; sleep() then uses urllib3's own backoff formula (with jitter).
        retry = retry.new(total=None, other=None).increment(method=None, url=what, error=None)
        self._bump(retries=1)
        tally.retries += 1
        self.log.warning(f"{what}: {problem}; re-requesting ({len(retry.history)}/{self.max_body_retries})")
        retry.sleep()
        return retry

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        what: str,
        tally: _Tally,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        url = f"{self.base_url}/{path}"
        self._bump(requests=1)
        try:
            response = self._session.request(method, url, json=body, headers=headers, timeout=self.timeout, stream=True)
        except requests.exceptions.RequestException as exc:
            # Exhausted urllib3 retries on connection/read errors land here; all attempts were retries.
            self._bump(retries=self.max_retries)
            tally.retries += self.max_retries
            raise GdcError(
                f"{what}: request to {url} failed after {self.max_retries} retries: "
                f"{type(exc).__name__}: {_short(str(exc))}"
            ) from None
        history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
        if history:
            self._bump(retries=len(history))
            tally.retries += len(history)
            causes = ", ".join(str(h.status) if h.status else type(h.error).__name__ for h in history)
            self.log.warning(f"{what}: answered after {len(history)} retries ({causes})")
        response.gdc_retries = len(history)  # type: ignore[attr-defined]  # quoted by _raise_for_status
        return response

    def _bump(self, *, requests: int = 0, retries: int = 0, pages: int = 0, bytes_received: int = 0) -> None:
        with self._stats_lock:
            self.stats.requests += requests
            self.stats.retries += retries
            self.stats.pages += pages
            self.stats.bytes_received += bytes_received


# ---------------------------------------------------------------------------------------------------------
# Helpers (pure)


def _raise_for_status(response: requests.Response, what: str) -> None:
    if response.status_code in (200, 203, 206):
        return
    try:
        body = response.content
    except requests.exceptions.RequestException:
        body = b"<unreadable>"
    retries = getattr(response, "gdc_retries", 0)
    raise GdcHttpError(
        f"{what}: HTTP {response.status_code} {response.reason or ''}".rstrip()
        + (f" after {retries} retries" if retries else "")
        + f"; body starts {excerpt(body)}",
        response.status_code,
        application_error=_is_application_error(body),
    )


def _is_application_error(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("message"), str)


def _range_starts_at(response: requests.Response, offset: int) -> bool:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return match is not None and int(match.group(1)) == offset


def _verify_file(file_id: str, received: int, actual_md5: str, *, md5: str, size: int | None) -> None:
    if size is not None and received != size:
        raise GdcIntegrityError(f"data/{file_id}: received {received} bytes, expected file_size {size}")
    if actual_md5 != md5.lower():
        raise GdcIntegrityError(f"data/{file_id}: md5 {actual_md5} differs from expected md5sum {md5}")


def _clean_endpoint(endpoint: str) -> str:
    name = endpoint.strip("/")
    if not name or "?" in name:
        raise ValueError(f"endpoint must be a GDC endpoint name like 'cases', got {endpoint!r}")
    return name


def _rate(count: int, seconds: float) -> int:
    return round(count / seconds) if seconds > 0 else 0


def _short(text: str) -> str:
    return text if len(text) <= 300 else text[:300] + "..."
