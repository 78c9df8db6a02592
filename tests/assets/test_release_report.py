"""The release report asset on a copy of the two-release world: drawn again from an unchanged lake, every figure is
the one already on disk (reused, not redrawn); a figure whose PNG is gone is drawn again, and only that one."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, materialize

from assets.partitions import gdc_releases
from assets.reports import FIGURE_FILES, release_report
from assets.resources import LakeResource

pytestmark = pytest.mark.slow


def _report_metadata(data_dir, release: str) -> dict:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(gdc_releases.name, [release])
    result = materialize(
        [release_report],
        partition_key=release,
        instance=instance,
        resources={"lake": LakeResource(data_dir=str(data_dir))},
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return {key: value.value for key, value in event.step_materialization_data.materialization.metadata.items()}


def test_a_report_of_an_unchanged_release_reuses_every_figure_and_redraws_a_missing_one(two_release_catalog_copy):
    data_dir, _, second = two_release_catalog_copy
    out = data_dir / "reports" / second
    before = {name: (out / name).read_bytes() for name in FIGURE_FILES.values() if (out / name).exists()}
    assert len(before) == len(FIGURE_FILES)  # the world's training run drew every model figure

    again = _report_metadata(data_dir, second)
    drawn = {path.name for path in out.glob("*.png")}
    assert again["figures_not_drawn"] == {}
    assert set(again["figures_reused"]) == drawn and again["plots"] == len(drawn)
    assert {name: (out / name).read_bytes() for name in before} == before

    (out / FIGURE_FILES["roc"]).unlink()
    third = _report_metadata(data_dir, second)
    assert set(third["figures_reused"]) == drawn - {FIGURE_FILES["roc"]}
    assert (out / FIGURE_FILES["roc"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert third["figures"]["roc"] == again["figures"]["roc"]  # drawn again from the same inputs
