"""Fair champion/challenger comparison: both recipes on the same folds, paired differences, a corrected
interval, and a non-inferiority decision. Synthetic cohort with a known signal (_model_cohort)."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from _model_cohort import synthetic_cohort
from scipy import stats

from contracts.features import FEATURE_SETS
from models.challenge import Recipe, compare_recipes, corrected_resampled_t_interval, naive_paired_t_interval
from models.cv import repeated_stratified_case_folds
from models.grading import GBM_VS_LGG, cross_validate_grading, fit_classifier, grading_data
from models.registry import PROMOTION_RULES
from models.survival import SURVIVAL_RISK, fit_survival_model, survival_data
from models.training import PARAM_GRID

CV = {"n_splits": 3, "n_repeats": 2, "seed": 11}
# Uninformative in the synthetic cohort: sex and Karnofsky score are drawn independently of everything.
NOISE = ("sex_male", "karnofsky_score")
MARGIN = PROMOTION_RULES[GBM_VS_LGG].margin


@pytest.fixture(scope="module")
def matrix() -> pl.DataFrame:
    from transforms.features import build_model_matrix

    return build_model_matrix(*synthetic_cohort(300, seed=7)).matrix


@pytest.fixture(scope="module")
def new_cases(matrix) -> list[str]:
    return sorted(matrix["case_id"].to_list())[-60:]  # "the patients of the new release"


@pytest.fixture(scope="module")
def worse(matrix, new_cases):
    """Full champion recipe vs a challenger that dropped every informative feature."""
    champion = Recipe(GBM_VS_LGG, FEATURE_SETS[GBM_VS_LGG])
    challenger = Recipe(GBM_VS_LGG, NOISE)
    return compare_recipes(matrix, GBM_VS_LGG, champion, challenger, new_case_ids=new_cases, **CV)


def test_a_challenger_built_to_be_worse_is_kept_as_challenger_with_the_interval_below_minus_margin(worse):
    assert worse.metric == "roc_auc" and worse.margin == MARGIN
    assert worse.promote is False
    assert worse.difference_ci_low < worse.difference_ci_high < -worse.margin  # the whole interval
    assert worse.difference_mean == pytest.approx(np.mean(worse.fold_differences))
    assert worse.n_folds == 6 and len(worse.fold_differences) == 6
    assert worse.reason.startswith("kept as challenger") and "worse by more than the margin" in worse.reason
    assert f"{worse.difference_ci_high:+.4f}" in worse.reason and "roc_auc" in worse.reason
    # paired differences are challenger - champion, fold by fold
    champion = worse.champion_cv.fold_metrics.sort("repeat", "fold")["roc_auc"].to_numpy()
    challenger = worse.challenger_cv.fold_metrics.sort("repeat", "fold")["roc_auc"].to_numpy()
    np.testing.assert_allclose(worse.fold_differences, challenger - champion)
    assert worse.champion_summary["roc_auc"]["mean"] > 0.95 > 0.7 > worse.challenger_summary["roc_auc"]["mean"]
    # the new patients, paired: same 60 patients, both recipes' pooled out-of-fold predictions
    assert worse.new_patients["n"] == 60 and worse.new_patients["challenger"] < worse.new_patients["champion"]
    predictions = worse.new_patient_predictions
    assert predictions.height == 60 and {"champion_probability_gbm", "challenger_probability_gbm"} <= set(
        predictions.columns
    )
    stored = json.loads(json.dumps(worse.to_json(), allow_nan=False))  # what the registry keeps
    assert stored["promote"] is False and stored["fold_differences"] == worse.fold_differences


def test_the_folds_of_both_recipes_are_identical_case_by_case(worse, matrix):
    def cases_per_fold(cv) -> dict[tuple[int, int], list[str]]:
        grouped = cv.out_of_fold.group_by("repeat", "fold").agg(pl.col("case_id").sort())
        return {(r, f): cases for r, f, cases in grouped.iter_rows()}

    champion, challenger = cases_per_fold(worse.champion_cv), cases_per_fold(worse.challenger_cv)
    assert champion == challenger and len(champion) == 6
    # ... and they are the folds models.cv draws for these cases with this seed
    data = grading_data(matrix, NOISE, GBM_VS_LGG)
    expected = repeated_stratified_case_folds(data.case_ids, data.label_index, n_splits=3, n_repeats=2, seed=CV["seed"])
    assert {(f.repeat, f.fold): sorted(data.case_ids[f.test_index].tolist()) for f in expected} == champion
    assert worse.fold_keys == sorted(champion)


def test_the_corrected_interval_is_wider_than_the_naive_paired_t_interval(worse):
    d = np.asarray(worse.fold_differences)
    k = d.size
    t = stats.t.ppf(0.975, k - 1)
    naive_half = t * d.std(ddof=1) / math.sqrt(k)
    corrected_half = t * math.sqrt(d.var(ddof=1) * (1 / k + worse.test_train_ratio))
    assert worse.test_train_ratio == pytest.approx(0.5, abs=0.01)  # 3-fold CV: test 1/3, train 2/3
    assert worse.difference_ci_low == pytest.approx(d.mean() - corrected_half)
    assert worse.difference_ci_high == pytest.approx(d.mean() + corrected_half)
    _, naive_low, naive_high = naive_paired_t_interval(d)
    assert naive_high - naive_low == pytest.approx(2 * naive_half)
    width = worse.difference_ci_high - worse.difference_ci_low
    assert width > naive_high - naive_low
    assert width / (naive_high - naive_low) == pytest.approx(math.sqrt(1 + k * worse.test_train_ratio))  # = 2 here


def test_a_challenger_built_to_be_better_is_promoted(matrix, new_cases):
    champion = Recipe(GBM_VS_LGG, NOISE)
    challenger = Recipe(GBM_VS_LGG, FEATURE_SETS[GBM_VS_LGG])
    result = compare_recipes(matrix, GBM_VS_LGG, champion, challenger, new_case_ids=new_cases, **CV)
    assert result.promote is True
    assert result.difference_ci_low > 0 > -result.margin
    assert result.reason.startswith("promoted") and "lower bound is above -margin" in result.reason
    assert result.new_patients["challenger"] > result.new_patients["champion"]


def test_identical_recipes_run_one_cv_differ_by_exactly_zero_and_are_promoted(matrix, new_cases):
    champion = Recipe(GBM_VS_LGG, FEATURE_SETS[GBM_VS_LGG])
    challenger = Recipe(GBM_VS_LGG, list(FEATURE_SETS[GBM_VS_LGG]), grid=tuple(dict(p) for p in PARAM_GRID))
    assert champion.fingerprint() == challenger.fingerprint()
    result = compare_recipes(matrix, GBM_VS_LGG, champion, challenger, new_case_ids=new_cases[:5], **CV)
    assert result.champion_cv is result.challenger_cv  # one CV run, reused
    assert result.champion_cv.fold_metrics is result.challenger_cv.fold_metrics
    assert result.fold_differences == [0.0] * 6
    assert result.difference_mean == result.difference_ci_low == result.difference_ci_high == 0.0
    assert result.promote is True and "identical recipe" in result.reason
    assert result.champion_summary == result.challenger_summary
    # fewer than 10 new patients: the metric is not reported
    assert (
        result.new_patients["n"] == 5
        and result.new_patients["champion"] is None
        and result.new_patients["challenger"] is None
    )


def test_a_champion_whose_features_left_the_matrix_cannot_be_refit_and_the_challenger_is_promoted(matrix, new_cases):
    champion = Recipe(GBM_VS_LGG, (*FEATURE_SETS[GBM_VS_LGG], "tumour_volume_ml", "mgmt_old_assay"))
    challenger = Recipe(GBM_VS_LGG, ("idh_mutant", "age_at_diagnosis_years"))
    result = compare_recipes(matrix, GBM_VS_LGG, champion, challenger, new_case_ids=new_cases, **CV)
    assert result.promote is True
    assert result.missing_champion_features == ["tumour_volume_ml", "mgmt_old_assay"]
    assert (
        "tumour_volume_ml" in result.reason and "mgmt_old_assay" in result.reason and "cannot be refit" in result.reason
    )
    assert result.champion_summary is None and result.champion_cv is None
    assert result.fold_differences == [] and result.n_folds == 0 and math.isnan(result.difference_ci_low)
    assert result.challenger_summary["roc_auc"]["folds"] == 6
    assert result.new_patients["champion"] is None and result.new_patients["challenger"] > 0.8
    stored = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert stored["difference_mean"] is None and stored["champion_summary"] is None and stored["promote"] is True


def test_survival_a_worse_challenger_is_judged_on_harrell_c_and_kept(matrix, new_cases):
    champion = Recipe(SURVIVAL_RISK, FEATURE_SETS[SURVIVAL_RISK])
    challenger = Recipe(SURVIVAL_RISK, NOISE)
    result = compare_recipes(matrix, SURVIVAL_RISK, champion, challenger, new_case_ids=new_cases, **CV)
    assert result.metric == "harrell_c"
    assert result.promote is False and result.difference_ci_high < -result.margin
    assert "harrell_c" in result.reason
    assert set(result.champion_cv.fold_metrics["model"]) == {"lightgbm_cox"}  # baselines off
    assert result.new_patients["n"] == 60 and result.new_patients["champion"] > result.new_patients["challenger"]
    assert "champion_survival_probability_24m" in result.new_patient_predictions.columns


def test_a_recipe_grid_is_really_used_by_the_fit(matrix):
    data = grading_data(matrix, FEATURE_SETS[GBM_VS_LGG], GBM_VS_LGG)
    grid = ({"num_leaves": 2, "min_data_in_leaf": 30},)
    default = fit_classifier(data.features, data.label_index, data.feature_names, GBM_VS_LGG)
    custom = fit_classifier(data.features, data.label_index, data.feature_names, GBM_VS_LGG, grid=grid)
    assert default.params["num_leaves"] in {p["num_leaves"] for p in PARAM_GRID}
    assert (custom.params["num_leaves"], custom.params["min_data_in_leaf"]) == (2, 30)
    assert default.booster.model_to_string() != custom.booster.model_to_string()
    cv = cross_validate_grading(data, GBM_VS_LGG, n_splits=2, n_repeats=1, seed=1, grid=grid)
    assert [c["num_leaves"] for c in cv.chosen] == [2, 2]
    survival = survival_data(matrix, FEATURE_SETS[SURVIVAL_RISK])
    cox = fit_survival_model(
        survival.features, survival.overall_survival_days, survival.death_observed, survival.feature_names, grid=grid
    )
    assert cox.params["num_leaves"] == 2
    assert (
        Recipe(GBM_VS_LGG, FEATURE_SETS[GBM_VS_LGG], grid).fingerprint()
        != Recipe(GBM_VS_LGG, FEATURE_SETS[GBM_VS_LGG]).fingerprint()
    )


def test_recipe_fingerprint_is_a_stable_content_hash():
    recipe = Recipe(GBM_VS_LGG, ("a", "b"), ({"num_leaves": 4, "min_data_in_leaf": 20},))
    same = Recipe(GBM_VS_LGG, ["a", "b"], [{"min_data_in_leaf": 20, "num_leaves": 4}])  # key order is not content
    assert recipe.fingerprint() == same.fingerprint() and recipe == same and hash(recipe) == hash(same)
    assert len(recipe.fingerprint()) == 64 and int(recipe.fingerprint(), 16) >= 0
    assert Recipe(GBM_VS_LGG, ("b", "a"), recipe.grid).fingerprint() != recipe.fingerprint()  # column order matters
    assert Recipe("grading_who_grade", ("a", "b"), recipe.grid).fingerprint() != recipe.fingerprint()
    assert Recipe(GBM_VS_LGG, ("a",)).grid == PARAM_GRID


def test_bad_inputs_are_errors_before_any_training(matrix):
    full = Recipe(GBM_VS_LGG, FEATURE_SETS[GBM_VS_LGG])
    with pytest.raises(ValueError, match="margin must be positive"):
        compare_recipes(matrix, GBM_VS_LGG, full, full, margin=0.0)
    with pytest.raises(ValueError, match="challenger recipe needs column"):
        compare_recipes(matrix, GBM_VS_LGG, full, Recipe(GBM_VS_LGG, ("no_such_column",)))
    with pytest.raises(ValueError, match="for task"):
        compare_recipes(matrix, GBM_VS_LGG, full, Recipe(SURVIVAL_RISK, FEATURE_SETS[SURVIVAL_RISK]))
    with pytest.raises(ValueError, match="one release"):
        two = pl.concat([matrix, matrix.with_columns(pl.lit("46.0").alias("release"))])
        compare_recipes(two, GBM_VS_LGG, full, full)
    with pytest.raises(ValueError, match="the task fixes"):
        Recipe(GBM_VS_LGG, ("a",), ({"objective": "regression"},))


def test_the_interval_of_a_constant_difference_is_a_point_and_needs_two_folds():
    assert corrected_resampled_t_interval([0.0, 0.0, 0.0], 0.25) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        corrected_resampled_t_interval([0.1], 0.25)
