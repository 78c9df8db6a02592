"""The reliability suite (`make reliability` runs every scenario; `make test` a bounded subset).

A world is a two-release synthetic GDC root served by the real stand-in over HTTP, a data directory and a
Dagster instance ($DAGSTER_HOME) in which release 45.0 is refreshed, trained and published (the baseline),
and the published state a clean refresh of 46.0 reaches from that baseline (the reference). Each scenario
works on its own copy of the baseline. At the end the counts are printed: scenarios run, passed.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
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
    refresh_seconds: float
    first: str
    second: str
    build_reference_trained: Callable[[], PublishedState]

    @functools.cached_property
    def reference_trained(self) -> PublishedState:
        """After a clean refresh and training of 46.0: built when a scenario first asks (make reliability's only)."""
        return self.build_reference_trained()

    def copy(self, target: Path) -> tuple[Path, Path]:
        return copy_world(self.baseline_data, self.baseline_home, target)


def _refresh_ok(world_url: str, data: Path, home: Path, release: str, jobs: list[str]) -> str:
    code, output = run_refresh(world_url, data, home, release, jobs)
    assert code == 0, output[-4000:]
    return output


def _build_world(directory: Path) -> None:
    """The world's files, built once per test session for every xdist worker (tests/worlds.py): the bundle root,
    the published 45.0 baseline and the reference data directories after a clean refresh (and training) of 46.0."""
    import json
    import time

    from sandbox.gdc_standin import GdcStandIn
    from sandbox.synthetic import CohortSpec, write_multi_release

    root = directory / "root"
    write_multi_release(
        root, CohortSpec(n_cases=160, seed=23, release_label="45.0"), releases=("45.0", "46.0"), change_share=0.2
    )
    data, home = directory / "baseline" / "data", directory / "baseline" / "dagster_home"
    data.mkdir(parents=True)
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    with GdcStandIn(root, port=0) as server:
        server.set_release("45.0")
        _refresh_ok(server.base_url, data, home, "45.0", REFRESH_AND_TRAIN)
        server.set_release("46.0")
        ref_data, ref_home = copy_world(data, home, directory / "reference")
        started = time.monotonic()
        _refresh_ok(server.base_url, ref_data, ref_home, "46.0", REFRESH)
        refresh_seconds = time.monotonic() - started
    (directory / "world.json").write_text(json.dumps({"refresh_seconds": refresh_seconds}))


def _build_reference_trained(world: Path, directory: Path) -> None:
    """The reference after a clean training of 46.0 too (a training run costs ~15 CPU-s: only when asked)."""
    from sandbox.gdc_standin import GdcStandIn

    with GdcStandIn(world / "root", port=0) as server:
        server.set_release("46.0")
        data, home = copy_world(world / "reference" / "data", world / "reference" / "dagster_home", directory)
        _refresh_ok(server.base_url, data, home, "46.0", ["train_challengers"])


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    import json

    from sandbox.gdc_standin import GdcStandIn
    from tests.worlds import shared_world

    directory = shared_world(tmp_path_factory, "reliability", _build_world)
    server = GdcStandIn(directory / "root", port=0).start()  # each worker its own, for its own faults
    server.set_release("46.0")
    data, home = directory / "baseline" / "data", directory / "baseline" / "dagster_home"
    refresh_seconds = json.loads((directory / "world.json").read_text())["refresh_seconds"]
    yield World(
        server,
        server.base_url,
        data,
        home,
        published_state(data),
        published_state(directory / "reference" / "data"),
        refresh_seconds,
        "45.0",
        "46.0",
        lambda: published_state(
            shared_world(
                tmp_path_factory,
                "reliability-reference-trained",
                functools.partial(_build_reference_trained, directory),
            )
            / "data"
        ),
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
