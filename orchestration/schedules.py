"""Schedules: a daily backstop to the release sensor, and a daily GDC freshness check.

The sensor misses a release when it is stopped, when GDC was down at every tick, or when the refresh
it started failed; the backstop looks at /status once a day and (re)starts the refresh of the served
release if it is missing or its last run failed.
"""

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource
from orchestration.jobs import check_gdc_freshness_job, refresh_release_job
from orchestration.sensors import PARTITION_TAG

UNFINISHED = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)


def backstop_decision(context: ScheduleEvaluationContext, gdc: GdcApiResource) -> RunRequest | SkipReason:
    release, said = gdc.served_release(context.log)
    if release is None:
        return SkipReason(said)
    instance = context.instance
    tick = context.scheduled_execution_time.strftime("%Y-%m-%d") if context.scheduled_execution_time else "manual"
    request = RunRequest(
        run_key=f"backstop-{release}-{tick}",
        partition_key=release,
        tags={"glioma/release": release, "glioma/trigger": "daily_backstop"},
    )
    if not instance.has_dynamic_partition(gdc_releases.name, release):
        instance.add_dynamic_partitions(gdc_releases.name, [release])
        return request
    runs = instance.get_runs(
        filters=RunsFilter(job_name=refresh_release_job.name, tags={PARTITION_TAG: release}), limit=1
    )
    if not runs:
        return request
    last = runs[0]
    if last.status in UNFINISHED:
        return SkipReason(f"{said}; its refresh run {last.run_id} is still {last.status.value}")
    if last.status == DagsterRunStatus.SUCCESS:
        return SkipReason(f"{said}; its last refresh run {last.run_id} succeeded")
    return request  # failed or canceled: try again


@schedule(
    job=refresh_release_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Daily backstop to gdc_release_sensor: refresh the release GDC serves if it is not a partition yet or its "
        "last refresh run failed."
    ),
)
def daily_release_backstop(context: ScheduleEvaluationContext, gdc: GdcApiResource) -> RunRequest | SkipReason:
    return backstop_decision(context, gdc)


@schedule(
    job=check_gdc_freshness_job,
    cron_schedule="30 6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Daily: the gdc_release_is_current check fails when GDC serves a release newer than the published one.",
)
def daily_freshness_check(context: ScheduleEvaluationContext) -> RunRequest:
    tick = context.scheduled_execution_time.strftime("%Y-%m-%d") if context.scheduled_execution_time else "manual"
    return RunRequest(run_key=f"freshness-{tick}")


SCHEDULES = [daily_release_backstop, daily_freshness_check]
