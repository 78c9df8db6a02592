"""GdcClient searches against the real GDC stand-in over real HTTP: paging, faults, releases, status."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import pytest

from gdc.client import (
    LIVE_GDC_BASE_URL,
    GdcClient,
    GdcEnvelopeError,
    GdcError,
    GdcHttpError,
    GdcReleaseChangedError,
    GdcStatus,
    SearchPage,
    parse_status,
    validate_search_envelope,
)

pytestmark = pytest.mark.timeout(60)

CASES_SORT = "case_id:asc"
PAGE = 200  # 777 cases -> 4 pages, so a fault `after=1` hits page 2 of 4


class LineLog:
    """A logger like Dagster's context.log: keeps every line it was given."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append(("info", msg % args if args else msg))

    def warning(self, msg: str, *args: Any) -> None:
        self.lines.append(("warning", msg % args if args else msg))

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def make_client(server: Any, **overrides: Any) -> GdcClient:
    settings: dict[str, Any] = dict(
        base_url=server.base_url,
        page_size=PAGE,
        connect_timeout=2.0,
        read_timeout=5.0,
        max_retries=4,
        backoff_factor=0.01,
        backoff_max=0.1,
        logger=LineLog(),
    )
    settings.update(overrides)
    return GdcClient(**settings)


def logged(server: Any, path: str, at_least: int) -> list[tuple[str, str, int]]:
    """The stand-in's log lines for `path`, once it holds `at_least` of them: the server writes its log
    line after the response is out, so a client that raised may be a moment ahead of it."""
    deadline = time.monotonic() + 3.0
    while True:
        entries = [entry for entry in server.request_log if entry[1] == path]
        if len(entries) >= at_least or time.monotonic() > deadline:
            return entries


def jsonl_docs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def ids_of(hits: list[dict[str, Any]]) -> list[str]:
    return [hit["id"] for hit in hits]


def write_release(root: Path, label: str, date: str, cases: list[dict[str, Any]]) -> None:
    release_dir = root / "releases" / label
    release_dir.mkdir(parents=True)
    (release_dir / "status.json").write_text(
        json.dumps(
            {
                "commit": "0" * 40,
                "data_release": f"Data Release {label} - {date}",
                "status": "OK",
                "tag": "8.5.0",
                "version": 1,
            }
        )
    )
    (release_dir / "cases.jsonl").write_text("".join(json.dumps(case) + "\n" for case in cases))


@pytest.fixture(scope="module")
def real_cases(real_dev_bundle: Path) -> list[dict[str, Any]]:
    return jsonl_docs(real_dev_bundle / "releases" / "45.0" / "cases.jsonl")


@pytest.fixture
def standin(gdc_standin_factory, real_dev_bundle: Path):
    return gdc_standin_factory(real_dev_bundle)


@pytest.fixture
def releases_root(tmp_path: Path, real_cases: list[dict[str, Any]]) -> Path:
    """45.0 = the real dev cases; 46.0 = every case but each tenth, re-dated; 47.0 = the first 600 of 46.0."""
    root = tmp_path / "bundle"
    write_release(root, "45.0", "December 04, 2025", real_cases)
    newer = [
        dict(case, updated_datetime="2026-08-01T00:00:00.000000-05:00")
        for index, case in enumerate(real_cases)
        if index % 10 != 0
    ]
    write_release(root, "46.0", "August 10, 2026", newer)
    write_release(root, "47.0", "December 01, 2026", newer[:600])
    (root / "CURRENT").write_text("45.0\n")
    return root


# --------------------------------------------------------------------------------------------------------
# Paging


@pytest.mark.parametrize("page_size", [1000, 776, 200, 13])
def test_search_all_returns_exactly_the_bundles_cases_at_any_page_size(standin, real_cases, page_size):
    client = make_client(standin)
    result = client.search_all("cases", filters=None, sort=CASES_SORT, page_size=page_size)

    got = ids_of(result.hits)
    assert len(got) == len(set(got)) == 777
    assert set(got) == {case["id"] for case in real_cases}
    assert result.total == 777
    assert result.pages == math.ceil(777 / page_size)
    assert result.release == "45.0"
    assert result.retries == 0
    assert client.stats.pages == result.pages
    assert len(logged(standin, "/cases", result.pages)) == result.pages


