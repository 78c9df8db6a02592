"""Molecular marker calls per case: raw GDC occurrences and MGMT probe betas -> `harmonised/molecular_markers`.

This module checks the raw inputs and joins the calls of each stage into one row per case. Every rule and
threshold used for a call is a named constant in the module of its stage, with its source:
  * transforms.marker_inputs — the case frame (profiling flags, molecular tests), documents fetched by row,
    batched JSON decoding, quarantine records;
  * transforms.mutation_calls — ssm occurrences -> mutated panel genes, IDH hotspot (`idh_status`), TERT promoter;
  * transforms.copy_number_calls — cnv occurrences -> 1p/19q co-deletion, chromosome 7 gain with 10 loss,
    EGFR amplification, CDKN2A homozygous deletion;
  * transforms.mgmt_calls — MGMT-STP27 on the probe betas, the clinical molecular tests, and which source wins.
Here: a gene status or cnv call is null for a case not profiled for its data type (wildtype / False when
profiled without evidence), and the MGMT call is taken by `MGMT_SOURCE_PRECEDENCE`.

Quarantine (`MolecularMarkers.quarantine`, QUARANTINE_SCHEMA): orphan occurrences/files (case not in
raw/gdc_cases), occurrences of unprofiled cases, unknown/contradictory cnv categories, out-of-range or
conflicting betas, unknown or contradicting MGMT test results, case documents whose marker fields cannot be
decoded. Whole-case problems (no case_id, duplicate documents, invalid JSON) are quarantined by
transforms.patients under table `raw/gdc_cases`; records here about parts of a case use the labels
`TABLE_CASE_MARKER_FIELDS` / `TABLE_CASE_MOLECULAR_TESTS` so they never count as rejected cases.

Vectorised polars throughout (synthetic cohorts carry ~2M cnv occurrence rows): no Python loops over rows;
`document` JSON is parsed with `str.json_decode` and explicit dtypes, only for the case documents
(profiling, molecular tests) and once per distinct ssm (consequences) — cnv calls need only the raw key columns.

Memory: the raw inputs may be DataFrames or LazyFrames (the asset passes `pl.scan_parquet` of the lake files).
Only the columns a call needs are materialised; the occurrences' `document` JSON (most of the bytes: ~0.7 GB
of cnv documents at 100k cases) is never carried through the joins and filters. Rows are tracked by their
position in the raw input (`_raw_row`), and a document is fetched, by position, only for the few rows that
become quarantine records (or, for ssm, the one representative occurrence per variant that is decoded).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from contracts.schemas import MOLECULAR_MARKERS_SCHEMA, MUTATION_COLUMNS, QUARANTINE_SCHEMA
from transforms.copy_number_calls import (
    ARM_CALL_MIN_FRACTION,
    CNV_COLUMNS,
    GENES_1P,
    GENES_19Q,
    GENES_CHR7,
    GENES_CHR10,
    copy_number_calls,
)
from transforms.marker_inputs import (
    TABLE_BETAS,
    TABLE_CASES,
    TABLE_CNV,
    TABLE_SSM,
    Frame,
    RawDocuments,
    case_frame,
)
from transforms.mgmt_calls import (
    BETA_COLUMNS,
    MGMT_SOURCE_CLINICAL,
    MGMT_SOURCE_PRECEDENCE,
    MGMT_SOURCE_STP27,
    STP27_COEFFICIENT_M1,
    STP27_COEFFICIENT_M2,
    STP27_INTERCEPT,
    STP27_METHYLATED_ABOVE,
    clinical_mgmt_calls,
    stp27_calls,
)
from transforms.mutation_calls import mutation_calls

# The rule constants callers (and tests) read from here, where they were defined before the stages got
# their own modules.
__all__ = [
    "ARM_CALL_MIN_FRACTION",
    "DECODE_BATCH_ROWS",
    "GENES_1P",
    "GENES_19Q",
    "GENES_CHR7",
    "GENES_CHR10",
    "STP27_COEFFICIENT_M1",
    "STP27_COEFFICIENT_M2",
    "STP27_INTERCEPT",
    "STP27_METHYLATED_ABOVE",
    "MolecularMarkers",
    "call_molecular_markers",
]

# Rows decoded per `str.json_decode` call: the decoder's working memory is several times the JSON text it
# is given (~1 GB for 100k case documents at once), so long columns are decoded in slices and concatenated.
# Set here, read at each call and passed to the stages, so one setting governs every decode.
DECODE_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class MolecularMarkers:
    markers: pl.DataFrame  # harmonised/molecular_markers, one row per case of raw/gdc_cases
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA: rejected occurrence, beta and case-test records


# ------------------------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------------------------


def _columns(frame: Frame) -> list[str]:
    return frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns


def _require_columns(frame: Frame, columns: tuple[str, ...], table: str) -> None:
    names = _columns(frame)
    missing = [column for column in columns if column not in names]
    if missing:
        raise ValueError(f"{table}: missing column(s) {missing}; got {names}")


def _require_release(frame: Frame, release: str, table: str) -> None:
    """Mixing releases is a wiring error, not bad data: fail loudly."""
    if "release" in _columns(frame):
        others = (
            frame.lazy().select("release").filter(pl.col("release") != release).unique().collect()["release"].to_list()
        )
        if others:
            raise ValueError(f"{table}: rows of release(s) {sorted(others)} passed for release {release!r}")


# ------------------------------------------------------------------------------------------------------------
# public
# ------------------------------------------------------------------------------------------------------------


def call_molecular_markers(
    raw_cases: Frame,
    raw_ssm: Frame,
    raw_cnv: Frame,
    raw_mgmt_betas: Frame,
    *,
    release: str,
) -> MolecularMarkers:
    """One `harmonised/molecular_markers` row per decodable case of `raw_cases`, plus the rejected raw records.

    Each raw input is a DataFrame or a LazyFrame (e.g. `pl.scan_parquet` of the lake file: only the columns
    and documents the calls need are then read)."""
    _require_columns(raw_cases, ("case_id", "submitter_id", "project_id", "document"), TABLE_CASES)
    _require_columns(raw_ssm, ("ssm_occurrence_id", "case_id", "submitter_id", "ssm_id", "document"), TABLE_SSM)
    _require_columns(
        raw_cnv,
        CNV_COLUMNS,
        TABLE_CNV,
    )
    _require_columns(raw_mgmt_betas, BETA_COLUMNS, TABLE_BETAS)
    inputs = ((raw_cases, TABLE_CASES), (raw_ssm, TABLE_SSM), (raw_cnv, TABLE_CNV), (raw_mgmt_betas, TABLE_BETAS))
    for frame, table in inputs:
        _require_release(frame, release, table)

    cases, tests, case_quarantine = case_frame(raw_cases, release, DECODE_BATCH_ROWS)
    mutations, ssm_quarantine = mutation_calls(raw_ssm, cases, release, DECODE_BATCH_ROWS)
    copy_number, cnv_quarantine = copy_number_calls(raw_cnv, cases, release)
    stp27, beta_quarantine = stp27_calls(raw_mgmt_betas, cases, release)
    clinical, clinical_quarantine = clinical_mgmt_calls(tests, RawDocuments(raw_cases), release)

    frame = (
        cases.join(mutations, on="case_id", how="left")
        .join(copy_number, on="case_id", how="left")
        .join(stp27, on="case_id", how="left")
        .join(clinical, on="case_id", how="left")
    )
    ssm_profiled = pl.col("ssm_profiled").fill_null(False)
    cnv_profiled = pl.col("cnv_profiled").fill_null(False)

    def gene_status(gene: str) -> pl.Expr:
        return (
            pl.when(~ssm_profiled)
            .then(None)
            .when(pl.col("mutated_genes").list.contains(gene).fill_null(False))
            .then(pl.lit("mutant"))
            .otherwise(pl.lit("wildtype"))
        )

    def cnv_call(column: str) -> pl.Expr:
        return pl.when(cnv_profiled).then(pl.col(column).fill_null(False)).otherwise(None).alias(column)

    stp27_methylated = pl.col("mgmt_stp27_probability") > STP27_METHYLATED_ABOVE
    has_hotspot = pl.col("idh_hotspot").fill_null("") != ""
    mgmt_calls = {MGMT_SOURCE_STP27: stp27_methylated, MGMT_SOURCE_CLINICAL: pl.col("clinical_methylated")}
    mgmt_source = pl.lit(None, pl.String())
    for source in reversed(MGMT_SOURCE_PRECEDENCE):  # built inside-out so the first source wins
        mgmt_source = pl.when(mgmt_calls[source].is_not_null()).then(pl.lit(source)).otherwise(mgmt_source)
    frame = frame.with_columns(
        pl.lit(release, pl.String()).alias("release"),
        *[gene_status(gene).alias(column) for gene, column in MUTATION_COLUMNS.items()],
        pl.when(~ssm_profiled)
        .then(None)
        .when(has_hotspot)
        .then(pl.lit("mutant"))
        .otherwise(pl.lit("wildtype"))
        .alias("idh_status"),
        pl.when(ssm_profiled & has_hotspot).then(pl.col("idh_hotspot")).alias("idh_hotspot"),
        gene_status("ATRX").alias("atrx_status"),
        gene_status("TP53").alias("tp53_status"),
        pl.when(ssm_profiled & pl.col("tert_promoter_mutated").fill_null(False))
        .then(pl.lit("mutant"))
        .alias("tert_status"),
        cnv_call("codeletion_1p19q"),
        cnv_call("chr7_gain_chr10_loss"),
        cnv_call("egfr_amplified"),
        cnv_call("cdkn2a_homozygous_deletion"),
        pl.coalesce([mgmt_calls[source] for source in MGMT_SOURCE_PRECEDENCE]).alias("mgmt_promoter_methylated"),
        mgmt_source.alias("mgmt_source"),
        pl.when(stp27_methylated.is_not_null() & pl.col("clinical_methylated").is_not_null())
        .then(stp27_methylated != pl.col("clinical_methylated"))
        .alias("mgmt_sources_disagree"),
    )
    markers = frame.select([pl.col(name).cast(dtype) for name, dtype in MOLECULAR_MARKERS_SCHEMA.items()])
    quarantine = pl.concat(
        [
            q.select([pl.col(name).cast(dtype) for name, dtype in QUARANTINE_SCHEMA.items()])
            for q in (case_quarantine, ssm_quarantine, cnv_quarantine, beta_quarantine, clinical_quarantine)
        ]
    )
    return MolecularMarkers(markers=markers, quarantine=quarantine)
