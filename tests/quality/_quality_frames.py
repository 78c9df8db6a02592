"""Hand-built valid frames for every suite (schemas of docs/contracts.md), and the real dev bundle's raw tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from contracts.panels import SSM_PANEL_GENES
from sandbox.bundle_tables import raw_tables_from_bundle
from transforms.quarantine import quarantine_frame
from transforms.raw_tables import raw_cases_table

RELEASE = "45.0"

CASE_IDS = (
    "b7f2a1c0-0000-4000-8000-000000000001",
    "b7f2a1c0-0000-4000-8000-000000000002",
    "b7f2a1c0-0000-4000-8000-000000000003",
    "b7f2a1c0-0000-4000-8000-000000000004",
)
BARCODES = ("TCGA-06-0125", "TCGA-DU-6407", "TCGA-CS-4938", "TCGA-76-4926")
PROJECTS = ("TCGA-GBM", "TCGA-LGG", "TCGA-LGG", "TCGA-GBM")


def _keys() -> dict[str, list[Any]]:
    return {
        "release": [RELEASE] * 4,
        "case_id": list(CASE_IDS),
        "submitter_id": list(BARCODES),
        "project_id": list(PROJECTS),
    }


def valid_patients() -> pl.DataFrame:
    return pl.DataFrame(
        {
            **_keys(),
            "sex": ["male", "female", None, "female"],
            "race": ["white", "black or african american", None, "asian"],
            "ethnicity": ["not hispanic or latino", None, "hispanic or latino", None],
            "age_at_diagnosis_years": [74.98, 31.2, 45.0, None],
            "primary_diagnosis": ["Glioblastoma", "Astrocytoma, NOS", "Oligodendroglioma, NOS", "Glioblastoma"],
            "histology_family": ["glioblastoma", "astrocytoma", "oligodendroglioma", "glioblastoma"],
            "who_grade": [4, 2, 3, None],
            "who_grade_source": ["tumor_grade", "tumor_grade", "tumor_grade", None],
            "who_grade_missing_reason": [None, None, None, "tumor_grade Not Reported"],
            "karnofsky_score": [80, 100, None, 0],
            "received_radiation": [True, None, False, True],
            "received_temozolomide": [True, None, False, False],
            "received_chemotherapy": [True, None, False, False],
            "vital_status": ["Dead", "Alive", None, "Dead"],
            "overall_survival_days": [880.0, 1200.0, None, 0.0],
            "death_observed": [True, False, None, True],
            "survival_rule": ["days_to_death", "days_to_last_follow_up", "no_follow_up", "days_to_death"],
        },
        schema_overrides={"who_grade": pl.Int8, "karnofsky_score": pl.Int16},
    )


def valid_molecular_markers() -> pl.DataFrame:
    mutations = {f"mutation_{gene.lower()}": ["wildtype", "mutant", None, "wildtype"] for gene in SSM_PANEL_GENES}
    return pl.DataFrame(
        {
            **_keys(),
            "ssm_profiled": [True, True, False, True],
            "cnv_profiled": [True, True, True, False],
            **mutations,
            "idh_status": ["wildtype", "mutant", None, "wildtype"],
            "idh_hotspot": [None, "IDH1 R132H", None, None],
            "atrx_status": ["wildtype", "mutant", None, "wildtype"],
            "tp53_status": ["mutant", "mutant", None, "wildtype"],
            "tert_status": [None, None, None, None],
            "codeletion_1p19q": [False, False, True, None],
            "chr7_gain_chr10_loss": [True, False, False, None],
            "egfr_amplified": [True, False, False, None],
            "cdkn2a_homozygous_deletion": [False, False, False, None],
            "mgmt_stp27_probability": [0.12, 0.91, None, 0.358],
            "mgmt_promoter_methylated": [False, True, True, False],
            "mgmt_source": ["methylation_stp27", "methylation_stp27", "clinical_molecular_test", "methylation_stp27"],
            "mgmt_sources_disagree": [False, False, None, False],
        },
        schema_overrides={"tert_status": pl.String},
    )


def valid_who_cns5_class() -> pl.DataFrame:
    return pl.DataFrame(
        {
            **_keys(),
            "who_cns5_class": [
                "glioblastoma, IDH-wildtype",
                "astrocytoma, IDH-mutant",
                "oligodendroglioma, IDH-mutant and 1p/19q-codeleted",
                "not classifiable",
            ],
            "who_cns5_grade": [4, 2, 3, None],
            "who_cns5_basis": ["IDH wildtype + 7+/10-", "IDH mutant, ATRX lost", "IDH mutant + 1p/19q codeleted", None],
            "not_classifiable_reason": [None, None, None, "idh_status missing"],
            "tmz_relevant": [False, True, True, False],
        },
        schema_overrides={"who_cns5_grade": pl.Int8},
    )


def valid_quarantine() -> pl.DataFrame:
    return quarantine_frame(
        [
            {
                "release": RELEASE,
                "table": "raw/gdc_cases",
                "case_id": "b7f2a1c0-0000-4000-8000-0000000000ff",
                "submitter_id": "TCGA-06-9999",
                "field": "demographic.days_to_death",
                "value": "-12",
                "reason": "negative_survival_time",
                "detail": "case TCGA-06-9999: demographic.days_to_death is -12, a negative survival time",
                "record": {"case_id": "b7f2a1c0-0000-4000-8000-0000000000ff"},
            },
            {
                "release": RELEASE,
                "table": "raw/gdc_cases",
                "case_id": None,
                "submitter_id": "TCGA-XX",
                "field": "submitter_id",
                "value": "TCGA-XX",
                "reason": "malformed_barcode",
                "detail": "record with submitter_id 'TCGA-XX': not a TCGA patient barcode",
                "record": {"submitter_id": "TCGA-XX"},
            },
        ]
    )


def valid_raw_cases() -> pl.DataFrame:
    documents = [
        {
            "id": case_id,
            "case_id": case_id,
            "submitter_id": barcode,
            "project": {"project_id": project},
            "updated_datetime": "2025-11-20T10:11:12.123456-06:00",
            "demographic": {"sex_at_birth": "female", "vital_status": "Alive"},
        }
        for case_id, barcode, project in zip(CASE_IDS, BARCODES, PROJECTS, strict=True)
    ]
    return raw_cases_table(documents, RELEASE)


HAND_FRAMES = {
    "raw/gdc_cases": valid_raw_cases,
    "harmonised/patients": valid_patients,
    "harmonised/molecular_markers": valid_molecular_markers,
    "harmonised/who_cns5_class": valid_who_cns5_class,
    "harmonised/quarantine": valid_quarantine,
}


def real_raw_tables(bundle_root: Path, release: str = RELEASE) -> dict[str, pl.DataFrame]:
    """The raw tables of one bundle release, built with the project's raw-table builders."""
    tables = raw_tables_from_bundle(bundle_root, release)
    return {
        "raw/gdc_cases": tables.cases,
        "raw/gdc_ssm_occurrences": tables.ssm_occurrences,
        "raw/gdc_cnv_occurrences": tables.cnv_occurrences,
        "raw/gdc_methylation_files": tables.methylation_files,
        "raw/mgmt_probe_betas": tables.mgmt_probe_betas,
        "raw/gdc_expression_files": tables.expression_files,
        "raw/expression_file_qc": tables.expression_file_qc,
    }


def set_value(frame: pl.DataFrame, row: int, column: str, value: Any) -> pl.DataFrame:
    """A copy of `frame` with one cell replaced (keeps the column's dtype)."""
    dtype = frame.schema[column]
    values = frame[column].to_list()
    values[row] = value
    return frame.with_columns(pl.Series(column, values, dtype=dtype))