def test_ssm_occurrences_page_into_the_complete_duplicate_free_set(standin, real_dev_bundle):
    expected = {doc["id"] for doc in jsonl_docs(real_dev_bundle / "releases" / "45.0" / "ssm_occurrences.jsonl")}
    result = make_client(standin).search_all(
        "ssm_occurrences", filters=None, sort="ssm_occurrence_id:asc", page_size=500
    )
    got = ids_of(result.hits)
    assert len(got) == len(set(got)) == 1385
    assert set(got) == expected
    assert result.pages == 3


def test_the_callers_sort_is_sent_so_hits_come_in_that_order(standin):
    client = make_client(standin)
    ascending = [hit["case_id"] for hit in client.search_all("cases", filters=None, sort="case_id:asc").hits]
    descending = [hit["case_id"] for hit in client.search_all("cases", filters=None, sort="case_id:desc").hits]
    assert ascending == sorted(ascending)
    assert descending == ascending[::-1]


def test_filters_fields_and_expand_reach_the_server(standin, real_cases):
    gbm = {"op": "in", "content": {"field": "cases.project.project_id", "value": ["TCGA-GBM"]}}
    result = make_client(standin).search_all(
        "cases",
        filters=gbm,
        fields=["submitter_id", "project.project_id"],
        expand=["diagnoses"],
        sort=CASES_SORT,
        page_size=100,
    )
    expected = {case["id"] for case in real_cases if case["project"]["project_id"] == "TCGA-GBM"}
    assert len(expected) == 417
    assert set(ids_of(result.hits)) == expected and result.total == 417
    assert all(hit["project"] == {"project_id": "TCGA-GBM"} for hit in result.hits)
    assert all(set(hit) <= {"id", "submitter_id", "project", "diagnoses"} for hit in result.hits)
    assert sum("diagnoses" in hit for hit in result.hits) == sum(
        "diagnoses" in c for c in real_cases if c["id"] in expected
    )


def test_a_filter_matching_nothing_gives_no_hits(standin):
    nothing = {"op": "=", "content": {"field": "cases.project.project_id", "value": "TCGA-NOPE"}}
    result = make_client(standin).search_all("cases", filters=nothing, sort=CASES_SORT)
    assert result.hits == [] and result.total == 0


def test_iter_search_yields_numbered_pages_with_offsets(standin):
    pages = list(make_client(standin).iter_search("cases", filters=None, sort=CASES_SORT, page_size=300))
    assert [(p.page, p.pages, p.offset, p.total, len(p.hits)) for p in pages] == [
        (1, 3, 0, 777, 300),
        (2, 3, 300, 777, 300),
        (3, 3, 600, 777, 177),
    ]
    assert all(isinstance(p, SearchPage) for p in pages)


def test_paging_without_a_sort_is_refused(standin):
    with pytest.raises(ValueError, match="stable sort"):
        make_client(standin).search_all("cases", filters=None, sort="")


# --------------------------------------------------------------------------------------------------------
# Recoverable faults: the result is identical to a clean run


RECOVERABLE_FAULTS = [
    pytest.param("http_429", {}, id="429-without-retry-after"),
    pytest.param("http_429", {"retry_after": 0.2}, id="429-with-retry-after"),
    pytest.param("http_500", {}, id="500"),
    pytest.param("http_502", {}, id="502"),
    pytest.param("http_503", {}, id="503"),
    pytest.param("http_504_html", {}, id="504-html"),
    pytest.param("truncated_json", {}, id="truncated-json"),
    pytest.param("drop_connection", {}, id="dropped-connection"),
    pytest.param("latency", {"seconds": 1.0}, id="latency-beyond-read-timeout"),
]


@pytest.mark.parametrize(("kind", "params"), RECOVERABLE_FAULTS)
def test_a_transient_fault_on_page_two_still_gives_the_identical_result(standin, kind, params):
    client = make_client(standin, read_timeout=0.4)
    clean = client.search_all("cases", filters=None, sort=CASES_SORT)
    standin.faults.inject(kind, endpoint="/cases", times=2, after=1, **params)

    result = client.search_all("cases", filters=None, sort=CASES_SORT)

    assert ids_of(result.hits) == ids_of(clean.hits)
    assert result.hits == clean.hits
    assert result.retries == 2  # both injected faults were absorbed, on page 2
    assert client.stats.retries == 2
    assert f"POST /cases page 2 (from={PAGE}, size={PAGE})" in client.log.text()  # type: ignore[attr-defined]


