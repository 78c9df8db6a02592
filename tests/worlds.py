"""One real two-release catalog for the catalog-view and CLI tests: the real jobs (refresh, then
challengers, for each release) against the stand-in over HTTP, built once per test session."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dagster import instance_for_test

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
from orchestration.definitions import build_definitions


def run_pipeline(root: Path, releases: tuple[str, ...], data_dir: Path, lake_url: str = "") -> dict[str, float]:
    """Refresh then train challengers for each release, as the sensors do; seconds per run."""
    from sandbox.gdc_standin import GdcStandIn

    seconds: dict[str, float] = {}
    server = GdcStandIn(root, port=0)
    server.start()
    try:
        resources = {
            "gdc": GdcApiResource(base_url=server.base_url, backoff_factor=0.01, max_retries=1),
            "lake": LakeResource(data_dir=str(data_dir), lake_url=lake_url),
            "gene_panels": GenePanelResource(),
            "model_training": ModelTrainingResource(n_splits=2, n_repeats=1, survival_baselines=False),
        }
        with instance_for_test() as instance:
            defs = build_definitions(resources)
            for release in releases:
                server.set_release(release)
                instance.add_dynamic_partitions(gdc_releases.name, [release])
                for job in ("refresh_gdc_release", "train_challengers"):
                    started = time.monotonic()
                    result = defs.resolve_job_def(job).execute_in_process(
                        partition_key=release, instance=instance, raise_on_error=False
                    )
                    seconds[f"{release} {job}"] = time.monotonic() - started
                    failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
                    assert result.success, f"{job} for {release} failed at {failed}"
    finally:
        server.stop()
    return seconds


@pytest.fixture(scope="session")
def two_release_catalog(synthetic_two_release_root, tmp_path_factory) -> tuple[Path, str, str]:
    """(data dir with lake, registry and warehouse.duckdb, first release, second release). Read-only for tests."""
    root, first, second = synthetic_two_release_root
    data_dir = tmp_path_factory.mktemp("two_release_catalog")
    run_pipeline(root, (first, second), data_dir)
    return data_dir, first, second
