"""kill -9 of a refresh at random moments and in the windows that matter (a model registered but not yet
scoring, the catalog built but not committed, committed but not renamed): what analysts read stays whole
and from one release — the baseline's or, once the commit happened, the new release's — and the next run
completes equal to a clean one, leaving no temporaries and no superseded versions behind."""

from __future__ import annotations

import random

import pytest
from reliability_state import (
    FULL,
    FULL_ONLY,
    REFRESH,
    REFRESH_AND_TRAIN,
    leftovers,
    most_versions_per_partition,
    published_state,
    run_refresh,
)

pytestmark = pytest.mark.slow

SEED = 20261201
RANDOM_KILLS = 20 if FULL else 1


def _random_moments(count: int, span: float) -> list[float]:
    # Spread over the whole refresh (process start and imports included), reproducible from SEED.
    generator = random.Random(SEED)
    return sorted(round(generator.uniform(0.5, span), 2) for _ in range(count))


def _assert_whole_and_from_one_release(world, data, allowed):
    state = published_state(data)  # every view opens and reads: no file it lists is missing
    assert state in allowed, "published state is neither the baseline nor the reference:\n" + "\n".join(
        min((state.differences(a) for a in allowed), key=len)
    )
    assert len(state.current_releases) == 1, state.current_releases
    return state


def _kill_then_recover(world, tmp_path, jobs, reference, *, kill_after=None, crash_at=None):
    data, home = world.copy(tmp_path)
    code, output = run_refresh(world.base_url, data, home, world.second, jobs, kill_after=kill_after, crash_at=crash_at)
    killed = code == -9
    if crash_at is not None:
        assert killed, f"crash point {crash_at} was not reached:\n{output[-3000:]}"
    allowed = [world.baseline, reference] + ([world.reference] if reference is not world.reference else [])
    _assert_whole_and_from_one_release(world, data, allowed)

    code, output = run_refresh(world.base_url, data, home, world.second, jobs)
    assert code == 0, output[-4000:]
    recovered = published_state(data)
    assert recovered == reference, "\n".join(recovered.differences(reference))
    assert leftovers(data) == []
    return killed, data


@pytest.mark.parametrize("index", range(RANDOM_KILLS))
def test_kill_9_at_a_random_moment_of_the_refresh(world, tmp_path, index):
    moment = _random_moments(RANDOM_KILLS, world.refresh_seconds)[index]
    _, data = _kill_then_recover(world, tmp_path, REFRESH, world.reference, kill_after=moment)
    # The killed run's versions are superseded by the recovering commit and removed: a partition keeps its
    # committed version and at most the previous generation's (analysts' open connections may read it).
    assert most_versions_per_partition(data) <= 2


@pytest.mark.parametrize("point", [pytest.param("catalog_built", marks=FULL_ONLY), "catalog_committed"])
def test_kill_9_during_the_catalog_publish(world, tmp_path, point):
    data, home = world.copy(tmp_path)
    code, output = run_refresh(world.base_url, data, home, world.second, REFRESH, crash_at=point)
    assert code == -9, output[-3000:]
    state = _assert_whole_and_from_one_release(world, data, [world.baseline])
    assert state.releases == (world.first,)  # the old catalog is still the one analysts open
    assert leftovers(data), "the killed publish should have left its temporary catalog (removed next run)"
    code, output = run_refresh(world.base_url, data, home, world.second, REFRESH)
    assert code == 0, output[-4000:]
    assert published_state(data) == world.reference
    assert leftovers(data) == []


@FULL_ONLY
def test_kill_9_between_a_model_registration_and_its_scores(world, tmp_path):
    _kill_then_recover(world, tmp_path, REFRESH_AND_TRAIN, world.reference_trained, crash_at="after_model_registration")


def test_a_killed_run_is_marked_failed_once_its_worker_is_gone_and_a_live_one_is_left_alone(world, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, build_sensor_context
    from reliability_state import RUNNER, wait_for

    from orchestration.sensors import mark_dead_runs_failed

    data, home = world.copy(tmp_path)
    process = subprocess.Popen(
        [sys.executable, str(RUNNER), "--base-url", world.base_url, "--data-dir", str(data), "--release", world.second],
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with DagsterInstance.from_config(str(home)) as instance:

        def started():
            return instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED]))

        try:
            assert wait_for(lambda: bool(started()), timeout=120), "the refresh never started"
            live = mark_dead_runs_failed(build_sensor_context(instance=instance))
            assert "no dead runs" in live.skip_message  # its worker is running: left alone
            run_id = started()[0].dagster_run.run_id
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED  # what Dagster alone leaves
        result = mark_dead_runs_failed(build_sensor_context(instance=instance))
        assert run_id in result.skip_message
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE
        assert "no dead runs" in mark_dead_runs_failed(build_sensor_context(instance=instance)).skip_message
