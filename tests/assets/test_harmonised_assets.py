"""The harmonised assets read only what their transforms use (projected columns, lazy scans of the raw
files), yet write exactly what the transforms give on the whole raw tables; the reconcile check, which reads
three key columns, agrees. Materialised by Dagster on a small two-release lake whose raw tables carry
recorded bad values and marker defects of every kind (tests/transforms/test_harmonise_memory_paths.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest
from dagster import DagsterInstance, materialize
from polars.testing import assert_frame_equal

from assets.checks import raw_cases_reconcile
from assets.harmonised import HARMONISED_ASSETS, QUARANTINE_PARTS
from assets.partitions import gdc_releases
from assets.resources import LakeResource
from contracts.schemas import QUARANTINE_SCHEMA
from contracts.tables import (
    HARMONISED_EXPRESSION_REJECTS,
    HARMONISED_MARKER_REJECTS,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_PATIENT_REJECTS,
    HARMONISED_PATIENTS,
    HARMONISED_QUARANTINE,
    HARMONISED_WHO_CNS5_CLASS,
    RAW_CASES,
    RAW_CNV_OCCURRENCES,
    RAW_MGMT_PROBE_BETAS,
    RAW_SSM_OCCURRENCES,
)
from lake.store import Lake
from sandbox.bundle_tables import raw_tables_from_bundle
from sandbox.synthetic import CohortSpec, write_multi_release
from transforms.markers import call_molecular_markers
from transforms.patients import harmonise_patients
from transforms.who_cns5 import classify_who_cns5

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transforms"))
from test_harmonise_memory_paths import _with_marker_defects  # noqa: E402

RELEASES = ("45.0", "46.0")
RAW_INPUTS = (RAW_CASES, RAW_SSM_OCCURRENCES, RAW_CNV_OCCURRENCES, RAW_MGMT_PROBE_BETAS)


@pytest.fixture(scope="module")
def materialised(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """A lake with committed raw tables of two releases, and every harmonised asset materialised on it."""
    root = tmp_path_factory.mktemp("harmonised_assets_bundle")
    write_multi_release(
        root,
        CohortSpec(n_cases=120, seed=5, release_label="45.0", bad_value_share=0.3),
        releases=RELEASES,
        change_share=0.2,
    )
    data_dir = tmp_path_factory.mktemp("harmonised_assets_lake")
    lake = Lake(data_dir)
    raw: dict[str, dict] = {}
    committed: dict[str, dict] = {}
    for release in RELEASES:
        raw[release] = dict(
            zip((t.path for t in RAW_INPUTS), _with_marker_defects(raw_tables_from_bundle(root, release)), strict=True)
        )
        committed[release] = {
            table.path: lake.write_table(table, raw[release][table.path], release).path for table in RAW_INPUTS
        }
        # This bundle has no RNA-seq: the expression step (not under test here) rejects nothing.
        no_rejects = pl.DataFrame(schema=QUARANTINE_SCHEMA)
        committed[release][HARMONISED_EXPRESSION_REJECTS.path] = lake.write_table(
            HARMONISED_EXPRESSION_REJECTS, no_rejects, release
        ).path
    lake.commit(committed)

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(gdc_releases.name, list(RELEASES))
    for release in RELEASES:
        result = materialize(
            [*HARMONISED_ASSETS, raw_cases_reconcile],
            partition_key=release,
            instance=instance,
            resources={"lake": LakeResource(data_dir=str(data_dir))},
        )
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert [check.passed for check in checks] == [True]
    return data_dir, raw


def _quarantine_sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(list(QUARANTINE_SCHEMA), nulls_last=True)  # a group_by part has no defined row order


@pytest.mark.parametrize("release", RELEASES)
def test_harmonised_assets_write_what_the_transforms_give_on_the_whole_raw_tables(
    materialised, release, tmp_path
) -> None:
    data_dir, raw = materialised
    written = Lake(data_dir, finished=lambda writer: True)  # the test's Dagster runs succeeded
    frames = raw[release]
    patients = harmonise_patients(frames[RAW_CASES.path])
    markers = call_molecular_markers(*(frames[table.path] for table in RAW_INPUTS), release=release)
    assert patients.quarantine.height > 0 and markers.quarantine.height > 0

    def read(table) -> pl.DataFrame:
        return written.read_table(table, release)

    def stored(table, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` as the lake stores it (write_table may order the rows of a lookup table)."""
        scratch.write_table(table, frame, release)
        return scratch.read_table(table, release)

    scratch = Lake(tmp_path)
    assert_frame_equal(read(HARMONISED_PATIENTS), stored(HARMONISED_PATIENTS, patients.patients))
    assert_frame_equal(read(HARMONISED_PATIENT_REJECTS), stored(HARMONISED_PATIENT_REJECTS, patients.quarantine))
    assert_frame_equal(read(HARMONISED_MOLECULAR_MARKERS), stored(HARMONISED_MOLECULAR_MARKERS, markers.markers))
    assert_frame_equal(_quarantine_sorted(read(HARMONISED_MARKER_REJECTS)), _quarantine_sorted(markers.quarantine))
    assert_frame_equal(
        read(HARMONISED_WHO_CNS5_CLASS),
        stored(
            HARMONISED_WHO_CNS5_CLASS, classify_who_cns5(read(HARMONISED_PATIENTS), read(HARMONISED_MOLECULAR_MARKERS))
        ),
    )
    assert_frame_equal(
        _quarantine_sorted(read(HARMONISED_QUARANTINE)),
        _quarantine_sorted(pl.concat([read(part) for part in QUARANTINE_PARTS])),
    )
    assert read(HARMONISED_QUARANTINE).height == patients.quarantine.height + markers.quarantine.height
