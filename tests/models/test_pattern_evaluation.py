"""Tree-by-tree evaluation over decision patterns (`models.pattern_shap`, `models.explain.Evaluation`): raw scores
bit-identical to LightGBM's `predict(raw_score=True)`, sentences identical to the exact `pred_contrib` ones,
whatever the missing-value handling, the number of classes, the hashing or dense keys, the threads and parts."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

import models.explain as explain
import models.pattern_shap as pattern_shap
from models.explain import Evaluation, _uncertain_rows, contribution_sentences, contributions, evaluation_sentences
from tests.models.test_explanation_dedup import FEATURES, _booster, _scoring_matrix


def _assert_bit_identical(a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.array_equal(a.view(np.uint64), b.view(np.uint64))


def _predicted_class(booster: lgb.Booster, raw: np.ndarray) -> np.ndarray | None:
    return raw.argmax(axis=1) if booster.num_model_per_iteration() > 1 else None


def _exact_sentences(booster, X, predicted_class, task="grading_who_grade"):
    names = ["2", "3", "4"] if predicted_class is not None else None
    return contribution_sentences(
        contributions(booster, X, predicted_class),
        X,
        FEATURES,
        task=task,
        predicted_class=predicted_class,
        class_names=names,
    )


def _pattern_sentences(evaluation, predicted_class, task="grading_who_grade"):
    names = ["2", "3", "4"] if predicted_class is not None else None
    return evaluation_sentences(evaluation, FEATURES, task=task, predicted_class=predicted_class, class_names=names)


MODELS = [
    ("binary", {}),
    ("multiclass", {}),
    ("regression", {"zero_as_missing": True}),  # missing_type Zero splits
    ("binary", {"use_missing": False}),  # missing_type None: NaN is read as 0.0
    ("binary", {"num_leaves": 31, "max_depth": -1, "min_data_in_leaf": 2}),  # deep trees: hashed keys
]


@pytest.mark.parametrize("objective, params", MODELS)
def test_raw_scores_are_bit_identical_and_sentences_identical_to_the_exact_ones(objective, params):
    booster, _ = _booster(objective, **params)
    X = _scoring_matrix(booster, np.random.default_rng(11), 4000)
    evaluation = Evaluation(booster, X)
    assert evaluation._parts is not None  # the pattern pass ran (not LightGBM's fallback)
    _assert_bit_identical(evaluation.raw_score, booster.predict(X, raw_score=True))
    predicted_class = _predicted_class(booster, evaluation.raw_score)
    assert _pattern_sentences(evaluation, predicted_class) == _exact_sentences(booster, X, predicted_class)
    # The sums are within the stated bound of the exact contributions.
    exact = contributions(booster, X, predicted_class)
    found = evaluation._parts[0][1].contributions(predicted_class)
    assert np.abs(found.values - exact).max() <= found.bound


def test_hashed_keys_threads_and_parts_give_the_same_results(monkeypatch):
    booster, _ = _booster("multiclass")
    X = _scoring_matrix(booster, np.random.default_rng(4), 3000)
    reference = Evaluation(booster, X)
    predicted_class = _predicted_class(booster, reference.raw_score)
    sentences = _pattern_sentences(reference, predicted_class)
    monkeypatch.setattr(pattern_shap, "_DENSE_TABLE_LIMIT", 0)  # every key hashed
    monkeypatch.setattr(explain, "_WORKERS", 1)
    monkeypatch.setattr(explain, "_PATTERN_MATRIX_BYTES", 4 * booster.num_trees() * 700)  # parts of 700 rows
    other = Evaluation(booster, X)
    assert len(other._parts) == -(-len(X) // 700) > 1
    _assert_bit_identical(other.raw_score, reference.raw_score)
    assert _pattern_sentences(other, predicted_class) == sentences


def test_models_the_pattern_pass_does_not_cover_are_predicted_and_explained_by_lightgbm():
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.integers(0, 6, 1200).astype(float), rng.normal(size=1200)])
    y = (np.isin(X[:, 0], [1, 4]) ^ (X[:, 1] > 0)).astype(int)
    categorical = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 8,
            "verbosity": -1,
            "min_data_per_group": 5,
            "cat_smooth": 1,
            "num_threads": 1,
        },
        lgb.Dataset(X, label=y, categorical_feature=[0]),
        num_boost_round=20,
    )
    evaluation = Evaluation(categorical, X)
    assert evaluation._parts is None
    _assert_bit_identical(evaluation.raw_score, categorical.predict(X, raw_score=True))
    _assert_bit_identical(evaluation.sentence_contributions(), contributions(categorical, X))
    small = Evaluation(_booster("binary")[0], X[:10].repeat(4, axis=1))  # below PATTERN_MIN_ROWS
    assert small._parts is None


def test_a_model_of_single_leaf_trees_scores_its_constant():
    X = np.random.default_rng(0).normal(size=(800, 3))
    booster = lgb.train(
        {"objective": "regression", "verbosity": -1, "min_data_in_leaf": 10_000},
        lgb.Dataset(X, label=np.full(800, 2.5)),
        num_boost_round=3,
    )
    evaluation = Evaluation(booster, X)
    assert evaluation._parts is not None
    _assert_bit_identical(evaluation.raw_score, booster.predict(X, raw_score=True))
    assert not evaluation.sentence_contributions().any()


def test_rows_where_rounding_could_reorder_the_top_three_are_recomputed_exactly():
    bound = 1e-9
    values = np.array(
        [
            [3.0, 2.0, 1.0, 0.5],  # clear
            [3.0, 3.0 - 1e-12, 1.0, 0.5],  # a near tie in the top three
            [3.0, 2.0, 1.0, 1.0 - 1e-12],  # third and fourth nearly tied
            [3.0, 2.0, 0.0, 0.0],  # fewer than three nonzero: a said/zero question
            [-3.0, 2.0, -1.0, 0.0],  # signs do not matter, magnitudes do
        ]
    )
    assert _uncertain_rows(values, bound, 3).tolist() == [False, True, True, True, False]
    # End to end, with a bound a billion times looser: many rows go to the exact path, and the sentences are
    # still those of the exact contributions.
    booster, _ = _booster("binary")
    X = _scoring_matrix(booster, np.random.default_rng(2), 2000)
    evaluation = Evaluation(booster, X)
    found = evaluation._parts[0][1].contributions(None)
    uncertain = _uncertain_rows(found.values, found.bound * 1e9, 3)  # as if the bound were much looser
    assert uncertain.any()
    assert _pattern_sentences(evaluation, None, task="survival_risk") == _exact_sentences(
        booster, X, None, task="survival_risk"
    )


def test_scoring_outputs_are_those_of_lightgbm_predict():
    """The scores the pipeline writes: probabilities from the pattern raw scores equal predict_proba."""
    from models.grading import FittedClassifier

    booster, _ = _booster("binary")
    X = _scoring_matrix(booster, np.random.default_rng(6), 2400)
    model = FittedClassifier(
        task="grading_gbm_vs_lgg",
        booster=booster,
        feature_names=FEATURES,
        class_names=["LGG", "GBM"],
        params={},
        num_rounds=40,
        calibration={"method": "platt", "slope": 0.9, "intercept": -0.1},
        inner_loss=0.0,
    )
    _assert_bit_identical(model.probability_from_raw(Evaluation(booster, X).raw_score), model.predict_proba(X))
