"""A GDC release bundle read straight into raw-layer tables, without HTTP.

Builds the same tables the raw assets write (with the same builders, transforms/raw_tables.py), for
benchmarks and tests that need the raw layer of a bundle but are not about fetching it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from contracts.panels import CNV_PANEL_GENES, SSM_PANEL_GENES
from contracts.schemas import RAW_EXPRESSION_FILE_QC_SCHEMA, RAW_MGMT_PROBE_BETAS_SCHEMA
from sandbox.gdc_standin.bundle import GeneratedFiles
from transforms.expression_files import parse_star_counts, raw_expression_files_table
from transforms.raw_tables import (
    extract_probe_betas,
    mgmt_probe_rows,
    raw_cases_table,
    raw_cnv_occurrences_table,
    raw_methylation_files_table,
    raw_ssm_occurrences_table,
)


@dataclass(frozen=True)
class BundleRawTables:
    release: str
    cases: pl.DataFrame
    ssm_occurrences: pl.DataFrame
    cnv_occurrences: pl.DataFrame
    methylation_files: pl.DataFrame
    mgmt_probe_betas: pl.DataFrame
    expression_files: pl.DataFrame
    expression_file_qc: pl.DataFrame


def current_release(bundle_root: Path) -> str:
    return (Path(bundle_root) / "CURRENT").read_text(encoding="utf-8").strip()


def bundle_documents(path: Path) -> list[dict]:
    """The documents of one bundle JSONL file; a missing optional file (GDC_BUNDLE.md) has none."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _file_bytes(release_dir: Path, file_id: str, generated: GeneratedFiles) -> bytes:
    path = release_dir / "data" / file_id
    if path.is_file():
        return path.read_bytes()
    data = generated.get(file_id)
    if data is None:
        raise FileNotFoundError(f"{path}: not in the bundle and not a file the stand-in generates")
    return data


def raw_tables_from_bundle(bundle_root: Path, release: str | None = None) -> BundleRawTables:
    bundle_root = Path(bundle_root)
    release = release or current_release(bundle_root)
    release_dir = bundle_root / "releases" / release
    # The documents the methylation search returns (files.jsonl also holds other data types, e.g. RNA-seq).
    documents = bundle_documents(release_dir / "files.jsonl")
    methylation = [d for d in documents if d.get("data_category", "DNA Methylation") == "DNA Methylation"]
    expression = raw_expression_files_table(
        [d for d in documents if d.get("data_type") == "Gene Expression Quantification"], release
    )
    generated = GeneratedFiles(release_dir)  # synthetic files the stand-in generates on request
    qc_rows = [
        parse_star_counts(
            _file_bytes(release_dir, row["file_id"], generated),
            release=release,
            file_id=row["file_id"],
            md5=row["md5sum"],
            case=row["submitter_id"],
        ).qc
        for row in expression.iter_rows(named=True)
    ]
    files = raw_methylation_files_table(methylation, release)
    beta_rows: list[dict] = []
    for file_row in files.iter_rows(named=True):
        with (release_dir / "data" / file_row["file_id"]).open("rb") as handle:
            betas = extract_probe_betas(handle, file_id=file_row["file_id"])
        beta_rows.extend(mgmt_probe_rows(file_row, betas, release))
    return BundleRawTables(
        release=release,
        cases=raw_cases_table(bundle_documents(release_dir / "cases.jsonl"), release),
        ssm_occurrences=raw_ssm_occurrences_table(
            bundle_documents(release_dir / "ssm_occurrences.jsonl"), release, SSM_PANEL_GENES
        ),
        cnv_occurrences=raw_cnv_occurrences_table(
            bundle_documents(release_dir / "cnv_occurrences.jsonl"), release, CNV_PANEL_GENES
        ),
        methylation_files=files,
        mgmt_probe_betas=pl.DataFrame(beta_rows, schema=RAW_MGMT_PROBE_BETAS_SCHEMA),
        expression_files=expression,
        expression_file_qc=pl.DataFrame(qc_rows, schema=RAW_EXPRESSION_FILE_QC_SCHEMA, orient="row"),
    )
