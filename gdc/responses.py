"""GDC's answers as values: the release status, search pages and results, downloads, and the pure parsers that
check an envelope or a /status body before anyone reads it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gdc.errors import GdcEnvelopeError, GdcError

_RELEASE_RE = re.compile(r"Data Release (\d+)\.(\d+)")
_BODY_EXCERPT_CHARS = 200


@dataclass(frozen=True)
class GdcStatus:
    data_release_label: str  # "45.0"
    major: int
    minor: int
    raw: dict[str, Any]


@dataclass(frozen=True)
class SearchPage:
    hits: list[dict[str, Any]]
    page: int
    pages: int
    total: int
    offset: int


@dataclass(frozen=True)
class SearchResult:
    hits: list[dict[str, Any]]
    total: int
    pages: int  # pages actually fetched (including a single-page re-fetch)
    release: str  # the data release the hits belong to
    retries: int  # urllib3 retries + body re-requests + recoveries during this search
    elapsed_seconds: float


class HitSink(Protocol):
    """Where search hits go page by page instead of into memory (e.g. a Parquet writer).

    `reset()` is called before the first page and whenever the search starts over (a release switch,
    or the single-page re-fetch that repairs inconsistent paging): the sink drops what it holds."""

    def reset(self) -> None: ...

    def add(self, hits: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class ArchiveFile:
    """One file to fetch inside a /data archive, with what it must match."""

    file_id: str
    md5: str
    size: int | None


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    bytes: int
    md5: str
    retries: int
    elapsed_seconds: float


@dataclass
class ClientStats:
    """Cumulative counters. `requests` counts logical requests (one per call to the session); `retries`
    counts every extra attempt (urllib3 status/connection/read retries and body re-requests)."""

    requests: int = 0
    retries: int = 0
    pages: int = 0
    bytes_received: int = 0


# ---------------------------------------------------------------------------------------------------------
# Status parsing (pure)


def parse_status(raw: Any) -> GdcStatus:
    """Parse a GET /status body; raise GdcError unless status is "OK" and a release can be read.

    `data_release` ("Data Release 45.0 - December 04, 2025") is authoritative; the newer structured
    `data_release_version` ({"major": 45, "minor": 0}) is the fallback when the string is absent or odd.
    """
    if not isinstance(raw, dict):
        raise GdcError(f"GDC /status: expected a JSON object, got {type(raw).__name__}: {excerpt(raw)}")
    if raw.get("status") != "OK":
        raise GdcError(f"GDC /status: server not OK: status={raw.get('status')!r} (body {excerpt(raw)})")
    data_release = raw.get("data_release")
    match = _RELEASE_RE.search(data_release) if isinstance(data_release, str) else None
    if match is not None:
        major, minor = int(match.group(1)), int(match.group(2))
    else:
        version = raw.get("data_release_version")
        ok = isinstance(version, dict) and _is_int(version.get("major")) and _is_int(version.get("minor"))
        if not ok:
            raise GdcError(
                "GDC /status: cannot read the data release: data_release="
                f"{data_release!r} does not match 'Data Release <major>.<minor>' and "
                f"data_release_version={version!r} has no integer major/minor"
            )
        major, minor = int(version["major"]), int(version["minor"])
    return GdcStatus(data_release_label=f"{major}.{minor}", major=major, minor=minor, raw=raw)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def excerpt(body: Any) -> str:
    if isinstance(body, bytes):
        text = body[:_BODY_EXCERPT_CHARS].decode("utf-8", errors="replace")
        more = len(body) > _BODY_EXCERPT_CHARS
    else:
        text = body if isinstance(body, str) else json.dumps(body, default=str)[: _BODY_EXCERPT_CHARS + 1]
        more = len(text) > _BODY_EXCERPT_CHARS
        text = text[:_BODY_EXCERPT_CHARS]
    return repr(" ".join(text.split()) + ("..." if more else ""))


def validate_search_envelope(envelope: Any, *, what: str) -> SearchPage:
    """Check one search response is `{"data": {"hits": [...], "pagination": {...}}}` with integer
    total/page/pages, a matching count and a string `id` on every hit; raise GdcEnvelopeError naming
    `what` (endpoint, page, offset), the problem and the start of the body. `offset` is left 0."""

    def fail(problem: str) -> GdcEnvelopeError:
        return GdcEnvelopeError(f"{what}: {problem}; body starts {excerpt(envelope)}")

    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
        raise fail("expected an object with a 'data' object")
    data = envelope["data"]
    hits = data.get("hits")
    pagination = data.get("pagination")
    if not isinstance(hits, list):
        raise fail(f"data.hits is {type(hits).__name__}, expected a list")
    if not isinstance(pagination, dict):
        raise fail(f"data.pagination is {type(pagination).__name__}, expected an object")
    numbers: dict[str, int] = {}
    for key in ("total", "page", "pages"):
        value = pagination.get(key)
        if not _is_int(value) or value < 0:
            raise fail(f"data.pagination.{key}={value!r} is not a non-negative integer")
        numbers[key] = value
    count = pagination.get("count")
    if count is not None and (not _is_int(count) or count != len(hits)):
        raise fail(f"data.pagination.count={count!r} but {len(hits)} hits")
    for index, hit in enumerate(hits):
        if not isinstance(hit, dict) or not isinstance(hit.get("id"), str) or not hit["id"]:
            raise fail(f"hit {index} has no string 'id' ({excerpt(hit)})")
    return SearchPage(hits=hits, page=numbers["page"], pages=numbers["pages"], total=numbers["total"], offset=0)
