"""Copy-number calls per case (a stage of transforms.markers): raw/gdc_cnv_occurrences (gene level, only
changed genes have an occurrence) -> 1p/19q co-deletion, chromosome 7 gain with 10 loss, EGFR amplification,
CDKN2A homozygous deletion.

Every rule and threshold is a named constant below, with its source.
  * Direction of an occurrence: `cnv_change_5_category` in `CNV_LOSS_CATEGORIES` / `CNV_GAIN_CATEGORIES`
    (GDC_BUNDLE.md vocabulary); if the 5-category is missing, `cnv_change` (`Gain`/`Loss`). Unknown or
    contradictory categories are quarantined.
  * Arm / chromosome calls by majority of the panel's marker genes (`contracts.panels.CNV_MARKER_GENES`; GDC
    gives no arm-level call — GDC_API_FACTS 4.2): for a cnv-profiled case every panel gene counts as profiled
    (unchanged genes simply have no occurrence), so the denominator is the number of panel genes on the arm.
    `codeletion_1p19q`: >= `ARM_CALL_MIN_FRACTION` of 1p genes lost AND of 19q genes lost;
    `chr7_gain_chr10_loss`: >= `ARM_CALL_MIN_FRACTION` of chromosome-7 genes gained AND of chromosome-10 genes
    lost (cIMPACT-NOW update 3: whole chromosome 7 gain with whole chromosome 10 loss).
  * `egfr_amplified`: an `Amplification` occurrence on EGFR; `cdkn2a_homozygous_deletion`: a
    `Homozygous Deletion` occurrence on CDKN2A.
  * Not cnv-profiled -> all four null; profiled without an occurrence -> False (applied when
    transforms.markers joins the calls). Occurrences of unprofiled cases are quarantined, as for ssm.

The calls need only the raw key columns (synthetic cohorts carry ~2M cnv occurrence rows, ~0.7 GB of
documents at 100k cases): a document is fetched only for a quarantined occurrence.
"""

from __future__ import annotations

import polars as pl

from contracts.panels import CNV_MARKER_GENES, cnv_genes_on
from transforms.marker_inputs import (
    TABLE_CNV,
    Frame,
    RawDocuments,
    as_text,
    orphans_and_unprofiled,
    quarantine_rows,
    with_raw_row,
)

CNV_LOSS_CATEGORIES: tuple[str, ...] = ("Loss", "Heterozygous Deletion", "Homozygous Deletion")
CNV_GAIN_CATEGORIES: tuple[str, ...] = ("Gain", "Amplification")
CNV_CHANGES: tuple[str, ...] = ("Gain", "Loss")
CNV_AMPLIFICATION = "Amplification"
CNV_HOMOZYGOUS_DELETION = "Homozygous Deletion"
# Arm-level call threshold: fraction of an arm's marker genes that must carry the change (GDC_API_FACTS 4.2:
# co-deletion when both arms are >= ~80-90 % lost; the same fraction is used for whole-chromosome 7/10).
ARM_CALL_MIN_FRACTION = 0.8
GENES_1P: tuple[str, ...] = cnv_genes_on("1", "p")
GENES_19Q: tuple[str, ...] = cnv_genes_on("19", "q")
GENES_CHR7: tuple[str, ...] = cnv_genes_on("7")
GENES_CHR10: tuple[str, ...] = cnv_genes_on("10")
# One bit per marker gene (the panel has fewer than 64 genes) for the per-case gene sets below.
_CNV_GENE_BIT: dict[str, int] = {g.symbol: 1 << index for index, g in enumerate(CNV_MARKER_GENES)}
if len(_CNV_GENE_BIT) > 64:
    raise ValueError("CNV marker panel outgrew the 64-bit gene set of copy_number_calls")

# The columns of raw/gdc_cnv_occurrences the calls read (transforms.markers checks they are there).
CNV_COLUMNS = (
    "cnv_occurrence_id",
    "case_id",
    "submitter_id",
    "gene_symbols",
    "cnv_change",
    "cnv_change_5_category",
    "document",
)


