"""The release sensor against the stand-in over HTTP: a new GDC data_release adds one partition and
requests one refresh run; the same release is a skip; /status down or slow is a skip within the tick
budget, naming the URL and the error."""

from __future__ import annotations

import time

from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource
from orchestration.sensors import LOCAL_POLL_SECONDS, TICK_BUDGET_SECONDS, gdc_release_sensor


def _evaluate(instance: DagsterInstance, base_url: str, cursor: str | None = None):
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"gdc": GdcApiResource(base_url=base_url)}
    )
    return gdc_release_sensor(context), context


def _apply(instance: DagsterInstance, result: SensorResult) -> None:
    # What the daemon does with the sensor's partition requests.
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def test_new_gdc_release_adds_a_partition_and_requests_one_refresh_run(gdc_standin_factory, synthetic_two_release_root):
    root, first, second = synthetic_two_release_root
    server = gdc_standin_factory(root)
    instance = DagsterInstance.ephemeral()

    server.set_release(first)
    result, _ = _evaluate(instance, server.base_url)
    assert isinstance(result, SensorResult)
    assert [r.partition_key for r in result.run_requests] == [first]
    assert result.run_requests[0].tags["glioma/release"] == first
    assert result.dynamic_partitions_requests[0].partition_keys == [first]
    _apply(instance, result)

    # Same release again: nothing to do.
    again, _ = _evaluate(instance, server.base_url)
    assert isinstance(again, SkipReason)
    assert first in again.skip_message and "already a partition" in again.skip_message

    # GDC publishes the next release: a second partition, a second run with its own run key.
    server.set_release(second)
    result, _ = _evaluate(instance, server.base_url)
    assert [r.partition_key for r in result.run_requests] == [second]
    assert result.run_requests[0].run_key == f"gdc-release-{second}"
    _apply(instance, result)
    assert set(instance.get_dynamic_partitions(gdc_releases.name)) == {first, second}


def test_the_sensor_polls_the_stand_in_every_minute_and_keeps_the_last_poll_in_its_cursor(
    gdc_standin_factory, synthetic_two_release_root
):
    root, first, _ = synthetic_two_release_root
    server = gdc_standin_factory(root)
    server.set_release(first)
    instance = DagsterInstance.ephemeral()
    result, context = _evaluate(instance, server.base_url)
    assert isinstance(result, SensorResult)
    _apply(instance, result)
    polled_at = float(context.cursor)
    # A tick within the poll interval does not call GDC at all.
    requests_before = len(server.request_log)
    skipped, _ = _evaluate(instance, server.base_url, cursor=str(polled_at))
    assert isinstance(skipped, SkipReason) and f"polling every {LOCAL_POLL_SECONDS}s" in skipped.skip_message
    assert len(server.request_log) == requests_before


def test_gdc_down_is_a_skip_naming_the_url_and_error_within_the_budget(gdc_standin_factory, synthetic_two_release_root):
    root, _, _ = synthetic_two_release_root
    server = gdc_standin_factory(root)
    server.faults.inject("http_503", endpoint="/status", times=None)
    started = time.monotonic()
    result, _ = _evaluate(DagsterInstance.ephemeral(), server.base_url)
    elapsed = time.monotonic() - started
    assert isinstance(result, SkipReason)
    assert f"{server.base_url}/status" in result.skip_message and "503" in result.skip_message
    assert elapsed < TICK_BUDGET_SECONDS


def test_gdc_slow_is_a_skip_within_the_budget(gdc_standin_factory, synthetic_two_release_root):
    root, _, _ = synthetic_two_release_root
    server = gdc_standin_factory(root)
    server.faults.inject("latency", endpoint="/status", times=None, seconds=45)
    started = time.monotonic()
    result, _ = _evaluate(DagsterInstance.ephemeral(), server.base_url)
    elapsed = time.monotonic() - started
    assert isinstance(result, SkipReason)
    assert "could not be read" in result.skip_message and f"{server.base_url}/status" in result.skip_message
    assert elapsed < TICK_BUDGET_SECONDS, elapsed


def test_nothing_listening_is_a_skip_within_seconds():
    started = time.monotonic()
    result, _ = _evaluate(DagsterInstance.ephemeral(), "http://127.0.0.1:9")
    assert isinstance(result, SkipReason) and "http://127.0.0.1:9/status" in result.skip_message
    assert time.monotonic() - started < 10
