"""HTTP client for the NCI GDC REST API (live, or the local stand-in serving a bundle).

A plain class, no Dagster: `assets/resources.py` wraps it in a ConfigurableResource.

The client is put together from one module per concern:
    gdc.transport   the session, urllib3 retries, body re-requests, HTTP errors, counters (`GdcTransport`)
    gdc.search      the release status and the paged, consistency-checked POST searches (`GdcSearch`)
    gdc.downloads   verified streaming downloads and archives of many small files (`GdcDownloads`)

Retries: urllib3's `Retry` on the session for statuses and connection errors, one application-level
re-request for a good status with a bad body (gdc.transport).

Searches page with a caller-supplied stable sort, check every envelope, track ids across pages and the
data release before and after, so a result is exactly one release's complete, duplicate-free set or an
exception says why not.
"""

from __future__ import annotations

from gdc.downloads import GdcDownloads
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
    SearchPage,
    SearchResult,
    parse_status,
    validate_search_envelope,
)
from gdc.search import GdcSearch
from gdc.transport import LIVE_GDC_BASE_URL, RETRY_METHODS, RETRY_STATUS_CODES

__all__ = [
    "LIVE_GDC_BASE_URL",
    "RETRY_METHODS",
    "RETRY_STATUS_CODES",
    "ArchiveFile",
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


class GdcClient(GdcSearch, GdcDownloads):
    """GDC REST client: POST searches with paging and consistency checks, verified streaming downloads."""

    def __repr__(self) -> str:
        token = "'***'" if self._token else "None"
        return (
            f"GdcClient(base_url={self.base_url!r}, token={token}, page_size={self.page_size}, "
            f"timeout={self.timeout}, max_retries={self.max_retries})"
        )

    def __enter__(self) -> GdcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
