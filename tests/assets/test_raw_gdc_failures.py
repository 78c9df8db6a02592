"""Every raw asset turns a GDC error into a failure through one mapping (assets.raw.gdc_failures): the API's own
500 (a JSON `{"message": ...}` body, the same answer every time) fails the step at once, without the step
retries that a gateway outage gets. Run for real: the stand-in answers the error over HTTP."""

from __future__ import annotations

import time

import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from assets.partitions import gdc_releases
from assets.raw import RAW_ASSETS
from assets.resources import GdcApiResource, GenePanelResource, LakeResource
from assets.specs import GDC_RETRY_POLICY

# raw asset -> the stand-in endpoint it reads (GDC_API_FACTS.md): a permanent error there must fail it at once.
ENDPOINTS = {
    "gdc_release": "/status",
    "raw/gdc_cases": "/cases",
    "raw/gdc_ssm_occurrences": "/ssm_occurrences",
    "raw/gdc_cnv_occurrences": "/cnv_occurrences",
    "raw/gdc_methylation_files": "/files",
    "raw/mgmt_probe_betas": "/data",
}


def test_every_raw_asset_has_its_endpoint_here():
    keys = {key.to_user_string() for asset in RAW_ASSETS for key in asset.keys}
    assert keys == set(ENDPOINTS)


@pytest.mark.parametrize("asset_key", list(ENDPOINTS))
def test_the_apis_own_500_fails_the_raw_asset_at_once_without_step_retries(
    asset_key, gdc_standin_factory, synthetic_two_release_root, tmp_path
):
    root, release, _ = synthetic_two_release_root
    server = gdc_standin_factory(root)
    server.set_release(release)
    server.faults.inject("http_500", endpoint=ENDPOINTS[asset_key], times=None)
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(gdc_releases.name, [release])
    key = AssetKey.from_user_string(asset_key)

    started = time.monotonic()
    result = materialize(
        RAW_ASSETS,
        selection=AssetSelection.assets(key).upstream(),
        partition_key=release,
        instance=instance,
        raise_on_error=False,
        resources={
            "gdc": GdcApiResource(base_url=server.base_url, backoff_factor=0.01, max_retries=1),
            "lake": LakeResource(data_dir=str(tmp_path)),
            "gene_panels": GenePanelResource(),
        },
    )
    elapsed = time.monotonic() - started

    assert not result.success
    events = result.all_events
    failures = [e for e in events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == [key.to_python_identifier()]
    error = str(failures[0].event_specific_data.error)
    assert "HTTP 500" in error and "not transient: the step is not retried" in error
    assert [e for e in events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []
    # Well inside one step-retry delay: nothing waited for a retry that could not help.
    assert elapsed < GDC_RETRY_POLICY.delay + 30
