"""MGMT promoter methylation per case (a stage of transforms.markers): raw/mgmt_probe_betas through MGMT-STP27,
and the clinical molecular tests of the case documents.

Every rule and threshold is a named constant below, with its source.
  * MGMT-STP27 (Bady et al., Acta Neuropathol 124:547, 2012) per methylation file:
    logit = 4.3215 + 0.5271*M(cg12434587) + 0.9265*M(cg12981137), M = log2(beta / (1 - beta)),
    p = 1 / (1 + exp(-logit)), methylated when p > 0.358. Betas are clipped into
    [`BETA_CLIP_EPSILON`, 1 - `BETA_CLIP_EPSILON`] so M stays finite (SeSAMe files carry 6 decimals, so 0 and 1
    can appear by rounding). A probe that is `NA` or absent from the file gives a null probability for the file.
    Betas outside [0, 1] (or NaN), and a probe listed twice in one file with different betas, are quarantined
    and treated as absent. Rows of other probes are ignored (not errors: the raw table may carry more probes).
  * Per case, the file used is the first in this order: files with a probability before files without, then
    sample type by `TUMOUR_SAMPLE_TYPE_PRIORITY` (primary tumour before recurrence — the diagnostic sample
    the WHO grade and survival refer to), then platform by `METHYLATION_PLATFORM_PRIORITY`, then file id.
    Files of non-tumour samples (e.g. `Solid Tissue Normal`) are never used: they say nothing about the
    tumour's promoter.
  * Clinical source: `follow_ups[].molecular_tests[]` with `gene_symbol` MGMT and a methylation variant type
    (`MGMT_METHYLATION_VARIANT_TYPES`, or none given); `test_result` mapped by `MGMT_TEST_RESULT_METHYLATED`
    (the molecular-test vocabulary lives here). Unknown results, and cases whose tests contradict each
    other, are quarantined and give no clinical call.
  * `MGMT_SOURCE_PRECEDENCE`: the methylation array (a quantitative, validated model on the same probes for
    every case) wins over the clinical test (assay and cut-off unknown). `mgmt_source` names the source of the
    final call; `mgmt_sources_disagree` is True/False when both sources gave a call, null otherwise (both
    applied when transforms.markers joins the calls).
"""

from __future__ import annotations

import polars as pl

from contracts.panels import MGMT_STP27_PROBES
from transforms.marker_inputs import (
    RAW_ROW,
    TABLE_BETAS,
    TABLE_CASE_MOLECULAR_TESTS,
    Frame,
    RawDocuments,
    as_text,
    quarantine_rows,
)

# MGMT-STP27, Bady et al. 2012 (coefficients of the published logistic model).
STP27_INTERCEPT = 4.3215
STP27_COEFFICIENT_M1 = 0.5271  # cg12434587
STP27_COEFFICIENT_M2 = 0.9265  # cg12981137
STP27_METHYLATED_ABOVE = 0.358  # p > 0.358 -> methylated
STP27_PROBE_M1, STP27_PROBE_M2 = MGMT_STP27_PROBES
BETA_CLIP_EPSILON = 1e-6  # the resolution of a 6-decimal SeSAMe beta

# Sample types usable for a tumour call, best first (GDC sample_type vocabulary).
TUMOUR_SAMPLE_TYPE_PRIORITY: tuple[str, ...] = ("Primary Tumor", "Recurrent Tumor", "Additional - New Primary")
# Newer arrays first (more probes QC'd per CpG); STP27 was built and validated on 27k and 450k data.
METHYLATION_PLATFORM_PRIORITY: tuple[str, ...] = (
    "Illumina Methylation Epic",
    "Illumina Human Methylation 450",
    "Illumina Human Methylation 27",
)

# Molecular-test vocabulary (GDC `follow_ups.molecular_tests`): test_result (lower-cased) -> methylated?
MGMT_TEST_RESULT_METHYLATED: dict[str, bool] = {
    "positive": True,
    "methylated": True,
    "hypermethylated": True,
    "negative": False,
    "unmethylated": False,
    "not methylated": False,
}
# test_result values that mean "no result" (null call, not an error).
MOLECULAR_TEST_NO_RESULT: frozenset[str] = frozenset(
    {"unknown", "not reported", "equivocal", "inconclusive", "test value reported", "not applicable", "pending"}
)
MGMT_METHYLATION_VARIANT_TYPES: frozenset[str] = frozenset({"methylation", "hypermethylation"})