def test_retry_after_is_honoured_on_429(standin):
    client = make_client(standin, backoff_factor=0.0)  # no backoff at all: any wait is the server's
    standin.faults.inject("http_429", endpoint="/cases", times=1, retry_after=0.3)
    result = client.search_all("cases", filters=None, sort=CASES_SORT)
    assert len(result.hits) == 777
    assert result.elapsed_seconds >= 0.3


def test_unsorted_paging_is_repaired_by_one_single_page_refetch(standin):
    client = make_client(standin)
    clean = client.search_all("cases", filters=None, sort=CASES_SORT)
    standin.faults.inject("unsorted_paging", endpoint="/cases", times=None)  # every page shuffled

    result = client.search_all("cases", filters=None, sort=CASES_SORT)

    assert sorted(ids_of(result.hits)) == sorted(ids_of(clean.hits))
    assert len(set(ids_of(result.hits))) == 777
    assert result.pages == 4 + 1
    assert result.retries == 1
    assert len(logged(standin, "/cases", 9)) == 4 + 4 + 1  # clean run, shuffled run, the single page
    assert "re-fetching all 777 hits as one page" in client.log.text()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------------
# Unrecoverable faults: a clear error naming endpoint and page


def test_persistent_503_beyond_max_retries_fails_naming_endpoint_and_page(standin):
    client = make_client(standin, max_retries=2)
    standin.faults.inject("http_503", endpoint="/cases", times=None, after=1)

    with pytest.raises(GdcHttpError) as caught:
        client.search_all("cases", filters=None, sort=CASES_SORT)

    message = str(caught.value)
    assert isinstance(caught.value, GdcEnvelopeError)
    assert caught.value.status_code == 503
    assert f"POST /cases page 2 (from={PAGE}, size={PAGE})" in message
    assert "HTTP 503" in message and "after 2 retries" in message
    assert "Service Unavailable" in message  # the body excerpt
    assert [status for _, _, status in logged(standin, "/cases", 4)] == [200, 503, 503, 503]


def test_exhausted_504_html_page_raises_envelope_error_quoting_the_html(standin):
    client = make_client(standin, max_retries=1)
    standin.faults.inject("http_504_html", endpoint="/cases", times=None)
    with pytest.raises(GdcEnvelopeError, match=r"POST /cases page 1 \(from=0.*HTTP 504.*504 Gateway Time-out"):
        client.search_all("cases", filters=None, sort=CASES_SORT)


def test_persistently_truncated_json_fails_after_bounded_rerequests(standin):
    client = make_client(standin, max_body_retries=2)
    standin.faults.inject("truncated_json", endpoint="/cases", times=None, after=2)
    with pytest.raises(GdcEnvelopeError) as caught:
        client.search_all("cases", filters=None, sort=CASES_SORT)
    assert f"POST /cases page 3 (from={2 * PAGE}" in str(caught.value)
    assert "gave up after 2 re-requests" in str(caught.value)
    assert len(logged(standin, "/cases", 2 + 3)) == 2 + 3  # pages 1-2, then page 3 once + 2 re-requests
    assert client.stats.retries == 2


def test_persistent_latency_beyond_read_timeout_fails_naming_the_page(standin):
    client = make_client(standin, read_timeout=0.2, max_retries=1)
    standin.faults.inject("latency", endpoint="/cases", times=None, seconds=1.0)
    with pytest.raises(GdcError, match=r"POST /cases page 1 \(from=0, size=200\).*failed after 1 retries"):
        client.search_all("cases", filters=None, sort=CASES_SORT)


def test_a_body_without_the_search_envelope_is_an_envelope_error(standin):
    # /status answers any method with a bare object: a real server body of the wrong shape.
    with pytest.raises(GdcEnvelopeError, match=r"POST /status page 1 \(from=0.*expected an object with a 'data'"):
        list(make_client(standin).iter_search("status", filters=None, sort=CASES_SORT))


