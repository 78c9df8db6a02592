"""Watch GDC for a new data release; add it as a partition and request a full refresh run."""


from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from orchestration.gdc_client import GdcError
from orchestration.jobs import refresh_release_job
from orchestration.partitions import gdc_releases
from orchestration.resources import GdcApiResource

# GDC publishes about three releases a year; hourly polling of /status is polite and quick enough.
POLL_INTERVAL_SECONDS = 3600


@sensor(
    job=refresh_release_job,
    minimum_interval_seconds=POLL_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Polls GDC /status; a new data_release adds a partition and requests the refresh of every asset.",
)
def gdc_release_sensor(context: SensorEvaluationContext, gdc: GdcApiResource) -> SensorResult | SkipReason:
    try:
        status = gdc.client(logger=context.log).status()
    except GdcError as error:
        return SkipReason(f"GDC /status at {gdc.base_url} could not be read: {error}")
    release = status.data_release_label
    if context.instance.has_dynamic_partition(gdc_releases.name, release):
        return SkipReason(f"GDC still serves data release {release}; it is already a partition")
    context.log.info(f"new GDC data release {release} ({status.raw.get('data_release')})")
    return SensorResult(
        run_requests=[RunRequest(run_key=f"gdc-release-{release}", partition_key=release)],
        dynamic_partitions_requests=[gdc_releases.build_add_request([release])],
    )
