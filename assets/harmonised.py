"""Harmonised layer: one row per patient and release, molecular markers, WHO CNS5 class, quarantine.

The assets only read and write; every rule lives in transforms/ (patients, survival, vocabularies,
markers, WHO CNS5) and is tested there without Dagster.

Memory (100k cases: ~1.5 GB of raw tables in memory, most of it `document` JSON): each asset reads only the
columns its transform uses, the marker calls get lazy scans of the raw files (they fetch the few documents
they quarantine by row), and the raw frames are dropped before the outputs are written.
"""

import sys
import time

import polars as pl
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset, multi_asset

import transforms.copy_number_calls
import transforms.marker_inputs
import transforms.markers
import transforms.mgmt_calls
import transforms.mutation_calls
import transforms.patient_checks
import transforms.patient_documents
import transforms.patient_fields
import transforms.patients
import transforms.survival
import transforms.vocabularies
import transforms.who_cns5
from assets.metadata import markdown_table
from assets.partitions import gdc_releases
from assets.resources import LakeResource
from assets.specs import asset_key, table_asset_args, table_asset_spec, written_metadata
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
from transforms.markers import call_molecular_markers
from transforms.patients import harmonise_patients, reconcile_case_counts
from transforms.who_cns5 import classify_who_cns5

_THIS = sys.modules[__name__]
# Every module of the patients transform: an edit to any stage changes the code version of the patient assets.
_PATIENT_CODE = (
    transforms.patients,
    transforms.patient_documents,
    transforms.patient_fields,
    transforms.patient_checks,
    transforms.survival,
    transforms.vocabularies,
    _THIS,
)
# Every module of the marker calls: an edit to any stage changes the code version of the marker assets.
_MARKER_CODE = (
    transforms.markers,
    transforms.marker_inputs,
    transforms.mutation_calls,
    transforms.copy_number_calls,
    transforms.mgmt_calls,
    transforms.vocabularies,
    _THIS,
)


# What harmonise_patients and reconcile_case_counts read of raw/gdc_cases (not updated_datetime).
PATIENT_INPUT_COLUMNS = ["release", "case_id", "submitter_id", "project_id", "document"]


def _scan(lake: LakeResource, table, release: str) -> pl.LazyFrame:
    """A lazy scan of the partition version the lake reads (Lake.read_table reads every column)."""
    return lake.lake.scan(table.layer, table.name, release)


def _timed(started: float) -> dict:
    return {"duration_seconds": round(time.monotonic() - started, 3)}


def _reason_counts(quarantine: pl.DataFrame) -> MetadataValue:
    if quarantine.is_empty():
        return MetadataValue.md("no rejected records")
    counts = quarantine.group_by("table", "reason").len().sort("len", descending=True)
    return MetadataValue.md(markdown_table(counts.rename({"len": "records"})))


@multi_asset(
    specs=[
        table_asset_spec(HARMONISED_PATIENTS, deps=[RAW_CASES], code=_PATIENT_CODE),
        table_asset_spec(HARMONISED_PATIENT_REJECTS, deps=[RAW_CASES], code=_PATIENT_CODE),
    ],
    partitions_def=gdc_releases,
    name="harmonise_patients",
    description="Harmonise case documents into one row per patient; rejected cases go to patient_rejects.",
)
def harmonised_patients(context: AssetExecutionContext, lake: LakeResource):
    release = context.partition_key
    started = time.monotonic()
    raw_cases = _scan(lake, RAW_CASES, release).select(PATIENT_INPUT_COLUMNS).collect()
    result = harmonise_patients(raw_cases)
    counts = reconcile_case_counts(raw_cases, result.patients, result.quarantine)
    del raw_cases
    if not counts["reconciles"]:
        raise Failure(f"harmonised/patients for release {release} does not reconcile with raw/gdc_cases: {counts}")
    rejects = lake.lake.write_table(HARMONISED_PATIENT_REJECTS, result.quarantine, release)
    written = lake.lake.write_table(HARMONISED_PATIENTS, result.patients, release)
    yield MaterializeResult(
        asset_key=asset_key(HARMONISED_PATIENTS),
        metadata=written_metadata(
            written,
            **_timed(started),
            raw_cases=counts.get("raw_cases"),
            quarantined_records=result.quarantine.height,
        ),
    )
    yield MaterializeResult(
        asset_key=asset_key(HARMONISED_PATIENT_REJECTS),
        metadata=written_metadata(rejects, rejected_reasons=_reason_counts(result.quarantine)),
    )