MGMT_SOURCE_STP27 = "methylation_stp27"
MGMT_SOURCE_CLINICAL = "clinical_molecular_test"
MGMT_SOURCE_PRECEDENCE: tuple[str, ...] = (MGMT_SOURCE_STP27, MGMT_SOURCE_CLINICAL)

# The columns of raw/mgmt_probe_betas the calls read (transforms.markers checks they are there).
BETA_COLUMNS = ("file_id", "case_id", "submitter_id", "sample_type", "platform", "probe_id", "beta")


# ------------------------------------------------------------------------------------------------------------
# MGMT-STP27 on the probe betas
# ------------------------------------------------------------------------------------------------------------


def stp27_probability(beta_m1: pl.Expr, beta_m2: pl.Expr) -> pl.Expr:
    """MGMT-STP27 probability of promoter methylation from the betas of cg12434587 (M1) and cg12981137 (M2)."""

    def m_value(beta: pl.Expr) -> pl.Expr:
        clipped = beta.clip(BETA_CLIP_EPSILON, 1.0 - BETA_CLIP_EPSILON)
        return (clipped / (1.0 - clipped)).log(2.0)

    logit = STP27_INTERCEPT + STP27_COEFFICIENT_M1 * m_value(beta_m1) + STP27_COEFFICIENT_M2 * m_value(beta_m2)
    return 1.0 / (1.0 + (-logit).exp())