def copy_number_calls(raw_cnv: Frame, cases: pl.DataFrame, release: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    occurrences = with_raw_row(raw_cnv, [column for column in CNV_COLUMNS if column != "document"])
    documents = RawDocuments(raw_cnv)
    usable, quarantine = orphans_and_unprofiled(
        occurrences,
        cases,
        documents,
        profiled_column="cnv_profiled",
        kind="cnv",
        id_column="cnv_occurrence_id",
        release=release,
        table=TABLE_CNV,
    )
    category = pl.col("cnv_change_5_category")
    change = pl.col("cnv_change")
    unknown_category = category.is_not_null() & ~category.is_in(list(CNV_GAIN_CATEGORIES + CNV_LOSS_CATEGORIES))
    unknown_change = change.is_not_null() & ~change.is_in(list(CNV_CHANGES))
    missing_both = category.is_null() & change.is_null()
    contradictory = (
        ~unknown_category
        & ~unknown_change
        & category.is_not_null()
        & change.is_not_null()
        & (
            (category.is_in(list(CNV_GAIN_CATEGORIES)) & (change == "Loss"))
            | (category.is_in(list(CNV_LOSS_CATEGORIES)) & (change == "Gain"))
        )
    )
    checks = [
        (
            unknown_category,
            "cnv.cnv_change_5_category",
            category,
            "unknown_cnv_category",
            "cnv occurrence {} of case {} ({}): cnv_change_5_category {} is not one of "
            + ", ".join(CNV_GAIN_CATEGORIES + CNV_LOSS_CATEGORIES),
        ),
        (
            unknown_change & ~unknown_category,
            "cnv.cnv_change",
            change,
            "unknown_cnv_change",
            "cnv occurrence {} of case {} ({}): cnv_change {} is not Gain or Loss",
        ),
        (
            missing_both,
            "cnv.cnv_change_5_category",
            category,
            "missing_cnv_change",
            "cnv occurrence {} of case {} ({}): neither cnv_change_5_category nor cnv_change is given ({})",
        ),
        (
            contradictory,
            "cnv.cnv_change",
            pl.format("{} / {}", change, category),
            "contradictory_cnv_change",
            "cnv occurrence {} of case {} ({}): cnv_change and cnv_change_5_category disagree ({})",
        ),
    ]
    parts = [quarantine]
    rejected = pl.lit(False)
    for condition, field, value, reason, template in checks:
        parts.append(
            quarantine_rows(
                documents.attach(usable.filter(condition)),
                release=release,
                table=TABLE_CNV,
                field=field,
                value=value,
                reason=reason,
                detail=pl.format(
                    template,
                    as_text(pl.col("cnv_occurrence_id")),
                    pl.col("case_id"),
                    as_text(pl.col("submitter_id")),
                    as_text(value.cast(pl.String())),
                ),
                record=pl.col("document"),
            )
        )
        rejected = rejected | condition
    valid = usable.filter(~rejected)
    lost = category.is_in(list(CNV_LOSS_CATEGORIES)) | (category.is_null() & (change == "Loss"))
    gained = category.is_in(list(CNV_GAIN_CATEGORIES)) | (category.is_null() & (change == "Gain"))
    # A gene counts once however many occurrences it has: each marker gene is one bit of a per-case set
    # (bitwise OR over the case's occurrences, then a popcount per arm). One group_by on case_id, plain
    # aggregations — a (case, gene) group_by on ~2M rows costs several times more.
    gene_bit = pl.col("gene").replace_strict(_CNV_GENE_BIT, default=None, return_dtype=pl.UInt64).alias("gene_bit")

    def genes_with(event: pl.Expr, genes: tuple[str, ...]) -> pl.Expr:
        arm_mask = sum(_CNV_GENE_BIT[g] for g in genes)
        return pl.when(event).then(pl.col("gene_bit") & arm_mask).otherwise(0).cast(pl.UInt64)

    is_lost, is_gained = pl.col("lost").fill_null(False), pl.col("gained").fill_null(False)
    counted = (
        valid.select("case_id", "gene_symbols", lost.alias("lost"), gained.alias("gained"), category.alias("category"))
        .explode("gene_symbols")
        .rename({"gene_symbols": "gene"})
        .with_columns(gene_bit)
        .filter(pl.col("gene_bit").is_not_null())
        .select(
            "case_id",
            genes_with(is_lost, GENES_1P).alias("lost_1p"),
            genes_with(is_lost, GENES_19Q).alias("lost_19q"),
            genes_with(is_gained, GENES_CHR7).alias("gained_7"),
            genes_with(is_lost, GENES_CHR10).alias("lost_10"),
            ((pl.col("category") == CNV_AMPLIFICATION) & (pl.col("gene") == "EGFR"))
            .fill_null(False)
            .alias("egfr_amplified"),
            ((pl.col("category") == CNV_HOMOZYGOUS_DELETION) & (pl.col("gene") == "CDKN2A"))
            .fill_null(False)
            .alias("cdkn2a_homozygous_deletion"),
        )
        .group_by("case_id")
        .agg(
            pl.col("lost_1p", "lost_19q", "gained_7", "lost_10").bitwise_or(),
            pl.col("egfr_amplified", "cdkn2a_homozygous_deletion").any(),
        )
    )

    def arm_call(genes_bits: str, genes: tuple[str, ...]) -> pl.Expr:
        return pl.col(genes_bits).bitwise_count_ones() / len(genes) >= ARM_CALL_MIN_FRACTION

    calls = counted.select(
        "case_id",
        (arm_call("lost_1p", GENES_1P) & arm_call("lost_19q", GENES_19Q)).alias("codeletion_1p19q"),
        (arm_call("gained_7", GENES_CHR7) & arm_call("lost_10", GENES_CHR10)).alias("chr7_gain_chr10_loss"),
        "egfr_amplified",
        "cdkn2a_homozygous_deletion",
    )
    return calls, pl.concat(parts)
