"""The release sensor: a new GDC data_release adds a partition and requests a refresh run."""

from __future__ import annotations

from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource
from orchestration.sensors import gdc_release_sensor


def _evaluate(instance: DagsterInstance, base_url: str, **overrides):
    context = build_sensor_context(
        instance=instance,
        resources={"gdc": GdcApiResource(base_url=base_url, backoff_factor=0.01, **overrides)},
    )
    return gdc_release_sensor(context)


def _apply(instance: DagsterInstance, result: SensorResult) -> None:
    # What the daemon does with the sensor's partition requests.
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def test_new_gdc_release_adds_a_partition_and_requests_one_refresh_run(gdc_standin_factory, synthetic_two_release_root):
    root, first, second = synthetic_two_release_root
    server = gdc_standin_factory(root)
    instance = DagsterInstance.ephemeral()

    server.set_release(first)
    result = _evaluate(instance, server.base_url)
    assert isinstance(result, SensorResult)
    assert [r.partition_key for r in result.run_requests] == [first]
    assert result.dynamic_partitions_requests[0].partition_keys == [first]
    _apply(instance, result)

    # Same release again: nothing to do.
    again = _evaluate(instance, server.base_url)
    assert isinstance(again, SkipReason)
    assert first in again.skip_message

    # GDC publishes the next release: a second partition, a second run.
    server.set_release(second)
    result = _evaluate(instance, server.base_url)
    assert [r.partition_key for r in result.run_requests] == [second]
    assert result.run_requests[0].run_key == f"gdc-release-{second}"
    _apply(instance, result)
    assert set(instance.get_dynamic_partitions(gdc_releases.name)) == {first, second}


def test_gdc_down_is_a_skip_with_the_reason_not_a_crash(gdc_standin_factory, synthetic_two_release_root):
    root, _, _ = synthetic_two_release_root
    server = gdc_standin_factory(root)
    server.faults.inject("http_503", endpoint="/status", times=None)
    result = _evaluate(DagsterInstance.ephemeral(), server.base_url, max_retries=1)
    assert isinstance(result, SkipReason)
    assert "/status" in result.skip_message or "status" in result.skip_message
