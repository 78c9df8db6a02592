"""The four result tables of one release, from its expression matrix and group labels: differential expression
per contrast, enrichment per contrast, subtypes per patient and survival by gene per cohort. Each row carries
its release, n and method (contracts/analysis_tables.py declares the columns)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from analyses.cohorts import CONTRASTS, SURVIVAL_COHORTS
from analyses.differential_expression import (
    MIN_GROUP_SIZE,
    differential_expression,
    gene_filter_description,
    method_description,
)
from analyses.enrichment import enrichment
from analyses.gene_sets import HALLMARK_COLLECTION, SUBTYPES, hallmark_sets, match_sets, wang_subtype_sets
from analyses.matrix import ExpressionMatrix
from analyses.multiple_testing import benjamini_hochberg
from analyses.subtypes import SSGSEA_TAU, call_subtypes, standardise
from analyses.survival_by_gene import (
    cox_by_gene,
    logrank_by_gene,
    maxstat_by_gene,
)
from contracts.analysis_tables import (
    DIFFERENTIAL_EXPRESSION_SCHEMA,
    ENRICHMENT_SCHEMA,
    EXPRESSION_SUBTYPES_SCHEMA,
    SUBTYPE_NAMES,
    SURVIVAL_BY_GENE_SCHEMA,
)

SURVIVAL_GENE_BLOCK = 2048
MIN_SURVIVAL_PATIENTS = 10


def _groups(matrix: ExpressionMatrix, labels: pl.DataFrame, contrast: str) -> pl.DataFrame:
    return labels.filter(pl.col("contrast") == contrast).join(matrix.patients, on="case_id", how="semi").sort("case_id")


def differential_expression_table(
    matrix: ExpressionMatrix,
    labels: pl.DataFrame,
    release: str,
    *,
    n_cpus: int | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Every contrast with at least MIN_GROUP_SIZE patients per group; the others are named with their n."""
    parts, skipped = [], {}
    for contrast in CONTRASTS:
        groups = _groups(matrix, labels, contrast.name)
        n_numerator = int(groups["in_numerator"].sum())
        n_reference = groups.height - n_numerator
        if min(n_numerator, n_reference) < MIN_GROUP_SIZE:
            skipped[contrast.name] = f"n = {n_numerator} vs {n_reference} (needs >= {MIN_GROUP_SIZE} per group)"
            continue
        log(f"differential expression {contrast.name}: {n_numerator} vs {n_reference} patients")
        result = differential_expression(
            matrix.counts[matrix.rows(groups["case_id"])],
            matrix.gene_ids,
            groups["in_numerator"].to_numpy(),
            n_cpus=n_cpus,
        )
        parts.append(
            result.join(matrix.gene_frame, on="gene_id", how="left").with_columns(
                release=pl.lit(release),
                contrast=pl.lit(contrast.name),
                numerator_group=pl.lit(contrast.numerator),
                reference_group=pl.lit(contrast.reference),
                population=pl.lit(contrast.population),
                model_derived=pl.lit(contrast.model_derived),
                n_numerator=pl.lit(n_numerator, pl.Int64),
                n_reference=pl.lit(n_reference, pl.Int64),
                gene_filter=pl.lit(gene_filter_description()),
                method=pl.lit(method_description()),
            )
        )
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=DIFFERENTIAL_EXPRESSION_SCHEMA)
    return frame.select(list(DIFFERENTIAL_EXPRESSION_SCHEMA)).cast(DIFFERENTIAL_EXPRESSION_SCHEMA), skipped


def enrichment_table(differential: pl.DataFrame, release: str, **gsea_options) -> pl.DataFrame:
    parts = []
    sets = hallmark_sets()
    for (contrast,), result in differential.group_by(["contrast"], maintain_order=True):
        parts.append(
            enrichment(result, sets, **gsea_options).with_columns(
                release=pl.lit(release),
                contrast=pl.lit(contrast),
                n_numerator=pl.lit(result["n_numerator"][0], pl.Int64),
                n_reference=pl.lit(result["n_reference"][0], pl.Int64),
                collection=pl.lit(HALLMARK_COLLECTION),
            )
        )
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=ENRICHMENT_SCHEMA)
    return frame.select(list(ENRICHMENT_SCHEMA)).cast(ENRICHMENT_SCHEMA)


def subtype_table(matrix: ExpressionMatrix, release: str, **options) -> pl.DataFrame:
    if not matrix.case_ids:
        return pl.DataFrame(schema=EXPRESSION_SUBTYPES_SCHEMA)
    sets = match_sets(wang_subtype_sets(), matrix.gene_names)
    # Each gene standardised across the release's patients first: ranked raw, a sample's signature genes win or
    # lose by their typical level, not by how this tumour differs (on the dev patients every call was Classical).
    calls = call_subtypes(standardise(matrix.log2_normalised), sets, **options)
    names = np.array(SUBTYPES)
    columns: dict[str, object] = {
        "release": release,
        "case_id": matrix.case_ids,
        "subtype": names[calls.call],
        "subtype_p_value": calls.p_values[np.arange(len(calls.call)), calls.call],
        "centroid_subtype": names[calls.centroid_call],
        "n_patients": len(matrix.case_ids),
        "permutations": calls.permutations,
        "method": f"GSVA ssgsea (tau {SSGSEA_TAU}, normalised) of log2 normalised counts standardised per gene "
        "across the release's patients, Wang et al. 2017 genes; centroid = mean of those standardised values",
    }
    for column, name in enumerate(SUBTYPE_NAMES):
        columns[f"{name}_score"] = calls.scores[:, column]
        columns[f"{name}_p_value"] = calls.p_values[:, column]
        columns[f"{name}_centroid_score"] = calls.centroid_scores[:, column]
        columns[f"{name}_genes_measured"] = sets[column].n_measured
    return (
        pl.DataFrame(columns, nan_to_null=True)
        .select(list(EXPRESSION_SUBTYPES_SCHEMA))
        .cast(EXPRESSION_SUBTYPES_SCHEMA)
    )