def stp27_calls(raw_betas: Frame, cases: pl.DataFrame, release: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    raw_betas = raw_betas.collect() if isinstance(raw_betas, pl.LazyFrame) else raw_betas  # small: no documents
    # The whole raw row, as JSON, is the quarantine record of a beta row.
    betas = raw_betas.select(*BETA_COLUMNS, pl.struct(raw_betas.columns).struct.json_encode().alias("_record"))
    parts: list[pl.DataFrame] = []
    known = pl.col("case_id").is_in(cases["case_id"].implode()).fill_null(False)
    parts.append(
        quarantine_rows(
            betas.filter(~known),
            release=release,
            table=TABLE_BETAS,
            field="case_id",
            value=pl.col("case_id"),
            reason="orphan_methylation_file",
            detail=pl.format(
                "methylation file {} names case {} ({}) which is not in raw/gdc_cases for this release",
                as_text(pl.col("file_id")),
                as_text(pl.col("case_id")),
                as_text(pl.col("submitter_id")),
            ),
            record=pl.col("_record"),
        )
    )
    beta = pl.col("beta")
    out_of_range = beta.is_not_null() & (beta.is_nan() | (beta < 0.0) | (beta > 1.0))
    parts.append(
        quarantine_rows(
            betas.filter(known & out_of_range),
            release=release,
            table=TABLE_BETAS,
            field="beta",
            value=pl.col("beta"),
            reason="beta_out_of_range",
            detail=pl.format(
                "methylation file {} of case {} ({}): probe {} has beta {}, outside [0, 1]; treated as missing",
                as_text(pl.col("file_id")),
                pl.col("case_id"),
                as_text(pl.col("submitter_id")),
                as_text(pl.col("probe_id")),
                as_text(pl.col("beta")),
            ),
            record=pl.col("_record"),
        )
    )
    probes = betas.filter(known & pl.col("probe_id").is_in(list(MGMT_STP27_PROBES))).with_columns(
        pl.when(out_of_range).then(None).otherwise(pl.col("beta")).alias("beta")
    )
    # The same probe listed twice in one file with different betas cannot be resolved: quarantine, use null.
    conflicting = probes.filter(pl.col("beta").n_unique().over("file_id", "probe_id") > 1)
    parts.append(
        quarantine_rows(
            conflicting,
            release=release,
            table=TABLE_BETAS,
            field="beta",
            value=pl.col("beta"),
            reason="conflicting_probe_beta",
            detail=pl.format(
                "methylation file {} of case {} ({}): probe {} has several different betas; probe treated as missing",
                as_text(pl.col("file_id")),
                pl.col("case_id"),
                as_text(pl.col("submitter_id")),
                as_text(pl.col("probe_id")),
            ),
            record=pl.col("_record"),
        )
    )
    probes = probes.with_columns(
        pl.when(beta.n_unique().over("file_id", "probe_id") > 1).then(None).otherwise(beta).alias("beta")
    )
    files = probes.group_by("file_id").agg(
        pl.col("case_id").first(),
        pl.col("sample_type").first(),
        pl.col("platform").first(),
        pl.col("beta").filter(pl.col("probe_id") == STP27_PROBE_M1).first().alias("beta_m1"),
        pl.col("beta").filter(pl.col("probe_id") == STP27_PROBE_M2).first().alias("beta_m2"),
    )
    files = files.with_columns(stp27_probability(pl.col("beta_m1"), pl.col("beta_m2")).alias("mgmt_stp27_probability"))
    sample_rank = pl.col("sample_type").replace_strict(
        {t: i for i, t in enumerate(TUMOUR_SAMPLE_TYPE_PRIORITY)}, default=None, return_dtype=pl.Int32
    )
    platform_rank = pl.col("platform").replace_strict(
        {p: i for i, p in enumerate(METHYLATION_PLATFORM_PRIORITY)},
        default=len(METHYLATION_PLATFORM_PRIORITY),
        return_dtype=pl.Int32,
    )
    chosen = (
        files.with_columns(sample_rank.alias("_sample_rank"), platform_rank.alias("_platform_rank"))
        .filter(pl.col("_sample_rank").is_not_null())
        .sort(
            pl.col("mgmt_stp27_probability").is_null(),
            "_sample_rank",
            "_platform_rank",
            "file_id",
        )
        .group_by("case_id", maintain_order=True)
        .first()
        .select("case_id", "mgmt_stp27_probability")
    )
    return chosen, pl.concat(parts)


# ------------------------------------------------------------------------------------------------------------
# clinical molecular tests
# ------------------------------------------------------------------------------------------------------------


def clinical_mgmt_calls(
    tests: pl.DataFrame, documents: RawDocuments, release: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    mgmt = tests.filter(
        (pl.col("gene_symbol").str.to_uppercase() == "MGMT")
        & (
            pl.col("variant_type").is_null()
            | pl.col("variant_type").str.to_lowercase().is_in(sorted(MGMT_METHYLATION_VARIANT_TYPES))
        )
    ).with_columns(pl.col("test_result").str.strip_chars().str.to_lowercase().alias("_result"))
    mgmt = mgmt.with_columns(
        pl.col("_result")
        .replace_strict(MGMT_TEST_RESULT_METHYLATED, default=None, return_dtype=pl.Boolean)
        .alias("methylated")
    )
    unknown = mgmt.filter(
        pl.col("_result").is_not_null()
        & ~pl.col("_result").is_in(list(MGMT_TEST_RESULT_METHYLATED))
        & ~pl.col("_result").is_in(sorted(MOLECULAR_TEST_NO_RESULT))
    )
    parts = [
        quarantine_rows(
            documents.attach(unknown),
            release=release,
            table=TABLE_CASE_MOLECULAR_TESTS,
            field="follow_ups.molecular_tests.test_result",
            value=pl.col("test_result"),
            reason="unknown_mgmt_test_result",
            detail=pl.format(
                "case {} ({}): MGMT molecular test result {} is not in the MGMT test vocabulary; "
                "no clinical call from it",
                pl.col("case_id"),
                as_text(pl.col("submitter_id")),
                as_text(pl.col("test_result")),
            ),
            record=pl.col("document"),
        )
    ]
    per_case = (
        mgmt.filter(pl.col("methylated").is_not_null())
        .group_by("case_id")
        .agg(
            pl.col("submitter_id").first(),
            pl.col(RAW_ROW).first(),
            pl.col("methylated").n_unique().alias("_n_distinct"),
            pl.col("methylated").first().alias("clinical_methylated"),
            pl.col("test_result").unique().sort().str.join(", ").alias("_results"),
        )
    )
    conflicting = documents.attach(per_case.filter(pl.col("_n_distinct") > 1))
    parts.append(
        quarantine_rows(
            conflicting,
            release=release,
            table=TABLE_CASE_MOLECULAR_TESTS,
            field="follow_ups.molecular_tests.test_result",
            value=pl.col("_results"),
            reason="conflicting_mgmt_tests",
            detail=pl.format(
                "case {} ({}): MGMT molecular tests disagree ({}); no clinical call",
                pl.col("case_id"),
                as_text(pl.col("submitter_id")),
                pl.col("_results"),
            ),
            record=pl.col("document"),
        )
    )
    calls = per_case.filter(pl.col("_n_distinct") == 1).select("case_id", "clinical_methylated")
    return calls, pl.concat(parts)
