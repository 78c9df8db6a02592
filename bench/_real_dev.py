"""The real TCGA dev bundle -> raw tables -> harmonised patients and markers -> model matrix.

The one place the model bench and the real-data quality tests build their inputs: with the raw-table
builders (transforms/raw_tables.py), `harmonise_patients` and `call_molecular_markers` — the same pure
functions the Dagster assets call — so the numbers measure the pipeline, not a side path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from transforms.features import ModelMatrix, build_model_matrix
from transforms.markers import call_molecular_markers
from transforms.panels import CNV_PANEL_GENES, SSM_PANEL_GENES
from transforms.patients import harmonise_patients
from transforms.raw_tables import (
    RAW_MGMT_PROBE_BETAS_SCHEMA,
    extract_probe_betas,
    mgmt_probe_rows,
    raw_cases_table,
    raw_cnv_occurrences_table,
    raw_methylation_files_table,
    raw_ssm_occurrences_table,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def real_dev_bundle_dir() -> Path:
    """`../shared/realdata/bundles/tcga_gbmlgg_dev` beside the clone, or under GLIOMA_SHARED_DIR."""
    shared = Path(os.environ.get("GLIOMA_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()
    return shared / "realdata" / "bundles" / "tcga_gbmlgg_dev"


def current_release(bundle_root: Path) -> str:
    return (bundle_root / "CURRENT").read_text(encoding="utf-8").strip()


def _documents(path: Path) -> list[dict]:
    if not path.exists():  # optional bundle files (GDC_BUNDLE.md)
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@dataclass(frozen=True)
class RealDevInputs:
    release: str
    patients: pl.DataFrame
    markers: pl.DataFrame
    patients_quarantine: pl.DataFrame
    markers_quarantine: pl.DataFrame
    model_matrix: ModelMatrix


def real_dev_model_matrix(bundle_root: Path | None = None, release: str | None = None) -> RealDevInputs:
    bundle_root = bundle_root or real_dev_bundle_dir()
    release = release or current_release(bundle_root)
    release_dir = bundle_root / "releases" / release
    files = raw_methylation_files_table(_documents(release_dir / "files.jsonl"), release)
    beta_rows: list[dict] = []
    for file_row in files.iter_rows(named=True):
        with (release_dir / "data" / file_row["file_id"]).open("rb") as handle:
            betas = extract_probe_betas(handle, file_id=file_row["file_id"])
        beta_rows.extend(mgmt_probe_rows(file_row, betas, release))
    raw_cases = raw_cases_table(_documents(release_dir / "cases.jsonl"), release)
    raw_ssm = raw_ssm_occurrences_table(_documents(release_dir / "ssm_occurrences.jsonl"), release, SSM_PANEL_GENES)
    raw_cnv = raw_cnv_occurrences_table(_documents(release_dir / "cnv_occurrences.jsonl"), release, CNV_PANEL_GENES)
    mgmt_betas = pl.DataFrame(beta_rows, schema=RAW_MGMT_PROBE_BETAS_SCHEMA)
    harmonised = harmonise_patients(raw_cases)
    markers = call_molecular_markers(raw_cases, raw_ssm, raw_cnv, mgmt_betas, release=release)
    return RealDevInputs(
        release=release,
        patients=harmonised.patients,
        markers=markers.markers,
        patients_quarantine=harmonised.quarantine,
        markers_quarantine=markers.quarantine,
        model_matrix=build_model_matrix(harmonised.patients, markers.markers),
    )
