"""Harmonised layer: one row per patient and release, molecular markers, WHO CNS5 class, quarantine.

The assets only read and write; every rule lives in transforms/ (patients, survival, vocabularies,
markers, WHO CNS5) and is tested there without Dagster.
"""

import time

import polars as pl
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets.metadata import markdown_table
from orchestration.partitions import gdc_releases
from orchestration.resources import LakeResource
from transforms.markers import call_molecular_markers
from transforms.patients import harmonise_patients, reconcile_case_counts
from transforms.quarantine import QUARANTINE_SCHEMA
from transforms.who_cns5 import classify_who_cns5

HARMONISED = "harmonised"
# Quarantine parts written by each harmonising asset; `harmonised/quarantine` is their union.
PATIENT_REJECTS = "_quarantine_patients"
MARKER_REJECTS = "_quarantine_markers"


def _metadata(frame: pl.DataFrame, written, started: float, **extra) -> dict:
    return {
        "dagster/row_count": frame.height,
        "rows": frame.height,
        "bytes": written.bytes,
        "duration_seconds": round(time.monotonic() - started, 3),
        "path": MetadataValue.path(str(written.path)),
        **extra,
    }


def _reason_counts(quarantine: pl.DataFrame) -> MetadataValue:
    if quarantine.is_empty():
        return MetadataValue.md("no rejected records")
    counts = quarantine.group_by("table", "reason").len().sort("len", descending=True)
    return MetadataValue.md(markdown_table(counts.rename({"len": "records"})))


@asset(
    key=["harmonised", "patients"],
    deps=[["raw", "gdc_cases"]],
    partitions_def=gdc_releases,
    group_name="harmonised",
    kinds={"polars", "parquet"},
    description=(
        "One row per case: demographics, diagnosis, WHO grade, Karnofsky, treatments and the overall-survival "
        "endpoint, read correctly from every GDC release profile. Rejected cases go to harmonised/quarantine."
    ),
)
def harmonised_patients(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    started = time.monotonic()
    raw_cases = lake.lake.read("raw", "gdc_cases", release)
    result = harmonise_patients(raw_cases)
    counts = reconcile_case_counts(raw_cases, result.patients, result.quarantine)
    if not counts["reconciles"]:
        raise Failure(f"harmonised/patients for release {release} does not reconcile with raw/gdc_cases: {counts}")
    lake.lake.write(result.quarantine, HARMONISED, PATIENT_REJECTS, release)
    written = lake.lake.write(result.patients, HARMONISED, "patients", release)
    return MaterializeResult(
        metadata=_metadata(
            result.patients, written, started,
            raw_cases=counts.get("raw_cases"),
            quarantined_records=result.quarantine.height,
            rejected_reasons=_reason_counts(result.quarantine),
        )
    )


@asset(
    key=["harmonised", "molecular_markers"],
    deps=[["raw", "gdc_cases"], ["raw", "gdc_ssm_occurrences"], ["raw", "gdc_cnv_occurrences"], ["raw", "mgmt_probe_betas"]],
    partitions_def=gdc_releases,
    group_name="harmonised",
    kinds={"polars", "parquet"},
    description=(
        "Per case: panel gene mutation status, IDH, ATRX, TP53, TERT, 1p/19q codeletion, 7+/10-, EGFR "
        "amplification, CDKN2A homozygous deletion, MGMT promoter methylation (MGMT-STP27) with its source."
    ),
)
def harmonised_molecular_markers(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    started = time.monotonic()
    read = lake.lake.read
    result = call_molecular_markers(
        read("raw", "gdc_cases", release),
        read("raw", "gdc_ssm_occurrences", release),
        read("raw", "gdc_cnv_occurrences", release),
        read("raw", "mgmt_probe_betas", release),
        release=release,
    )
    lake.lake.write(result.quarantine, HARMONISED, MARKER_REJECTS, release)
    written = lake.lake.write(result.markers, HARMONISED, "molecular_markers", release)
    markers = result.markers
    return MaterializeResult(
        metadata=_metadata(
            markers, written, started,
            idh_mutant=markers.filter(pl.col("idh_status") == "mutant").height,
            idh_unknown=markers.filter(pl.col("idh_status").is_null()).height,
            codeleted_1p19q=markers.filter(pl.col("codeletion_1p19q")).height,
            mgmt_methylated=markers.filter(pl.col("mgmt_promoter_methylated")).height,
            quarantined_records=result.quarantine.height,
        )
    )


@asset(
    key=["harmonised", "who_cns5_class"],
    deps=[harmonised_patients, harmonised_molecular_markers],
    partitions_def=gdc_releases,
    group_name="harmonised",
    kinds={"polars", "parquet"},
    description="WHO CNS5 (2021) integrated diagnosis from the markers, with the rule that applied or the missing marker.",
)
def harmonised_who_cns5_class(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    started = time.monotonic()
    classes = classify_who_cns5(
        lake.lake.read(HARMONISED, "patients", release), lake.lake.read(HARMONISED, "molecular_markers", release)
    )
    written = lake.lake.write(classes, HARMONISED, "who_cns5_class", release)
    distribution = classes.group_by("who_cns5_class", "who_cns5_grade").len().sort("len", descending=True)
    return MaterializeResult(
        metadata=_metadata(
            classes, written, started,
            distribution=MetadataValue.md(markdown_table(distribution.rename({"len": "cases"}))),
        )
    )


@asset(
    key=["harmonised", "quarantine"],
    deps=[harmonised_patients, harmonised_molecular_markers],
    partitions_def=gdc_releases,
    group_name="harmonised",
    kinds={"polars", "parquet"},
    description=(
        "Every rejected raw record with table, case, field, value and reason. For every release, raw cases = "
        "patients + quarantined cases, exactly (checked)."
    ),
)
def harmonised_quarantine(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    started = time.monotonic()
    parts = [lake.lake.read(HARMONISED, part, release) for part in (PATIENT_REJECTS, MARKER_REJECTS)]
    quarantine = pl.concat([part.select(list(QUARANTINE_SCHEMA)) for part in parts]).sort(
        ["table", "case_id", "field"], nulls_last=True
    )
    written = lake.lake.write(quarantine, HARMONISED, "quarantine", release)
    return MaterializeResult(
        metadata=_metadata(
            quarantine, written, started,
            quarantined_cases=quarantine.filter(pl.col("table") == "raw/gdc_cases")["case_id"].n_unique(),
            reasons=_reason_counts(quarantine),
        )
    )


HARMONISED_ASSETS = [
    harmonised_patients,
    harmonised_molecular_markers,
    harmonised_who_cns5_class,
    harmonised_quarantine,
]
