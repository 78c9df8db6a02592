"""Differential expression against R's DESeq2 1.38 (committed reference from reference/deseq2_wald.R on the same
counts and the same gene filter), planted truth, and the enrichment of its result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from analyses.differential_expression import MIN_GROUP_SIZE, differential_expression
from analyses.enrichment import enrichment

REFERENCE = Path(__file__).parent / "reference"
PLANTED = {f"G{i:03d}" for i in range(30)}


@pytest.fixture(scope="module")
def result() -> pl.DataFrame:
    counts = pl.read_csv(REFERENCE / "deseq2_input_counts.csv")
    groups = pl.read_csv(REFERENCE / "deseq2_input_groups.csv")
    return differential_expression(
        counts.drop("gene").to_numpy().T, counts["gene"].to_list(), (groups["group"] == "B").to_numpy(), n_cpus=1
    )


def test_matches_r_deseq2(result):
    reference = pl.read_csv(REFERENCE / "deseq2_reference_results.csv", null_values="NA")
    joined = result.join(reference, left_on="gene_id", right_on="gene", how="full", coalesce=True)
    assert len(joined) == len(result) == len(reference)  # the same genes pass the same filter
    np.testing.assert_allclose(joined["base_mean"], joined["baseMean"], rtol=1e-9)
    np.testing.assert_allclose(joined["log2_fold_change"], joined["log2FoldChange"], atol=0.01)
    np.testing.assert_allclose(joined["log2_fold_change_standard_error"], joined["lfcSE"], rtol=0.02)
    np.testing.assert_allclose(joined["wald_statistic"], joined["stat"], atol=0.05)
    assert stats.spearmanr(joined["p_value"], joined["pvalue"]).statistic > 0.999
    ours = set(joined.filter(pl.col("adjusted_p_value") < 0.05)["gene_id"])
    theirs = set(joined.filter(pl.col("padj") < 0.05)["gene_id"])
    assert ours == theirs


def test_recovers_planted_genes(result):
    significant = set(result.filter(pl.col("adjusted_p_value") < 0.05)["gene_id"])
    sensitivity = len(significant & PLANTED) / len(PLANTED)
    false_discovery_proportion = len(significant - PLANTED) / max(len(significant), 1)
    assert sensitivity >= 0.9 and false_discovery_proportion <= 0.1
    up = result.filter(pl.col("gene_id").is_in([f"G{i:03d}" for i in range(15)]))
    assert (up["log2_fold_change"] > 1).all()
    # apeGLM shrinks towards zero, never across it for a clear change.
    assert (np.sign(result["log2_fold_change_shrunken"]) == np.sign(result["log2_fold_change"])).mean() > 0.9
    assert (result["log2_fold_change_shrunken"].abs() <= result["log2_fold_change"].abs() + 1e-6).mean() > 0.95


def test_enrichment_finds_the_planted_set(result):
    sets = {"planted_up": tuple(f"G{i:03d}" for i in range(15)), "other": tuple(f"G{i:03d}" for i in range(100, 140))}
    table = enrichment(result.with_columns(gene_name=pl.col("gene_id")), sets, permutations=200, threads=1)
    gsea = table.filter(pl.col("analysis") == "gsea_preranked").sort("gene_set")
    assert gsea["genes_measured"].to_list() == [len(set(result["gene_id"]) & set(sets["other"])), 15]
    planted = gsea.filter(pl.col("gene_set") == "planted_up").row(0, named=True)
    assert planted["normalised_enrichment_score"] > 1.5 and planted["p_value"] <= 0.01
    ora = table.filter((pl.col("analysis") == "over_representation_up") & (pl.col("gene_set") == "planted_up"))
    assert ora["overlap"][0] >= 13 and ora["adjusted_p_value"][0] < 1e-6


def test_too_small_group_is_refused():
    counts = np.random.default_rng(0).poisson(50, (6, 20))
    with pytest.raises(ValueError, match=f">= {MIN_GROUP_SIZE} per group"):
        differential_expression(counts, [f"G{i}" for i in range(20)], np.array([1, 1, 0, 0, 0, 0], bool))
