"""Operations with real runs: the daily backstop schedule, the run-failure record in ops/run_failures
(and in the catalog), the publish-after-refresh sensor and the GDC freshness check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    instance_for_test,
    materialize,
)

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
from assets.warehouse import analytics_catalog
from lake.ops_records import read_run_failures
from lake.store import Lake
from orchestration.definitions import build_definitions
from orchestration.schedules import daily_release_backstop
from orchestration.sensors import analyse_after_training, record_failed_runs, train_after_refresh


def _resources(base_url: str, data_dir: Path) -> dict:
    return {
        "gdc": GdcApiResource(base_url=base_url, backoff_factor=0.01, max_retries=1),
        "lake": LakeResource(data_dir=str(data_dir)),
        "gene_panels": GenePanelResource(),
        "model_training": ModelTrainingResource(
            n_splits=2, n_repeats=1, survival_baselines=False, classifier_baselines=False
        ),
    }


def _failing_refresh(base_url: str, data_dir: Path, instance: DagsterInstance, release: str = "44.0"):
    """A real refresh_gdc_release run that fails: the stand-in serves another release than the partition."""
    if not instance.has_dynamic_partition(gdc_releases.name, release):
        instance.add_dynamic_partitions(gdc_releases.name, [release])
    defs = build_definitions(_resources(base_url, data_dir))
    return defs.resolve_job_def("refresh_gdc_release").execute_in_process(
        partition_key=release, instance=instance, raise_on_error=False
    )


@pytest.fixture(scope="module")
def instance():
    # A persistent temporary instance: schedules need an instance reference, runs are queryable.
    with instance_for_test() as temporary:
        yield temporary


@pytest.fixture(scope="module")
def standin(synthetic_two_release_root):
    from sandbox.gdc_standin import GdcStandIn

    root, first, _ = synthetic_two_release_root
    server = GdcStandIn(root, port=0)
    server.start()
    server.set_release(first)
    yield server, first
    server.stop()


class Refreshed(NamedTuple):
    refresh: Any  # the refresh_gdc_release run's ExecuteInProcessResult
    data_dir: Path
    defs: Any  # the Definitions both ran with, built while this module's instance was the current one
    training: Any  # the train_challengers run's ExecuteInProcessResult


@pytest.fixture(scope="module")
def refreshed(standin, instance, tmp_path_factory) -> Refreshed:
    """Real, successful refresh_gdc_release and train_challengers runs of the served release."""
    server, release = standin
    data_dir = tmp_path_factory.mktemp("refreshed")
    if not instance.has_dynamic_partition(gdc_releases.name, release):
        instance.add_dynamic_partitions(gdc_releases.name, [release])
    defs = build_definitions(_resources(server.base_url, data_dir))
    result = defs.resolve_job_def("refresh_gdc_release").execute_in_process(partition_key=release, instance=instance)
    assert result.success
    # The first release has no champion to score it yet: train_challengers trains it and scores the release.
    training = defs.resolve_job_def("train_challengers").execute_in_process(partition_key=release, instance=instance)
    assert training.success
    return Refreshed(result, data_dir, defs, training)


def _schedule_context(instance: DagsterInstance, base_url: str):
    return build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime(2026, 12, 1, 6, tzinfo=UTC),
        resources={"gdc": GdcApiResource(base_url=base_url, backoff_factor=0.01)},
    )


def test_backstop_adds_a_missing_release_and_requests_its_refresh(standin):
    server, release = standin
    with instance_for_test() as fresh:
        result = daily_release_backstop(_schedule_context(fresh, server.base_url))
        assert isinstance(result, RunRequest) and result.partition_key == release
        assert result.run_key == f"backstop-{release}-2026-12-01"
        assert fresh.has_dynamic_partition(gdc_releases.name, release)


def test_backstop_retries_a_release_whose_last_refresh_failed_and_skips_one_that_succeeded(
    standin, tmp_path, refreshed, instance
):
    server, release = standin
    with instance_for_test() as fresh:
        fresh.add_dynamic_partitions(gdc_releases.name, [release])
        # A real refresh that fails: /cases answers broken JSON every time (not transient: no step retry).
        server.faults.inject("truncated_json", endpoint="/cases", times=None)
        try:
            failed = _failing_refresh(server.base_url, tmp_path, fresh, release=release)
        finally:
            server.faults.clear()
        assert not failed.success
        retry = daily_release_backstop(_schedule_context(fresh, server.base_url))
        assert isinstance(retry, RunRequest) and retry.partition_key == release
    # The module's instance holds a successful refresh of the same release: nothing to do.
    skipped = daily_release_backstop(_schedule_context(instance, server.base_url))
    assert isinstance(skipped, SkipReason) and "succeeded" in skipped.skip_message


def test_backstop_with_gdc_down_is_a_skip_naming_the_url(instance):
    result = daily_release_backstop(_schedule_context(instance, "http://127.0.0.1:9"))
    assert isinstance(result, SkipReason) and "http://127.0.0.1:9/status" in result.skip_message


def test_a_failed_run_is_recorded_with_release_step_and_error_and_shows_in_the_catalog(standin, tmp_path):
    server, served = standin
    with instance_for_test() as instance:
        _record_a_real_failure(server, served, tmp_path, instance)


def _record_a_real_failure(server, served, tmp_path, instance):
    result = _failing_refresh(server.base_url, tmp_path, instance, release="44.0")
    assert not result.success
    failure_event = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE)
    context = build_run_status_sensor_context(
        sensor_name="record_failed_runs",
        dagster_event=failure_event,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources={"lake": LakeResource(data_dir=str(tmp_path))},
    ).for_run_failure()
    record_failed_runs(context)
    record_failed_runs(context)  # the same failure twice: still one row (one file per run id)

    failures = read_run_failures(Lake(tmp_path))
    assert failures.height == 1
    row = failures.row(0, named=True)
    assert row["run_id"] == result.run_id and row["release"] == "44.0" and row["job_name"] == "refresh_gdc_release"
    assert row["failed_steps"] == "gdc_release"
    assert f"GDC serves data release {served}" in row["error"] and "partition 44.0" in row["error"]

    assert materialize([analytics_catalog], resources={"lake": LakeResource(data_dir=str(tmp_path))}).success
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as catalog:
        assert catalog.execute("select run_id, release, failed_steps from ops.run_failures").fetchall() == [
            (result.run_id, "44.0", "gdc_release")
        ]


def test_a_successful_refresh_requests_one_challenger_training_run_for_its_release(standin, refreshed, instance):
    _, release = standin
    result = refreshed.refresh
    success = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_SUCCESS)
    context = build_run_status_sensor_context(
        sensor_name="train_after_refresh",
        dagster_event=success,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    )
    request = train_after_refresh(context)
    assert isinstance(request, RunRequest) and request.run_key == f"train-after-{result.run_id}"
    assert request.partition_key == release and request.tags["glioma/release"] == release


def test_a_successful_training_run_requests_the_expression_analyses_of_its_release(standin, refreshed, instance):
    _, release = standin
    result = refreshed.training
    assert result.dagster_run.job_name == "train_challengers"
    success = next(e for e in result.all_events if e.event_type == DagsterEventType.RUN_SUCCESS)
    context = build_run_status_sensor_context(
        sensor_name="analyse_after_training",
        dagster_event=success,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    )
    request = analyse_after_training(context)
    assert isinstance(request, RunRequest) and request.run_key == f"analyse-after-{result.run_id}"
    assert request.partition_key == release and request.tags["glioma/release"] == release
    assert analyse_after_training.job_name == "analyse_expression"


def _freshness(defs, instance: DagsterInstance) -> tuple[bool, dict]:
    result = defs.resolve_job_def("check_gdc_freshness").execute_in_process(raise_on_error=False, instance=instance)
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    return evaluation.passed, {k: v.value for k, v in evaluation.metadata.items()}


def test_freshness_check_fails_when_gdc_is_ahead_of_the_newest_materialised_release(
    standin, refreshed, synthetic_two_release_root, instance
):
    server, release = standin
    defs = refreshed.defs
    _, _, newer = synthetic_two_release_root
    passed, metadata = _freshness(defs, instance)
    assert passed and metadata["gdc_serves"] == metadata["newest_materialised_release"] == release
    server.set_release(newer)
    try:
        passed, metadata = _freshness(defs, instance)
    finally:
        server.set_release(release)
    assert not passed and metadata["gdc_serves"] == newer and metadata["newest_materialised_release"] == release


def test_one_check_of_a_table_runs_on_its_own(standin, refreshed, instance):
    """What the UI's 'Execute' on a single check does: only that check runs and reports."""
    from dagster import AssetCheckKey, AssetKey

    _, release = standin
    defs = refreshed.defs
    key = AssetCheckKey(AssetKey(["raw", "gdc_cases"]), "warning_expectations")
    job = defs.resolve_job_def("refresh_gdc_release").get_subset(asset_selection=set(), asset_check_selection={key})
    result = job.execute_in_process(partition_key=release, instance=instance)
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert [(e.asset_key, e.check_name) for e in evaluations] == [(key.asset_key, key.name)]