@pytest.mark.parametrize(
    ("envelope", "problem"),
    [
        ({"data": {"hits": {}, "pagination": {"total": 1, "page": 1, "pages": 1}}}, "data.hits is dict"),
        ({"data": {"hits": [], "pagination": None}}, "data.pagination is NoneType"),
        ({"data": {"hits": [], "pagination": {"total": "7", "page": 1, "pages": 1}}}, "pagination.total='7'"),
        ({"data": {"hits": [], "pagination": {"total": 1, "page": True, "pages": 1}}}, "pagination.page=True"),
        ({"data": {"hits": [{"x": 1}], "pagination": {"total": 1, "page": 1, "pages": 1}}}, "hit 0 has no string 'id'"),
        ({"data": {"hits": [], "pagination": {"count": 3, "total": 3, "page": 1, "pages": 1}}}, "count=3 but 0 hits"),
        ([1, 2], "expected an object with a 'data' object"),
    ],
)
def test_envelope_validation_names_what_is_wrong(envelope, problem):
    with pytest.raises(GdcEnvelopeError) as caught:
        validate_search_envelope(envelope, what="POST /cases page 5 (from=400, size=100)")
    assert "POST /cases page 5 (from=400, size=100)" in str(caught.value)
    assert problem in str(caught.value)


# --------------------------------------------------------------------------------------------------------
# Data releases


def test_release_switch_between_two_pages_restarts_on_the_new_release(gdc_standin_factory, releases_root):
    server = gdc_standin_factory(releases_root)
    client = make_client(server)
    server.faults.inject("release_switch", endpoint="/cases", after=1, to_release="46.0")  # after page 2

    result = client.search_all("cases", filters=None, sort=CASES_SORT)

    expected = jsonl_docs(releases_root / "releases" / "46.0" / "cases.jsonl")
    assert result.release == "46.0"
    assert sorted(ids_of(result.hits)) == sorted(case["id"] for case in expected)
    assert len(result.hits) == result.total == 699
    assert all(hit["updated_datetime"].startswith("2026-08-01") for hit in result.hits)
    assert result.retries == 1
    assert "data release changed from 45.0 to 46.0 while paging; restarting on 46.0" in client.log.text()


def test_a_second_release_change_raises_naming_both_releases(gdc_standin_factory, releases_root):
    server = gdc_standin_factory(releases_root)
    server.faults.inject("release_switch", endpoint="/cases", after=1, to_release="46.0")
    server.faults.inject("release_switch", endpoint="/cases", after=5, to_release="47.0")  # in the restart

    with pytest.raises(GdcReleaseChangedError) as caught:
        make_client(server).search_all("cases", filters=None, sort=CASES_SORT)

    assert (caught.value.release_before, caught.value.release_after) == ("46.0", "47.0")
    assert "from 46.0 to 47.0" in str(caught.value) and "45.0 -> 46.0" in str(caught.value)


def test_expected_release_that_changes_mid_paging_is_not_silently_replaced(gdc_standin_factory, releases_root):
    server = gdc_standin_factory(releases_root)
    server.faults.inject("release_switch", endpoint="/cases", after=0, to_release="46.0")
    with pytest.raises(GdcReleaseChangedError, match="from 45.0 to 46.0 while paging \\(expected 45.0\\)"):
        make_client(server).search_all("cases", filters=None, sort=CASES_SORT, expected_release="45.0")


def test_expected_release_not_served_fails_before_any_page(gdc_standin_factory, releases_root):
    server = gdc_standin_factory(releases_root)
    server.set_release("46.0")
    with pytest.raises(GdcReleaseChangedError, match="expected data release 45.0 but the server serves 46.0"):
        make_client(server).search_all("cases", filters=None, sort=CASES_SORT, expected_release="45.0")
    assert logged(server, "/cases", 0) == [] and len(logged(server, "/status", 1)) == 1


def test_expected_release_that_holds_gives_its_hits(standin):
    result = make_client(standin).search_all("cases", filters=None, sort=CASES_SORT, expected_release="45.0")
    assert result.release == "45.0" and len(result.hits) == 777


# --------------------------------------------------------------------------------------------------------
# /status


@pytest.mark.parametrize(
    ("data_release", "label", "major", "minor"),
    [
        ("Data Release 8.0 - August 22, 2017", "8.0", 8, 0),
        ("Data Release 16.0 - March 26, 2019", "16.0", 16, 0),
        ("Data Release 39.0 - December 04, 2023", "39.0", 39, 0),
        ("Data Release 45.0 - December 04, 2025", "45.0", 45, 0),
        ("Data Release 10.1 - February 15, 2018", "10.1", 10, 1),
    ],
)
def test_status_release_is_read_from_the_data_release_string(data_release, label, major, minor):
    raw = {"commit": "abc", "data_release": data_release, "status": "OK", "tag": "5.0.6", "version": 1}
    status = parse_status(raw)
    assert (status.data_release_label, status.major, status.minor) == (label, major, minor)
    assert status.raw == raw


