"""Build the raw tables the marker calls consume from a GDC release bundle directory (real dev bundle)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from transforms.panels import CNV_PANEL_GENES, SSM_PANEL_GENES
from transforms.raw_tables import (
    RAW_MGMT_PROBE_BETAS_SCHEMA,
    extract_probe_betas,
    mgmt_probe_rows,
    raw_cases_table,
    raw_cnv_occurrences_table,
    raw_methylation_files_table,
    raw_ssm_occurrences_table,
)


@dataclass(frozen=True)
class RawMarkerInputs:
    cases: pl.DataFrame
    ssm: pl.DataFrame
    cnv: pl.DataFrame
    methylation_files: pl.DataFrame
    mgmt_betas: pl.DataFrame


def _documents(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def raw_marker_inputs(bundle_root: Path, release: str = "45.0") -> RawMarkerInputs:
    release_dir = bundle_root / "releases" / release
    files = raw_methylation_files_table(_documents(release_dir / "files.jsonl"), release)
    beta_rows: list[dict] = []
    for file_row in files.iter_rows(named=True):
        with (release_dir / "data" / file_row["file_id"]).open("rb") as handle:
            betas = extract_probe_betas(handle, file_id=file_row["file_id"])
        beta_rows.extend(mgmt_probe_rows(file_row, betas, release))
    return RawMarkerInputs(
        cases=raw_cases_table(_documents(release_dir / "cases.jsonl"), release),
        ssm=raw_ssm_occurrences_table(_documents(release_dir / "ssm_occurrences.jsonl"), release, SSM_PANEL_GENES),
        cnv=raw_cnv_occurrences_table(_documents(release_dir / "cnv_occurrences.jsonl"), release, CNV_PANEL_GENES),
        methylation_files=files,
        mgmt_betas=pl.DataFrame(beta_rows, schema=RAW_MGMT_PROBE_BETAS_SCHEMA),
    )
