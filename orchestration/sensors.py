"""Sensors: a new GDC release starts its refresh (score first); a finished refresh starts the challenger
training for that release; every failed run is recorded in ops/run_failures; a run whose worker died is
marked failed."""

import time
from datetime import UTC, datetime
from typing import Any

from dagster import (
    DagsterEventType,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource, LakeResource
from gdc.client import LIVE_GDC_BASE_URL
from lake.files import process_alive
from lake.ops_records import record_run_failure
from orchestration.jobs import analyse_expression_job, refresh_release_job, train_challengers_job

# GDC publishes about three releases a year: the live API's /status is polled hourly (polite and quick
# enough). Any other base URL (the local stand-in, a mirror) is polled every minute, so a release written
# into the demo root is seen at once. The sensor ticks every minute and keeps its last poll in its cursor.
LIVE_POLL_SECONDS = 3600
LOCAL_POLL_SECONDS = 60
TICK_SECONDS = 60
# Dagster kills a sensor tick after 60 s; GdcApiResource.served_release stays well inside it.
TICK_BUDGET_SECONDS = 20.0
PARTITION_TAG = "dagster/partition"


def poll_interval_seconds(base_url: str) -> int:
    return LIVE_POLL_SECONDS if base_url.rstrip("/") == LIVE_GDC_BASE_URL else LOCAL_POLL_SECONDS


@sensor(
    job=refresh_release_job,
    minimum_interval_seconds=TICK_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Polls GDC /status (hourly for the live API, every minute for the stand-in; within a 20 s budget); a new "
        "data_release adds a partition and requests the refresh of every asset for it. Against the live API this "
        "starts a full download of the glioma projects."
    ),
)
def gdc_release_sensor(context: SensorEvaluationContext, gdc: GdcApiResource) -> SensorResult | SkipReason:
    now = time.time()
    last_poll = float(context.cursor) if context.cursor else 0.0
    interval = poll_interval_seconds(gdc.base_url)
    if now - last_poll < interval - 1:
        return SkipReason(
            f"GDC /status at {gdc.base_url} was polled {now - last_poll:.0f}s ago; polling every {interval}s"
        )
    context.update_cursor(str(now))
    release, said = gdc.served_release(context.log)
    if release is None:
        return SkipReason(said)
    if context.instance.has_dynamic_partition(gdc_releases.name, release):
        return SkipReason(f"{said}; it is already a partition")
    context.log.info(f"new GDC data release: {said}")
    return SensorResult(
        # The run key makes a second request for the same release a no-op, whichever tick sends it.
        run_requests=[
            RunRequest(
                run_key=f"gdc-release-{release}",
                partition_key=release,
                tags={"glioma/release": release, "glioma/trigger": "release_sensor"},
            )
        ],
        dynamic_partitions_requests=[gdc_releases.build_add_request([release])],
    )


def _after_success(name: str, monitored, requested, trigger: str, description: str, key_prefix: str):
    """A sensor that requests `requested` for the release of every successful run of `monitored`."""

    @run_status_sensor(
        name=name,
        run_status=DagsterRunStatus.SUCCESS,
        monitored_jobs=[monitored],
        request_job=requested,
        default_status=DefaultSensorStatus.RUNNING,
        description=description,
    )
    def follow_up(context: RunStatusSensorContext) -> RunRequest | SkipReason:
        run = context.dagster_run
        release = run.tags.get(PARTITION_TAG)
        if not release:
            return SkipReason(f"run {run.run_id} has no release partition")
        return RunRequest(
            run_key=f"{key_prefix}-{run.run_id}",
            partition_key=release,
            tags={"glioma/release": release, "glioma/trigger": f"{trigger} run {run.run_id}"},
        )

    return follow_up


train_after_refresh = _after_success(
    "train_after_refresh",
    refresh_release_job,
    train_challengers_job,
    "refresh",
    "After a release is scored and published, train and judge the challengers on it (off the scoring path).",
    key_prefix="train-after",
)
analyse_after_training = _after_success(
    "analyse_after_training",
    train_challengers_job,
    analyse_expression_job,
    "training",
    "After the challengers of a release (its final champion), run the expression analyses on it.",
    key_prefix="analyse-after",
)


def failed_steps(context: RunFailureSensorContext) -> tuple[list[str], str]:
    """Step keys that failed and the first step error (the run-level message when no step failed)."""
    steps, first_error = [], None
    for record in context.instance.all_logs(context.dagster_run.run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        if event is None:
            continue
        if event.step_key and event.step_key not in steps:
            steps.append(event.step_key)
        if first_error is None:
            data = event.step_failure_data
            first_error = data.error.to_string() if data and data.error else event.message
    return steps, first_error or context.failure_event.message or "run failed"


@run_failure_sensor(
    default_status=DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description="Records every failed run (run id, release, failed steps, error, time) in ops/run_failures.",
)
def record_failed_runs(context: RunFailureSensorContext, lake: LakeResource) -> None:
    run = context.dagster_run
    steps, error = failed_steps(context)
    record = context.instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record is not None else None  # when Dagster marked the run failed
    when = datetime.fromtimestamp(ended, UTC) if ended else datetime.now(UTC)
    path = record_run_failure(
        lake.lake,
        run_id=run.run_id,
        job_name=run.job_name,
        release=run.tags.get(PARTITION_TAG),
        failed_steps=steps,
        error=error,
        failed_at=when,
    )
    context.log.info(f"recorded failed run {run.run_id} ({run.job_name}, steps {steps}) in {path}")


def dead_run_worker(instance: Any, run_id: str) -> int | None:
    """The pid of a STARTED run's worker on this host if that process is gone, else None."""
    starts = instance.all_logs(run_id, of_type=DagsterEventType.RUN_START)
    pid = starts[0].dagster_event.pid if starts and starts[0].dagster_event else None
    if pid is None or process_alive(pid):
        return None
    return pid


@sensor(
    minimum_interval_seconds=TICK_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Marks a STARTED run failed when its run worker process is gone (kill -9, OOM). Dagster's run monitoring "
        "does this for launchers that can check worker health (Kubernetes, Docker); the local launcher cannot."
    ),
)
def mark_dead_runs_failed(context: SensorEvaluationContext) -> SkipReason:
    instance = context.instance
    if instance.run_launcher.supports_check_run_worker_health:
        return SkipReason("the run launcher checks worker health itself (run monitoring)")
    marked = []
    for record in instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED]), limit=100):
        run = record.dagster_run
        pid = dead_run_worker(instance, run.run_id)
        if pid is None:
            continue
        instance.report_run_failed(
            run,
            message=(
                f"run worker process {pid} is gone (killed or out of memory); marked failed by mark_dead_runs_failed"
            ),
        )
        marked.append(run.run_id)
    return SkipReason(f"marked {len(marked)} dead run(s) failed: {marked}" if marked else "no dead runs")


SENSORS = [gdc_release_sensor, train_after_refresh, analyse_after_training, record_failed_runs, mark_dead_runs_failed]