def _split_rows(values: np.ndarray, time: np.ndarray, event: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Median, quartile and maxstat splits of one block of genes (patients x genes)."""
    median = np.median(values, axis=0)
    high = values > median
    quartiles = np.quantile(values, [0.25, 0.5, 0.75], axis=0)
    quartile_group = (values > quartiles[0]).astype(int) + (values > quartiles[1]) + (values > quartiles[2])
    searched = maxstat_by_gene(values, time, event)
    searched_high = values > searched.cut_point
    rows = {}
    for method, split, cut in (("median_split", high, median), ("maxstat_split", searched_high, searched.cut_point)):
        fit = cox_by_gene(split.astype(np.float64), time, event)
        chisq, p = logrank_by_gene(split.astype(int), time, event)
        rows[method] = {
            "n_high": split.sum(0),
            "hazard_ratio": fit.hazard_ratio,
            "ci_low": fit.ci_low,
            "ci_high": fit.ci_high,
            "statistic": chisq,
            "p_value": p,
            "cut_point": cut,
        }
    rows["maxstat_split"]["statistic"] = searched.statistic
    rows["maxstat_split"]["p_value"] = searched.p_value
    chisq, p = logrank_by_gene(quartile_group, time, event)
    nan = np.full(values.shape[1], np.nan)
    rows["quartile_split"] = {
        "n_high": (quartile_group == 3).sum(0),
        "hazard_ratio": nan,
        "ci_low": nan,
        "ci_high": nan,
        "statistic": chisq,
        "p_value": p,
        "cut_point": quartiles[2],
    }
    return rows


def survival_by_gene_table(
    matrix: ExpressionMatrix, members: pl.DataFrame, release: str, *, block_genes: int = SURVIVAL_GENE_BLOCK
) -> pl.DataFrame:
    parts = []
    genes = len(matrix.gene_ids)
    for cohort in SURVIVAL_COHORTS:
        rows_of = members.filter(pl.col("cohort") == cohort.name).join(matrix.patients, on="case_id", how="semi")
        if rows_of.height < MIN_SURVIVAL_PATIENTS or not rows_of["death_observed"].any():
            continue
        index = matrix.rows(rows_of["case_id"])
        time = rows_of["overall_survival_days"].to_numpy()
        event = rows_of["death_observed"].to_numpy()
        strata = rows_of["idh_status"].to_numpy() if cohort.stratified_by_idh else None
        results: dict[str, dict[str, list[np.ndarray]]] = {}
        for start in range(0, genes, block_genes):
            values = matrix.log2_normalised[index, start : start + block_genes]
            fit = cox_by_gene(values, time, event, strata)
            block = {
                "cox": {
                    "n_high": np.zeros(values.shape[1], np.int64),
                    "hazard_ratio": fit.hazard_ratio,
                    "ci_low": fit.ci_low,
                    "ci_high": fit.ci_high,
                    "statistic": fit.log_hazard_ratio / fit.standard_error,
                    "p_value": fit.p_value,
                    "cut_point": np.full(values.shape[1], np.nan),
                }
            }
            if not cohort.stratified_by_idh:
                block |= _split_rows(values, time, event)
            for method, columns in block.items():
                for name, array in columns.items():
                    results.setdefault(method, {}).setdefault(name, []).append(np.asarray(array))
        for method, columns in results.items():
            data = {name: np.concatenate(arrays) for name, arrays in columns.items()}
            note = cohort.note
            if method == "maxstat_split":
                note = "; ".join(
                    filter(
                        None,
                        [
                            note,
                            "cut-point searched over the 10-90 % quantiles: hazard ratio "
                            "optimistic, p corrected for the search",
                        ],
                    )
                )
            parts.append(
                pl.DataFrame(
                    {
                        "release": release,
                        "cohort": cohort.name,
                        "method": method,
                        "gene_id": matrix.gene_ids,
                        "gene_name": matrix.gene_names,
                        "n_patients": rows_of.height,
                        "n_events": int(event.sum()),
                        "n_high": data["n_high"] if method != "cox" else None,
                        **{name: data[name] for name in ("hazard_ratio", "ci_low", "ci_high", "statistic", "p_value")},
                        "adjusted_p_value": benjamini_hochberg(data["p_value"]),
                        "cut_point": data["cut_point"],
                        "cut_point_searched": method == "maxstat_split",
                        "note": note or None,
                    },
                    nan_to_null=True,
                    strict=False,
                )
            )
    frame = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame(schema=SURVIVAL_BY_GENE_SCHEMA)
    return frame.select(list(SURVIVAL_BY_GENE_SCHEMA)).cast(SURVIVAL_BY_GENE_SCHEMA)
