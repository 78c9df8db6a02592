"""`make ui` as a newcomer meets it, in headless Chromium: the launcher serves a bundle root with the
stand-in and starts `dagster dev` against it; the release sensor ticks green and requests the refresh;
the asset graph, one asset's checks and the Automation page (sensor and schedules) render; writing the
next release into the root makes the running sensor request its refresh; SIGTERM stops everything.

Screenshots are kept in `test-artifacts/ui/` (or $GLIOMA_TEST_ARTIFACTS/ui).
Needs Debian's chromium and chromium-driver (`.ci/run` installs them); skips with that reason otherwise.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import CHROMEDRIVER, CHROMIUM

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GLIOMA_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "ui"
LOCATION = "glioma_lakehouse"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason="headless Chromium not installed: apt-get install chromium chromium-driver (.ci/run does)",
    ),
]

SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status ticks(limit: 20) { status skipReason runIds error { message } } } }
  }
}
"""
SCHEDULES = """
query Schedules($selector: RepositorySelector!) {
  schedulesOrError(repositorySelector: $selector) {
    ... on Schedules { results { name cronSchedule scheduleState { status } } }
  }
}
"""

TERMINATE_RUN = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) { __typename ... on TerminateRunFailure { message } ... on PythonError { message } }
}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _graphql(port: int, query: str, variables: dict) -> dict:
    answer = requests.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables}, timeout=30
    )
    answer.raise_for_status()
    return answer.json()["data"]


def _ticks(port: int) -> list[dict]:
    selector = {
        "repositoryName": "__repository__",
        "repositoryLocationName": LOCATION,
        "sensorName": "gdc_release_sensor",
    }
    data = _graphql(port, SENSOR_TICKS, {"selector": selector})["sensorOrError"]
    return data["sensorState"]["ticks"] if data["__typename"] == "Sensor" else []


def _terminate(port: int, run_id: str) -> None:
    """Stop a run the sensor requested, as the UI's Terminate button does. These tests need the request, not the
    run: finished, it would start the training and the expression analyses too, all in the background of the suite
    on two cores. A run that has already ended cannot be terminated, which is as good."""
    outcome = _graphql(port, TERMINATE_RUN, {"runId": run_id})["terminateRun"]
    assert outcome["__typename"] in ("TerminateRunSuccess", "TerminateRunFailure"), outcome


