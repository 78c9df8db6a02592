"""The raw-layer Dagster assets, materialised for real against the GDC stand-in over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from assets.partitions import gdc_releases
from assets.raw import RAW_ASSETS
from assets.resources import GdcApiResource, GenePanelResource, LakeResource
from assets.warehouse import analytics_catalog
from lake.store import Lake


def _materialize_raw(base_url: str, data_dir: Path, release: str, instance: DagsterInstance, **gdc_overrides):
    if not instance.has_dynamic_partition(gdc_releases.name, release):
        instance.add_dynamic_partitions(gdc_releases.name, [release])
    lake = LakeResource(data_dir=str(data_dir))
    result = materialize(
        RAW_ASSETS,
        partition_key=release,
        instance=instance,
        raise_on_error=False,
        resources={
            "gdc": GdcApiResource(base_url=base_url, page_size=250, backoff_factor=0.01, **gdc_overrides),
            "lake": lake,
            "gene_panels": GenePanelResource(),
        },
    )
    # The catalog publish runs on its own (unpartitioned) after the release's assets.
    assert materialize([analytics_catalog], instance=instance, resources={"lake": lake}).success
    return result


def _bundle_line_count(release_dir: Path, name: str) -> int:
    with open(release_dir / name, "rb") as handle:
        return sum(1 for _ in handle)


@pytest.mark.realdata
def test_raw_assets_for_the_real_dev_bundle_hold_every_document_of_the_release(
    real_dev_bundle, gdc_standin_factory, tmp_path
):
    server = gdc_standin_factory(real_dev_bundle)
    instance = DagsterInstance.ephemeral()
    result = _materialize_raw(server.base_url, tmp_path, "45.0", instance)
    assert result.success

    lake = Lake(tmp_path)
    release_dir = real_dev_bundle / "releases" / "45.0"
    cases = lake.read("raw", "gdc_cases", "45.0")
    assert cases.height == _bundle_line_count(release_dir, "cases.jsonl") == 777
    assert cases["case_id"].n_unique() == 777
    assert cases.group_by("project_id").len().sort("project_id").rows() == [("TCGA-GBM", 417), ("TCGA-LGG", 360)]
    assert lake.read("raw", "gdc_ssm_occurrences", "45.0").height == 1385
    assert lake.read("raw", "gdc_cnv_occurrences", "45.0").height == 10200
    files = lake.read("raw", "gdc_methylation_files", "45.0")
    assert files.height == 645
    betas = lake.read("raw", "mgmt_probe_betas", "45.0")
    assert betas.height == 2 * 645
    assert betas.filter(pl.col("probe_status") == "measured").height == 2 * 645

    # Lossless: the stored document is the bundle's document for every requested field.
    bundle_cases = {json.loads(line)["case_id"]: json.loads(line) for line in open(release_dir / "cases.jsonl")}
    stored = json.loads(cases.filter(pl.col("submitter_id") == "TCGA-02-0003")["document"][0])
    original = bundle_cases[stored["case_id"]]
    assert stored["demographic"] == original["demographic"]
    assert stored["diagnoses"] == original["diagnoses"]
    assert stored["available_variation_data"] == original["available_variation_data"]

    # Materialisation metadata carries counts, bytes, pages, retries, duration.
    materialization = instance.get_latest_materialization_event(AssetKey(["raw", "gdc_cases"])).asset_materialization
    for key in ("rows", "bytes", "pages", "retries", "duration_seconds"):
        assert key in materialization.metadata
    assert materialization.metadata["pages"].value == 4  # 777 cases at 250 a page
    betas_materialization = instance.get_latest_materialization_event(
        AssetKey(["raw", "mgmt_probe_betas"])
    ).asset_materialization
    # 645 small files come in two POST /data archives (500 a batch), not 645 requests.
    assert betas_materialization.metadata["archive_requests"].value == 2
    assert betas_materialization.metadata["files_downloaded"].value == 645

    # The catalog answers SQL over the lake, read-only.
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        assert connection.execute("select count(*) from raw.gdc_cases_current").fetchone()[0] == 777
        assert (
            connection.execute(
                "select count(distinct file_id) from raw.mgmt_probe_betas where release = '45.0'"
            ).fetchone()[0]
            == 645
        )


def test_a_file_fetched_by_an_earlier_release_is_not_downloaded_again(
    tmp_path, gdc_standin_factory, synthetic_two_release_root
):
    root, first, second = synthetic_two_release_root
    server = gdc_standin_factory(root)
    instance = DagsterInstance.ephemeral()
    data_dir = tmp_path / "data"

    # One GET per file here (no archives), so the request log names every file fetched.
    server.set_release(first)
    assert _materialize_raw(server.base_url, data_dir, first, instance, archive_batch_files=0).success
    first_downloads = [p for m, p, s in server.request_log if p.startswith("/data/")]

    server.set_release(second)
    server.request_log.clear()
    assert _materialize_raw(server.base_url, data_dir, second, instance, archive_batch_files=0).success
    second_downloads = {p.removeprefix("/data/") for m, p, s in server.request_log if p.startswith("/data/")}

    lake = Lake(data_dir)
    old = lake.read("raw", "gdc_methylation_files", first).select("file_id", "md5sum")
    new = lake.read("raw", "gdc_methylation_files", second).select("file_id", "md5sum")
    unchanged = new.join(old, on=["file_id", "md5sum"], how="semi")
    changed_or_new = new.join(old, on=["file_id", "md5sum"], how="anti")
    assert first_downloads, "the first release streamed its files"
    assert unchanged.height > 0 and changed_or_new.height > 0
    assert second_downloads == set(changed_or_new["file_id"].to_list())
    # Reused rows are carried into the new partition, tagged with the new release.
    betas = lake.read("raw", "mgmt_probe_betas", second)
    assert set(betas["file_id"].to_list()) == set(new["file_id"].to_list())
    assert betas["release"].unique().to_list() == [second]


def test_partition_for_a_release_gdc_no_longer_serves_fails_and_writes_nothing(
    tmp_path, gdc_standin_factory, synthetic_two_release_root
):
    root, first, second = synthetic_two_release_root
    server = gdc_standin_factory(root)
    server.set_release(second)
    result = _materialize_raw(server.base_url, tmp_path, first, DagsterInstance.ephemeral(), max_retries=0)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "GDC serves data release 46.0, but partition 45.0 was requested" in str(failure.event_specific_data.error)
    assert not (tmp_path / "lake" / "raw").exists() or not any((tmp_path / "lake" / "raw").rglob("*.parquet"))
