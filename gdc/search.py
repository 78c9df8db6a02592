"""Searches of the GDC client (gdc.client): POST searches paged with a caller-supplied stable sort, every
envelope checked, ids tracked across pages and the data release read before and after, so a result is
exactly one release's complete, duplicate-free set or an exception says why not.

One page of lookahead overlaps the server's work with the caller's. Duplicates, skips or a moving `total`
are repaired by one re-fetch of the whole result as a single page; a release that moves while paging
restarts the search once (or fails when a release was expected).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gdc.errors import GdcConsistencyError, GdcReleaseChangedError
from gdc.responses import GdcStatus, HitSink, SearchPage, SearchResult, parse_status, validate_search_envelope
from gdc.transport import GdcTransport, Tally

_LOG_EVERY_PAGES = 10
_LOG_EVERY_SECONDS = 5.0


@dataclass
class _PagingOutcome:
    hits: list[dict[str, Any]]  # empty when a sink took them
    count: int  # unique hits delivered
    total: int
    pages: int
    problems: list[str] = field(default_factory=list)


class GdcSearch(GdcTransport):
    """The release status and the POST searches of `GdcClient`."""

    # -- status ---------------------------------------------------------------------------------------

    def status(self) -> GdcStatus:
        """GET /status: the data release the server serves now."""
        raw = self._fetch_json("GET", "status", None, what="GET /status", tally=Tally())
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
            _clean_endpoint(endpoint), filters, fields, expand, sort, page_size or self.page_size, Tally()
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
        tally = Tally()
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
        tally: Tally,
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
        tally: Tally,
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
        tally: Tally,
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
        tally: Tally,
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


# ---------------------------------------------------------------------------------------------------------
# Helpers (pure)


def _clean_endpoint(endpoint: str) -> str:
    name = endpoint.strip("/")
    if not name or "?" in name:
        raise ValueError(f"endpoint must be a GDC endpoint name like 'cases', got {endpoint!r}")
    return name


def _rate(count: int, seconds: float) -> int:
    return round(count / seconds) if seconds > 0 else 0