@multi_asset(
    specs=[
        table_asset_spec(
            HARMONISED_MOLECULAR_MARKERS,
            deps=[RAW_CASES, RAW_SSM_OCCURRENCES, RAW_CNV_OCCURRENCES, RAW_MGMT_PROBE_BETAS],
            code=_MARKER_CODE,
        ),
        table_asset_spec(
            HARMONISED_MARKER_REJECTS,
            deps=[RAW_CASES, RAW_SSM_OCCURRENCES, RAW_CNV_OCCURRENCES, RAW_MGMT_PROBE_BETAS],
            code=_MARKER_CODE,
        ),
    ],
    partitions_def=gdc_releases,
    name="call_molecular_markers",
    description="Call IDH, 1p/19q, 7+/10-, EGFR, CDKN2A, MGMT and panel mutations per patient; rejects kept apart.",
)
def harmonised_molecular_markers(context: AssetExecutionContext, lake: LakeResource):
    release = context.partition_key
    started = time.monotonic()
    result = call_molecular_markers(
        *(
            _scan(lake, table, release)
            for table in (RAW_CASES, RAW_SSM_OCCURRENCES, RAW_CNV_OCCURRENCES, RAW_MGMT_PROBE_BETAS)
        ),
        release=release,
    )
    rejects = lake.lake.write_table(HARMONISED_MARKER_REJECTS, result.quarantine, release)
    written = lake.lake.write_table(HARMONISED_MOLECULAR_MARKERS, result.markers, release)
    markers = result.markers
    yield MaterializeResult(
        asset_key=asset_key(HARMONISED_MOLECULAR_MARKERS),
        metadata=written_metadata(
            written,
            **_timed(started),
            idh_mutant=markers.filter(pl.col("idh_status") == "mutant").height,
            idh_unknown=markers.filter(pl.col("idh_status").is_null()).height,
            codeleted_1p19q=markers.filter(pl.col("codeletion_1p19q")).height,
            mgmt_methylated=markers.filter(pl.col("mgmt_promoter_methylated")).height,
            quarantined_records=result.quarantine.height,
        ),
    )
    yield MaterializeResult(
        asset_key=asset_key(HARMONISED_MARKER_REJECTS),
        metadata=written_metadata(rejects, rejected_reasons=_reason_counts(result.quarantine)),
    )


@asset(
    **table_asset_args(
        HARMONISED_WHO_CNS5_CLASS,
        deps=[HARMONISED_PATIENTS, HARMONISED_MOLECULAR_MARKERS],
        code=(transforms.who_cns5, _THIS),
    )
)
def harmonised_who_cns5_class(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    started = time.monotonic()
    classes = classify_who_cns5(
        lake.lake.read_table(HARMONISED_PATIENTS, release), lake.lake.read_table(HARMONISED_MOLECULAR_MARKERS, release)
    )
    written = lake.lake.write_table(HARMONISED_WHO_CNS5_CLASS, classes, release)
    distribution = classes.group_by("who_cns5_class", "who_cns5_grade").len().sort("len", descending=True)
    return MaterializeResult(
        metadata=written_metadata(
            written,
            **_timed(started),
            distribution=MetadataValue.md(markdown_table(distribution.rename({"len": "cases"}))),
        )
    )


QUARANTINE_PARTS = (HARMONISED_PATIENT_REJECTS, HARMONISED_MARKER_REJECTS, HARMONISED_EXPRESSION_REJECTS)


@asset(**table_asset_args(HARMONISED_QUARANTINE, deps=QUARANTINE_PARTS, code=(_THIS,)))
def harmonised_quarantine(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    started = time.monotonic()
    parts = [lake.lake.read_table(part, release) for part in QUARANTINE_PARTS]
    quarantine = pl.concat([part.select(list(QUARANTINE_SCHEMA)) for part in parts]).sort(
        ["table", "case_id", "field"], nulls_last=True
    )
    written = lake.lake.write_table(HARMONISED_QUARANTINE, quarantine, release)
    return MaterializeResult(
        metadata=written_metadata(
            written,
            **_timed(started),
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