def _wait(condition, timeout: float, what: str, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (requests.RequestException, KeyError, TypeError) as error:
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")


@pytest.fixture(scope="module")
def bundle_root(tmp_path_factory) -> Path:
    from sandbox.synthetic import CohortSpec, write_bundle
    from sandbox.synthetic.next_release import write_spec

    root = tmp_path_factory.mktemp("ui_bundle") / "synthetic-40"
    spec = CohortSpec(n_cases=40, seed=3)
    write_bundle(root, spec)
    write_spec(root, spec)
    return root


@pytest.fixture(scope="module")
def ui(bundle_root, tmp_path_factory):
    """`python -m orchestration.ui` (what `make ui` runs), on free ports, in its own session."""
    work = tmp_path_factory.mktemp("ui_home")
    port = _free_port()
    log_path = work / "ui.log"
    log = open(log_path, "w")
    env = {key: value for key, value in os.environ.items() if key not in ("GDC_BASE_URL", "GLIOMA_DATA_DIR")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestration.ui",
            "--bundle-root",
            str(bundle_root),
            "--data-dir",
            str(work / "data"),
            "--dagster-home",
            str(work / "home"),
            "--port",
            str(port),
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait(lambda: requests.get(f"http://127.0.0.1:{port}/server_info", timeout=5).ok, 180, "dagster dev to serve")
        _wait(
            lambda: (
                _graphql(
                    port,
                    "{ workspaceOrError { ... on Workspace { locationEntries { name "
                    "locationOrLoadError { __typename } } } } }",
                    {},
                )["workspaceOrError"]["locationEntries"][0]["locationOrLoadError"]["__typename"]
                == "RepositoryLocation"
            ),
            180,
            "the code location to load",
        )
        yield {"process": process, "port": port, "log": log_path}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # only if the test itself failed before stopping it
        log.close()


def _dismiss_welcome(browser) -> None:
    """The first visit shows a 'Join the Dagster community' dialog; a newcomer clicks Skip."""
    for button in browser.find_elements("xpath", "//button[normalize-space()='Skip']"):
        if button.is_displayed():
            button.click()


def _page(browser, url: str, must_show: list[str], screenshot: str, timeout: float = 90) -> str:
    browser.get(url)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    time.sleep(2)
    _dismiss_welcome(browser)
    try:
        text = _wait(
            lambda: (lambda body: body if all(word in body for word in must_show) else None)(
                browser.find_element("tag name", "body").text
            ),
            timeout,
            f"{url} to show {must_show}",
        )
    finally:
        browser.save_screenshot(str(ARTIFACTS / screenshot))  # also when it failed: shows what was there
    return text


def test_make_ui_serves_the_stand_in_and_the_sensor_ticks_green_with_one_refresh_request(ui):
    ticks = _wait(
        lambda: [t for t in _ticks(ui["port"]) if t["status"] != "STARTED"] or None,
        180,
        "the release sensor's first tick",
    )
    assert not [t for t in ticks if t["status"] == "FAILURE"], ticks
    first = ticks[-1]
    assert first["status"] == "SUCCESS" and len(first["runIds"]) == 1, ticks
    _terminate(ui["port"], first["runIds"][0])
    schedules = _graphql(
        ui["port"], SCHEDULES, {"selector": {"repositoryName": "__repository__", "repositoryLocationName": LOCATION}}
    )
    names = {s["name"]: s["scheduleState"]["status"] for s in schedules["schedulesOrError"]["results"]}
    assert names == {"daily_release_backstop": "RUNNING", "daily_freshness_check": "RUNNING"}


def test_asset_graph_checks_and_automation_pages_render_in_chromium(ui, browser):
    base = f"http://127.0.0.1:{ui['port']}"
    _page(
        browser,
        f"{base}/asset-groups",
        ["raw", "harmonised", "features", "models", "scores", "warehouse", "ops"],
        "asset_graph.png",
    )
    _page(
        browser,
        # the list: the raw group's lineage no longer fits one screen (only the nodes in view are drawn)
        f"{base}/locations/__repository__@{LOCATION}/asset-groups/raw/list",
        ["gdc_release", "gdc_methylation_files", "mgmt_probe_betas", "gdc_expression_files", "expression_file_qc"],
        "asset_group_raw.png",
    )
    checks = _page(
        browser,
        f"{base}/assets/raw/gdc_cases?view=checks",
        ["blocking_expectations", "warning_expectations"],
        "asset_checks.png",
    )
    assert "gdc_cases" in checks
    automation = _page(
        browser,
        f"{base}/automation",
        ["gdc_release_sensor", "daily_release_backstop", "daily_freshness_check", "record_failed_runs"],
        "automation.png",
    )
    assert "train_after_refresh" in automation


def test_next_release_written_into_the_root_makes_the_running_sensor_request_its_refresh(ui, bundle_root):
    from sandbox.synthetic.next_release import append_release

    before = {run for tick in _ticks(ui["port"]) for run in tick["runIds"]}
    label = append_release(bundle_root, change_share=0.2)
    new_runs = _wait(
        lambda: {run for tick in _ticks(ui["port"]) for run in tick["runIds"]} - before or None,
        200,
        f"a run request for release {label}",
        interval=5,
    )
    assert len(new_runs) == 1
    run_tags = _graphql(
        ui["port"],
        "query($id: ID!) { runOrError(runId: $id) { ... on Run { tags { key value } } } }",
        {"id": next(iter(new_runs))},
    )["runOrError"]["tags"]
    assert {"key": "dagster/partition", "value": label} in run_tags
    _terminate(ui["port"], next(iter(new_runs)))


def test_sigterm_to_make_ui_stops_dagster_and_the_stand_in(ui):
    import psutil

    launcher = psutil.Process(ui["process"].pid)
    children = launcher.children(recursive=True)
    assert children, "dagster dev should be running under the launcher"
    log = ui["log"].read_text()
    standin_url = re.search(r"GDC stand-in serving \S+ at (http://127\.0\.0\.1:\d+)", log).group(1)
    ui["process"].send_signal(signal.SIGTERM)
    ui["process"].wait(timeout=60)
    _, still_running = psutil.wait_procs(children, timeout=30)
    assert not still_running, [p.cmdline() for p in still_running]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{standin_url}/status", timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{ui['port']}/server_info", timeout=5)
