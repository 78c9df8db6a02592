"""The reliability suite (`make reliability` runs every scenario; `make test` a bounded subset).

A world is a two-release synthetic GDC root served by the real stand-in over HTTP, a data directory and a
Dagster instance ($DAGSTER_HOME) in which release 45.0 is refreshed, trained and published (the baseline),
and the published state a clean refresh of 46.0 reaches from that baseline (the reference). Each scenario
works on its own copy of the baseline. At the end the counts are printed: scenarios run, passed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability_state import FULL, REFRESH, REFRESH_AND_TRAIN, PublishedState, copy_world, published_state, run_refresh


@dataclass
class World:
    server: object
    base_url: str
    baseline_data: Path
    baseline_home: Path
    baseline: PublishedState
    reference: PublishedState  # after a clean refresh of 46.0
    reference_trained: PublishedState  # after a clean refresh and training of 46.0
    refresh_seconds: float
    first: str
    second: str

    def copy(self, target: Path) -> tuple[Path, Path]:
        return copy_world(self.baseline_data, self.baseline_home, target)


def _refresh_ok(world_url: str, data: Path, home: Path, release: str, jobs: list[str]) -> str:
    code, output = run_refresh(world_url, data, home, release, jobs)
    assert code == 0, output[-4000:]
    return output


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    import time

    from sandbox.gdc_standin import GdcStandIn
    from sandbox.synthetic import CohortSpec, write_multi_release

    root = tmp_path_factory.mktemp("reliability_root")
    write_multi_release(
        root, CohortSpec(n_cases=160, seed=23, release_label="45.0"), releases=("45.0", "46.0"), change_share=0.2
    )
    server = GdcStandIn(root, port=0).start()
    base = tmp_path_factory.mktemp("reliability_baseline")
    data, home = base / "data", base / "dagster_home"
    data.mkdir()
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    server.set_release("45.0")
    _refresh_ok(server.base_url, data, home, "45.0", REFRESH_AND_TRAIN)
    baseline = published_state(data)
    server.set_release("46.0")
    reference_dir = tmp_path_factory.mktemp("reliability_reference")
    ref_data, ref_home = copy_world(data, home, reference_dir)
    started = time.monotonic()
    _refresh_ok(server.base_url, ref_data, ref_home, "46.0", REFRESH)
    refresh_seconds = time.monotonic() - started
    reference = published_state(ref_data)
    _refresh_ok(server.base_url, ref_data, ref_home, "46.0", ["train_challengers"])
    reference_trained = published_state(ref_data)
    yield World(
        server, server.base_url, data, home, baseline, reference, reference_trained, refresh_seconds, "45.0", "46.0"
    )
    server.stop()


_COUNTS = {"scenarios": 0, "passed": 0}


def pytest_runtest_logreport(report):
    if report.when == "call" and "tests/reliability" in report.nodeid.replace(os.sep, "/"):
        _COUNTS["scenarios"] += 1
        _COUNTS["passed"] += int(report.passed)


def pytest_terminal_summary(terminalreporter):
    if _COUNTS["scenarios"]:
        terminalreporter.write_line(
            f"reliability: {_COUNTS['scenarios']} scenarios, {_COUNTS['passed']} passed"
            + ("" if FULL else " (bounded subset; RELIABILITY_FULL=1 / make reliability runs every scenario)")
        )
