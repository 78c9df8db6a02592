"""A release whose expression files and patients did not change: nothing is downloaded, parsed or copied in raw
(each file's rows stay in the partition of the release that first parsed it), and harmonised/expression is copied
from the previous release (same rows but for `release`), not recomputed."""

from __future__ import annotations

import polars as pl
import pytest
from dagster import DagsterInstance, materialize

from assets.expression import BUILT_FROM_KEY, EXPRESSION_ASSETS
from assets.harmonised import harmonised_patients
from assets.partitions import gdc_releases
from assets.raw import gdc_release, raw_gdc_cases
from assets.resources import GdcApiResource, GenePanelResource, LakeResource
from contracts.tables import (
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    RAW_EXPRESSION_COUNTS,
    RAW_EXPRESSION_FILE_QC,
)
from lake.store import Lake
from sandbox.synthetic import CohortSpec, write_bundle

pytestmark = pytest.mark.slow


def test_an_unchanged_release_reuses_the_parsed_files_and_copies_the_harmonised_table(tmp_path, gdc_standin_factory):
    root = tmp_path / "root"
    spec = CohortSpec(n_cases=40, seed=4, expression_genes=300, expression_on_demand=True)
    write_bundle(root, spec)
    # The next release is the same data under a new label (GDC republishes unchanged files).
    write_bundle(root, CohortSpec(**{**spec.__dict__, "release_label": "46.0"}))
    server = gdc_standin_factory(root)
    instance = DagsterInstance.ephemeral()
    data_dir = tmp_path / "data"
    resources = {
        "gdc": GdcApiResource(base_url=server.base_url, backoff_factor=0.01, max_retries=1),
        "lake": LakeResource(data_dir=str(data_dir)),
        "gene_panels": GenePanelResource(),
    }
    metadata = {}
    for release in ("45.0", "46.0"):
        server.set_release(release)
        instance.add_dynamic_partitions(gdc_releases.name, [release])
        result = materialize(
            [gdc_release, raw_gdc_cases, harmonised_patients, *EXPRESSION_ASSETS],
            partition_key=release,
            instance=instance,
            resources=resources,
        )
        assert result.success
        metadata[release] = {
            event.asset_key.path[-1]: event.materialization.metadata
            for event in result.get_asset_materialization_events()
        }
    second = metadata["46.0"]
    assert second["expression_counts"]["files_downloaded"].value == 0
    assert second["expression_counts"]["files_parsed_by_an_earlier_release"].value > 10
    assert second["expression_counts"]["dagster/row_count"].value == 0  # stored once, in 45.0's partition
    assert second["expression"]["copied_from_release"].value == "45.0"
    assert metadata["45.0"]["expression"]["copied_from_release"].value == "none (computed)"

    lake = Lake(data_dir, finished=lambda writer: True)
    qc = lake.read_table(RAW_EXPRESSION_FILE_QC, "46.0")
    assert set(qc["counts_release"]) == {"45.0"}
    assert lake.read_table(RAW_EXPRESSION_COUNTS, "46.0").is_empty()
    for table in (HARMONISED_EXPRESSION, HARMONISED_EXPRESSION_SAMPLES, RAW_EXPRESSION_FILE_QC):
        before, after = (lake.read_table(table, r).drop("release") for r in ("45.0", "46.0"))
        assert before.height > 0 and after.equals(before), table.path
    paths = [lake.table_path("harmonised", "expression", r) for r in ("45.0", "46.0")]
    built = [lake.footer_metadata(p)[BUILT_FROM_KEY] for p in paths]
    assert built[0] == built[1]
    assert set(lake.read_table(HARMONISED_EXPRESSION, "46.0")["release"]) == {"46.0"}
    assert (
        lake.read_table(HARMONISED_EXPRESSION_SAMPLES, "46.0").filter(pl.col("used"))["size_factor"].is_not_null().all()
    )