def test_status_with_only_data_release_version_uses_it():
    status = parse_status(
        {"status": "OK", "data_release_version": {"major": 46, "minor": 0, "release_date": "2026-08-10"}}
    )
    assert status.data_release_label == "46.0"


def test_status_string_wins_over_the_structured_block():
    status = parse_status(
        {
            "status": "OK",
            "data_release": "Data Release 39.0 - December 04, 2023",
            "data_release_version": {"major": 45, "minor": 0},
        }
    )
    assert status.data_release_label == "39.0"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"status": "DOWN", "data_release": "Data Release 45.0 - December 04, 2025"}, "server not OK: status='DOWN'"),
        ({"data_release": "Data Release 45.0 - December 04, 2025"}, "server not OK: status=None"),
        ({"status": "OK", "data_release": "DR 45"}, "data_release='DR 45' does not match"),
        ({"status": "OK", "data_release_version": {"major": "45"}}, "no integer major/minor"),
        (["OK"], "expected a JSON object"),
    ],
)
def test_unusable_status_raises_gdc_error_naming_the_value(raw, problem):
    with pytest.raises(GdcError, match="GDC /status") as caught:
        parse_status(raw)
    assert problem in str(caught.value)


def test_status_over_http_reads_a_release_with_only_the_structured_block(gdc_standin_factory, tmp_path):
    release_dir = tmp_path / "single"
    release_dir.mkdir()
    (release_dir / "status.json").write_text(
        json.dumps(
            {
                "status": "OK",
                "tag": "8.6.0",
                "version": 1,
                "data_release_version": {"major": 46, "minor": 0, "release_date": "2026-08-10"},
            }
        )
    )
    server = gdc_standin_factory(release_dir)
    status = make_client(server).status()
    assert isinstance(status, GdcStatus)
    assert status.data_release_label == "46.0" and status.raw["tag"] == "8.6.0"


def test_status_of_the_real_bundle(standin):
    status = make_client(standin).status()
    assert status.data_release_label == "45.0"
    assert status.raw["data_release"] == "Data Release 45.0 - December 04, 2025"


def test_status_down_after_retries_is_a_gdc_error(standin):
    standin.faults.inject("http_503", endpoint="/status", times=None)
    with pytest.raises(GdcError, match="GET /status: HTTP 503"):
        make_client(standin, max_retries=1).status()


# --------------------------------------------------------------------------------------------------------
# Progress, stats, configuration


def test_progress_lines_and_summary_are_logged(standin):
    client = make_client(standin)
    client.search_all("cases", filters=None, sort=CASES_SORT, page_size=50)  # 16 pages
    lines = client.log.text()  # type: ignore[attr-defined]
    assert "cases: page 10/16, 500/777 hits, " in lines and " hits/s" in lines
    assert "cases: done, 777 hits in 16 pages" in lines and "release 45.0" in lines


def test_stats_count_requests_retries_pages_and_bytes(standin):
    client = make_client(standin)
    standin.faults.inject("http_500", endpoint="/cases", times=1, after=3)
    result = client.search_all("cases", filters=None, sort=CASES_SORT)
    assert client.stats.requests == 4 + 2  # 4 pages + /status before and after
    assert client.stats.retries == 1
    assert client.stats.pages == 4
    hits_bytes = len(json.dumps(result.hits, separators=(",", ":")))  # the stand-in's compact JSON
    assert hits_bytes < client.stats.bytes_received < hits_bytes + 10_000  # + envelopes, /status, a 500 body


def test_works_with_a_standard_library_logger(standin, caplog):
    client = make_client(standin, logger=logging.getLogger("gdc-test"))
    with caplog.at_level(logging.INFO, logger="gdc-test"):
        client.search_all("cases", filters=None, sort=CASES_SORT)
    assert any("cases: done, 777 hits in 4 pages" in record.getMessage() for record in caplog.records)


def test_defaults_point_at_the_live_api():
    client = GdcClient()
    assert client.base_url == LIVE_GDC_BASE_URL == "https://api.gdc.cancer.gov"
    assert client.page_size == 1000 and client.timeout == (10.0, 120.0) and client.max_retries == 8
