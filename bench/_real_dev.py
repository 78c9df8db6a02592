"""The real TCGA dev bundle -> raw tables -> harmonised patients and markers -> model matrix.

The one place the model bench and the real-data quality tests build their inputs: with the raw-table
builders (transforms/raw_tables.py), `harmonise_patients` and `call_molecular_markers` — the same pure
functions the Dagster assets call — so the numbers measure the pipeline, not a side path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sandbox.bundle_tables import raw_tables_from_bundle
from transforms.features import ModelMatrix, build_model_matrix
from transforms.markers import call_molecular_markers
from transforms.patients import harmonise_patients

REPO_ROOT = Path(__file__).resolve().parents[1]


def real_dev_bundle_dir() -> Path:
    """`../shared/realdata/bundles/tcga_gbmlgg_dev` beside the clone, or under GLIOMA_SHARED_DIR."""
    shared = Path(os.environ.get("GLIOMA_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()
    return shared / "realdata" / "bundles" / "tcga_gbmlgg_dev"


@dataclass(frozen=True)
class RealDevInputs:
    release: str
    patients: pl.DataFrame
    markers: pl.DataFrame
    patients_quarantine: pl.DataFrame
    markers_quarantine: pl.DataFrame
    model_matrix: ModelMatrix


def real_dev_model_matrix(bundle_root: Path | None = None, release: str | None = None) -> RealDevInputs:
    raw = raw_tables_from_bundle(bundle_root or real_dev_bundle_dir(), release)
    release = raw.release
    harmonised = harmonise_patients(raw.cases)
    markers = call_molecular_markers(
        raw.cases, raw.ssm_occurrences, raw.cnv_occurrences, raw.mgmt_probe_betas, release=release
    )
    return RealDevInputs(
        release=release,
        patients=harmonised.patients,
        markers=markers.markers,
        patients_quarantine=harmonised.quarantine,
        markers_quarantine=markers.quarantine,
        model_matrix=build_model_matrix(harmonised.patients, markers.markers),
    )
