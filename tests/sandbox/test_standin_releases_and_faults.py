"""Release switching and the fault kinds of the stand-in, observed as raw HTTP behaviour."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
import requests

from sandbox.gdc_standin import GdcStandIn
from sandbox.gdc_standin.testing import CASE_LGG_NO_DIAGNOSES, small_bundle, status_document, write_bundle


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return small_bundle(tmp_path / "bundle")


@pytest.fixture
def server(bundle: Path, gdc_standin_factory):
    return gdc_standin_factory(bundle, admin=True)


def release_of(server) -> str:
    return requests.get(f"{server.base_url}/status", timeout=10).json()["data_release"]


def total_cases(server, session=requests) -> int:
    return session.get(f"{server.base_url}/cases", params={"size": 0}, timeout=10).json()["data"]["pagination"]["total"]


# -- releases ---------------------------------------------------------------------------------------------------


def test_rewriting_current_switches_the_release_on_the_next_request(server, bundle):
    assert release_of(server) == "Data Release 45.0 - December 04, 2025"
    assert total_cases(server) == 4
    (bundle / "CURRENT").write_text("46.0\n")
    assert release_of(server) == "Data Release 46.0 - August 10, 2026"
    assert total_cases(server) == 3
    assert requests.get(f"{server.base_url}/cases/{CASE_LGG_NO_DIAGNOSES}", timeout=10).status_code == 404
    # release 46.0 has no files.jsonl: the endpoint has no hits rather than failing
    assert requests.get(f"{server.base_url}/files", timeout=10).json()["data"]["pagination"]["total"] == 0


def test_set_release_and_admin_call_switch_without_touching_current(server, bundle):
    server.set_release("46.0")
    assert release_of(server) == "Data Release 46.0 - August 10, 2026"
    assert (bundle / "CURRENT").read_text().strip() == "45.0"
    response = requests.post(f"{server.base_url}/_admin/release", json={"release": "45.0"}, timeout=10)
    assert response.status_code == 200
    assert release_of(server) == "Data Release 45.0 - December 04, 2025"
    unknown = requests.post(f"{server.base_url}/_admin/release", json={"release": "99.0"}, timeout=10)
    assert unknown.status_code == 404
    with pytest.raises(LookupError):
        server.set_release("99.0")


def test_a_current_rewrite_after_set_release_wins(server, bundle):
    server.set_release("46.0")
    (bundle / "CURRENT").write_text("45.0-next\n")
    (bundle / "releases" / "45.0-next").mkdir()
    (bundle / "releases" / "45.0-next" / "status.json").write_text(json.dumps(status_document("45.1")))
    assert release_of(server) == "Data Release 45.1 - December 04, 2025"


def test_a_single_release_directory_is_served_as_is(bundle, gdc_standin_factory):
    server = gdc_standin_factory(bundle / "releases" / "46.0")
    assert release_of(server) == "Data Release 46.0 - August 10, 2026"
    assert total_cases(server) == 3


def test_a_path_that_is_no_bundle_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="not a GDC bundle"):
        GdcStandIn(tmp_path)


def test_context_manager_serves_and_then_stops(bundle):
    with GdcStandIn(bundle) as server:
        base_url = server.base_url
        session = requests.Session()
        assert total_cases(server, session) == 4
    with pytest.raises(requests.ConnectionError):
        session.get(f"{base_url}/status", timeout=2)


def test_keep_alive_reuses_one_connection(server):
    session = requests.Session()
    for _ in range(5):
        response = session.get(f"{server.base_url}/cases", params={"size": 1}, timeout=10)
        assert response.headers.get("Connection", "").lower() != "close"
    assert server.connections_accepted == 1
    requests.get(f"{server.base_url}/status", timeout=10)  # a new client: a new connection
    assert server.connections_accepted == 2


# -- faults -----------------------------------------------------------------------------------------------------


def test_429_with_and_without_retry_after(server):
    server.faults.inject("http_429", endpoint="/cases", retry_after=2)
    server.faults.inject("http_429", endpoint="/cases", after=1)
    first = requests.get(f"{server.base_url}/cases", timeout=10)
    second = requests.get(f"{server.base_url}/cases", timeout=10)
    third = requests.get(f"{server.base_url}/cases", timeout=10)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert second.status_code == 429 and "Retry-After" not in second.headers
    assert third.status_code == 200
    assert "message" in first.json()


@pytest.mark.parametrize("kind, status", [("http_500", 500), ("http_502", 502), ("http_503", 503)])
def test_5xx_faults_answer_json_message_once(server, kind, status):
    server.faults.inject(kind)
    failed = requests.get(f"{server.base_url}/projects", timeout=10)
    assert failed.status_code == status
    assert failed.headers["Content-Type"] == "application/json"
    assert isinstance(failed.json()["message"], str)
    assert requests.get(f"{server.base_url}/projects", timeout=10).status_code == 200


def test_504_is_an_nginx_html_page_that_breaks_json_parsing(server):
    server.faults.inject("http_504_html", endpoint="/status", times=None)
    for _ in range(2):
        response = requests.get(f"{server.base_url}/v0/status", timeout=10)
        assert response.status_code == 504
        assert response.headers["Content-Type"] == "text/html"
        assert "<center>nginx</center>" in response.text
        with pytest.raises(requests.exceptions.JSONDecodeError):
            response.json()
    assert requests.get(f"{server.base_url}/cases", timeout=10).status_code == 200  # other endpoints unaffected


def test_fault_hits_only_after_the_given_number_of_requests(server):
    server.faults.inject("http_500", endpoint="/cases", after=2, times=1)
    statuses = [
        requests.get(f"{server.base_url}/cases", params={"size": 1, "from": i}, timeout=10).status_code
        for i in range(4)
    ]
    assert statuses == [200, 200, 500, 200]
    assert [entry[2] for entry in server.request_log if entry[1] == "/cases"] == statuses


def test_latency_beyond_the_client_timeout_raises_timeout(server):
    server.faults.inject("latency", endpoint="/cases", seconds=1.5)
    started = time.perf_counter()
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(f"{server.base_url}/cases", timeout=0.3)
    assert time.perf_counter() - started < 1.4
    assert requests.get(f"{server.base_url}/cases", timeout=5).status_code == 200


def test_truncated_json_sends_half_the_promised_body_and_closes(server):
    server.faults.inject("truncated_json", endpoint="/cases")
    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        raw.sendall(b"GET /cases?size=4 HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    promised = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    assert 0 < len(body) == promised // 2
    server.faults.inject("truncated_json", endpoint="/cases")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{server.base_url}/cases", timeout=5)


def test_drop_connection_closes_without_response(server):
    server.faults.inject("drop_connection", endpoint="/cases", times=2)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{server.base_url}/cases", timeout=5)
    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        raw.sendall(b"GET /cases HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.recv(65536) == b""
    assert requests.get(f"{server.base_url}/cases", timeout=5).status_code == 200


def test_unsorted_paging_ignores_sort_and_changes_order_between_calls(real_dev_bundle, gdc_standin_factory):
    server = gdc_standin_factory(real_dev_bundle)
    server.faults.inject("unsorted_paging", endpoint="/cases", times=None)
    body = {"size": 100, "from": 0, "sort": "case_id:asc", "fields": "case_id"}
    first = [h["id"] for h in requests.post(f"{server.base_url}/cases", json=body, timeout=10).json()["data"]["hits"]]
    second = [h["id"] for h in requests.post(f"{server.base_url}/cases", json=body, timeout=10).json()["data"]["hits"]]
    assert first != sorted(first)
    assert first != second
    # paging through shuffled pages duplicates and skips cases, as the real API did without a stable order
    seen = []
    for offset in range(0, 777, 100):
        page = requests.post(f"{server.base_url}/cases", json={**body, "from": offset}, timeout=10).json()["data"]
        seen += [h["id"] for h in page["hits"]]
    assert len(seen) == 777 and len(set(seen)) < 777
    server.faults.clear()
    third = [h["id"] for h in requests.post(f"{server.base_url}/cases", json=body, timeout=10).json()["data"]["hits"]]
    assert third == sorted(third)


def test_release_switch_between_two_pages(server):
    server.faults.inject("release_switch", endpoint="/cases", after=1, to_release="46.0")
    page_sizes = []
    for offset in (0, 2, 4):
        data = requests.get(f"{server.base_url}/cases", params={"size": 2, "from": offset}, timeout=10).json()["data"]
        page_sizes.append(data["pagination"]["total"])
    assert page_sizes == [4, 4, 3]  # the second page was still 45.0; the switch came after it was answered
    assert release_of(server) == "Data Release 46.0 - August 10, 2026"


def test_admin_endpoints_are_off_unless_asked_for(bundle, gdc_standin_factory):
    closed = gdc_standin_factory(bundle)
    for method, path, body in (
        ("post", "/_admin/faults", {"kind": "http_500"}),
        ("post", "/_admin/release", {"release": "45.0"}),
        ("delete", "/_admin/faults", None),
    ):
        response = requests.request(method, f"{closed.base_url}{path}", json=body, timeout=10)
        assert response.status_code == 404, (path, response.text)
    assert closed.faults.list() == []  # nothing was injected through the closed door
    assert requests.get(f"{closed.base_url}/status", timeout=10).status_code == 200


def test_faults_over_the_admin_http_api(server):
    response = requests.post(
        f"{server.base_url}/_admin/faults",
        json={"kind": "http_429", "endpoint": "/v0/cases", "times": 1, "params": {"retry_after": 1}},
        timeout=10,
    )
    assert response.status_code == 200
    limited = requests.get(f"{server.base_url}/cases", timeout=10)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
    requests.post(f"{server.base_url}/_admin/faults", json={"kind": "http_500", "times": None}, timeout=10)
    assert requests.get(f"{server.base_url}/status", timeout=10).status_code == 500
    assert requests.delete(f"{server.base_url}/_admin/faults", timeout=10).status_code == 200
    assert requests.get(f"{server.base_url}/status", timeout=10).status_code == 200
    bad = requests.post(f"{server.base_url}/_admin/faults", json={"kind": "meteor_strike"}, timeout=10)
    assert bad.status_code == 400 and "meteor_strike" in bad.json()["message"]


def test_unknown_fault_kind_is_refused(server):
    with pytest.raises(ValueError, match="unknown fault kind"):
        server.faults.inject("http_418")


def test_bundle_with_three_releases_steps_through_them(tmp_path, gdc_standin_factory):
    root = write_bundle(tmp_path / "b", {label: {"cases": []} for label in ("44.0", "45.0", "46.0")}, current="44.0")
    server = gdc_standin_factory(root)
    server.faults.inject("release_switch", endpoint="/status", to_release="45.0")
    server.faults.inject("release_switch", endpoint="/status", after=1, to_release="46.0")
    assert [release_of(server)[:17] for _ in range(3)] == [
        "Data Release 44.0",
        "Data Release 45.0",
        "Data Release 46.0",
    ]
