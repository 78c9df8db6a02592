"""Survival by gene against R: coxph (Efron ties, pooled and stratified), survdiff (2 and 4 groups) and
maxstat.test (LogRank scores, Lau92 p-value) on the committed input in reference/ (survival_by_gene.R wrote the
outputs). Plus planted truth: genes that carry hazard are found among many that do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analyses.survival_by_gene import cox_by_gene, logrank_by_gene, maxstat_by_gene

REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def cohort():
    frame = pl.read_csv(REFERENCE / "survival_input.csv")
    genes = [column for column in frame.columns if column.startswith("gene_")]
    return (
        genes,
        frame.select(genes).to_numpy(),
        frame["time"].to_numpy(),
        frame["event"].to_numpy().astype(bool),
        frame["stratum"].to_numpy(),
        frame["quartile_group"].to_numpy().astype(int),
    )


@pytest.mark.parametrize("model", ["pooled", "stratified"])
def test_cox_matches_r_coxph(cohort, model):
    genes, values, time, event, stratum, _ = cohort
    reference = pl.read_csv(REFERENCE / "survival_reference_cox.csv").filter(pl.col("model") == model)
    fit = cox_by_gene(values, time, event, stratum if model == "stratified" else None, block_genes=4)
    assert reference["gene"].to_list() == genes
    np.testing.assert_allclose(fit.log_hazard_ratio, reference["coef"].to_numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fit.standard_error, reference["se"].to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(fit.p_value, reference["p"].to_numpy(), rtol=1e-6)
    assert fit.converged.all()
    assert (fit.ci_low < fit.hazard_ratio).all() and (fit.hazard_ratio < fit.ci_high).all()


def test_logrank_matches_r_survdiff(cohort):
    _, values, time, event, _, quartile = cohort
    reference = pl.read_csv(REFERENCE / "survival_reference_logrank.csv")
    median_split = (values > np.median(values, axis=0)).astype(int)
    chisq, p = logrank_by_gene(median_split, time, event)
    np.testing.assert_allclose(chisq, reference.filter(pl.col("split") == "median")["chisq"].to_numpy(), rtol=1e-9)
    four, four_p = logrank_by_gene(quartile[:, None], time, event)
    np.testing.assert_allclose(four, reference.filter(pl.col("split") == "quartile_group")["chisq"], rtol=1e-9)
    assert four_p[0] < 1e-6 and ((p > 0) & (p <= 1)).all()


def test_maxstat_matches_r_maxstat(cohort):
    _, values, time, event, _, _ = cohort
    reference = pl.read_csv(REFERENCE / "survival_reference_maxstat.csv")
    result = maxstat_by_gene(values, time, event)
    np.testing.assert_allclose(result.statistic, reference["statistic"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(result.cut_point, reference["cut_point"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(result.p_value, reference["p"].to_numpy(), rtol=1e-9, atol=1e-15)
    assert (result.n_low >= 15).all() and (result.n_low <= 135).all()  # the 10-90 % search range of n = 150


def test_constant_gene_gives_no_estimate(cohort):
    _, values, time, event, _, _ = cohort
    with_constant = np.column_stack([values[:, :2], np.full(len(time), 3.0)])
    fit = cox_by_gene(with_constant, time, event)
    assert np.isnan(fit.log_hazard_ratio[2]) and np.isfinite(fit.log_hazard_ratio[:2]).all()
    assert np.isnan(maxstat_by_gene(with_constant, time, event).p_value[2])


def test_planted_survival_genes_are_found():
    rng = np.random.default_rng(7)
    patients, genes, planted = 400, 400, 6
    values = rng.normal(0, 1, (patients, genes))
    hazard = np.exp(values[:, :planted] @ np.full(planted, 0.5))
    death, censor = rng.exponential(900 / hazard), rng.uniform(100, 2500, patients)
    time, event = np.minimum(death, censor), death <= censor
    fit = cox_by_gene(values, time, event)
    from analyses.multiple_testing import benjamini_hochberg

    found = benjamini_hochberg(fit.p_value) < 0.05
    assert found[:planted].mean() >= 0.9  # sensitivity
    assert found[planted:].sum() <= max(1, 0.1 * found.sum())  # false discoveries
    assert (fit.hazard_ratio[:planted][found[:planted]] > 1).all()


def test_kaplan_meier_equals_scikit_survival_and_log_rank_equals_compare_survival(cohort):
    """The report's curves and tests come from analyses (no scikit-learn import); scikit-survival is the reference."""
    from sksurv.compare import compare_survival
    from sksurv.nonparametric import kaplan_meier_estimator
    from sksurv.util import Surv

    from analyses.survival_by_gene import kaplan_meier

    _, _, time, event, stratum, quartile = cohort
    for rows in (slice(None), stratum == 1):
        curve = kaplan_meier(time[rows], event[rows])
        times, survival, band = kaplan_meier_estimator(event[rows], time[rows], conf_type="log-log")
        np.testing.assert_array_equal(curve.time, times)
        np.testing.assert_allclose(curve.survival, survival, rtol=1e-12)
        np.testing.assert_allclose(np.vstack([curve.ci_low, curve.ci_high]), band, rtol=1e-12, atol=1e-15)
    chisq, p = compare_survival(Surv.from_arrays(event=event, time=time), quartile)
    ours = logrank_by_gene(quartile[:, None], time, event)
    np.testing.assert_allclose([ours[0][0], ours[1][0]], [chisq, p], rtol=1e-9)


def test_a_release_without_expression_gives_empty_tables_with_their_columns():
    from analyses.cohorts import contrast_labels, survival_cohort_members
    from analyses.matrix import assemble
    from analyses.release_results import (
        differential_expression_table,
        enrichment_table,
        subtype_table,
        survival_by_gene_table,
    )
    from contracts.analysis_tables import (
        DIFFERENTIAL_EXPRESSION_SCHEMA,
        ENRICHMENT_SCHEMA,
        EXPRESSION_SUBTYPES_SCHEMA,
        SURVIVAL_BY_GENE_SCHEMA,
    )

    matrix = assemble([], pl.DataFrame(schema={"gene_id": pl.String, "gene_name": pl.String}), [])
    patients = pl.DataFrame(
        {
            "case_id": ["a", "b"],
            "project_id": ["TCGA-GBM", "TCGA-LGG"],
            "overall_survival_days": [10.0, 20.0],
            "death_observed": [True, False],
        }
    )
    markers = pl.DataFrame(
        {"case_id": ["a", "b"], "idh_status": ["wildtype", "mutant"], "codeletion_1p19q": [None, False]}
    )
    differential, skipped = differential_expression_table(matrix, contrast_labels(patients, markers, None), "46.0")
    assert differential.schema == pl.Schema(DIFFERENTIAL_EXPRESSION_SCHEMA) and differential.is_empty()
    assert set(skipped) == {"gbm_vs_lgg", "idh_mutant_vs_wildtype", "codeleted_vs_non_codeleted", "high_vs_low_risk"}
    assert enrichment_table(differential, "46.0").schema == pl.Schema(ENRICHMENT_SCHEMA)
    assert subtype_table(matrix, "46.0").schema == pl.Schema(EXPRESSION_SUBTYPES_SCHEMA)
    survival = survival_by_gene_table(matrix, survival_cohort_members(patients, markers), "46.0")
    assert survival.schema == pl.Schema(SURVIVAL_BY_GENE_SCHEMA) and survival.is_empty()
