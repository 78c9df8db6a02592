"""The reader of LightGBM model structure (`models.lightgbm_trees`): what it reads routes rows as LightGBM does
(leaves, raw scores, missing values, zero as missing, thresholds the JSON dump clamps), and the guard that
keeps the fast passes to LightGBM versions their exactness tests passed on."""

from __future__ import annotations

import logging
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import models.explain as explain
import models.lightgbm_trees as lightgbm_trees
from models.explain import Evaluation, contributions
from models.grading import FittedClassifier
from models.lightgbm_trees import (
    EXACTNESS_TESTS,
    EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS,
    MissingType,
    as_lightgbm_reads,
    read_forest,
)
from models.scoring import score_grading
from tests.models.test_explanation_dedup import FEATURES, _booster, _scoring_matrix

ROOT = Path(__file__).resolve().parents[2]

MODELS = [
    ("binary", {}),  # missing_type NaN splits, and +inf thresholds (missing against all values)
    ("multiclass", {}),
    ("regression", {"zero_as_missing": True}),  # missing_type Zero splits
    ("binary", {"use_missing": False}),  # missing_type None: NaN is read as 0.0
    ("binary", {"num_leaves": 31, "max_depth": -1, "min_data_in_leaf": 2}),  # deep trees
]


def _assert_bit_identical(a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.array_equal(a.view(np.uint64), b.view(np.uint64))


def _with_extremes(X: np.ndarray) -> np.ndarray:
    """`X` plus rows of values at the edges of LightGBM's reading: +-inf, beyond the dump's +-1e300, the limit
    itself, both zeros, values read as zero (1e-36) and the zero threshold's neighbours."""
    edges = [np.inf, -np.inf, 1e301, -1e301, 1e300, -0.0, 0.0, 1e-36, -1e-36, np.float32(1e-35), 1e-34, np.nan]
    return np.vstack([X, np.repeat(np.array(edges, dtype=np.float64)[:, None], X.shape[1], axis=1)])


@pytest.mark.parametrize("objective, params", MODELS)
def test_rows_routed_through_the_read_trees_land_where_lightgbm_puts_them(objective, params):
    booster, _ = _booster(objective, **params)
    X = _with_extremes(_scoring_matrix(booster, np.random.default_rng(21), 1600))
    forest = read_forest(booster)
    assert len(forest.trees) == booster.num_trees()
    assert forest.trees_per_iteration == booster.num_model_per_iteration()
    assert forest.feature_names == tuple(booster.feature_name())
    leaves = np.column_stack([tree.leaf_of(as_lightgbm_reads(X)) for tree in forest.trees])
    assert np.array_equal(leaves, booster.predict(X, pred_leaf=True))
    _assert_bit_identical(forest.raw_score(X), booster.predict(X, raw_score=True))


def test_each_tree_is_read_whole_with_lightgbms_node_numbers():
    booster, _ = _booster("binary", num_leaves=31, max_depth=-1, min_data_in_leaf=2)
    for tree in read_forest(booster).trees:
        children = np.concatenate([tree.left_child, tree.right_child])
        # every split but the root is some split's child, every leaf exactly one split's child
        assert sorted(children[children >= 0].tolist()) == list(range(1, tree.split_feature.size))
        assert sorted((~children[children < 0]).tolist()) == list(range(tree.num_leaves))
        assert tree.split_feature.size == tree.num_leaves - 1


def test_missing_types_and_clamped_thresholds_are_read_as_lightgbm_holds_them():
    nan_forest = read_forest(_booster("binary")[0])
    zero_forest = read_forest(_booster("regression", zero_as_missing=True)[0])
    none_forest = read_forest(_booster("binary", use_missing=False)[0])
    assert {int(m) for tree in nan_forest.trees for m in tree.missing_type} >= {MissingType.NAN}
    assert MissingType.ZERO in {int(m) for tree in zero_forest.trees for m in tree.missing_type}
    assert MissingType.NAN not in {int(m) for tree in zero_forest.trees for m in tree.missing_type}
    assert {int(m) for tree in none_forest.trees for m in tree.missing_type} == {MissingType.NONE}
    # The dump writes an infinite threshold as 1e300; a feature whose training values are all small reads it
    # back as +inf, as the model text has it.
    thresholds = np.concatenate([tree.threshold for tree in nan_forest.trees])
    assert np.isposinf(thresholds).any() and not (np.abs(thresholds) == lightgbm_trees.JSON_THRESHOLD_LIMIT).any()
    assert not nan_forest.split_points.beyond_limit_unknown.any()


def test_a_feature_trained_beyond_1e300_keeps_its_outputs_exact():
    """There a dumped 1e300 may be any threshold at or above it: values that far out get a code of their own
    (contributions stay exact) and keep the cohort out of the pattern pass (raw scores stay exact)."""
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.choice([1.0, 2.0, 3e300, 9e300, 4e301], 2000), rng.normal(size=2000)])
    y = (x[:, 0] > 1e300) * 2.0 + x[:, 1] + rng.normal(0, 0.1, 2000)
    booster = lgb.train(
        {"objective": "regression", "verbosity": -1, "num_leaves": 8, "min_data_in_leaf": 5, "num_threads": 1},
        lgb.Dataset(x, y),
        num_boost_round=10,
    )
    assert read_forest(booster).split_points.beyond_limit_unknown.tolist() == [True, False]
    far = [1.0, 2.5, 5e300, 2e301, 8e301, np.inf, 1e300, -1e301, np.nan]
    X = np.column_stack([rng.choice(far, 3000), rng.normal(size=3000)])
    evaluation = Evaluation(booster, X)
    assert evaluation._parts is None
    _assert_bit_identical(evaluation.raw_score, booster.predict(X, raw_score=True))
    _assert_bit_identical(contributions(booster, X), booster.predict(X, pred_contrib=True)[:, :2])
    near = np.column_stack([rng.choice([1.0, 2.5, 9e299, np.nan], 3000), rng.normal(size=3000)])
    evaluation = Evaluation(booster, near)  # nothing beyond the limit: the pattern pass runs
    assert evaluation._parts is not None
    _assert_bit_identical(evaluation.raw_score, booster.predict(near, raw_score=True))


def test_categorical_linear_random_forest_and_single_leaf_models_are_recognised():
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.integers(0, 6, 1200).astype(float), rng.normal(size=1200)])
    y = (np.isin(X[:, 0], [1, 4]) ^ (X[:, 1] > 0)).astype(int)
    common = {"verbosity": -1, "num_threads": 1, "num_leaves": 8}
    categorical = lgb.train(
        {"objective": "binary", "min_data_per_group": 5, "cat_smooth": 1, **common},
        lgb.Dataset(X, label=y, categorical_feature=[0]),
        num_boost_round=5,
    )
    forest = read_forest(categorical)
    assert forest.has_categorical and forest.split_points.exact_rows_only and not forest.has_linear
    linear = lgb.train({"objective": "regression", "linear_tree": True, **common}, lgb.Dataset(X, X[:, 1] * 2), 3)
    assert read_forest(linear).has_linear and read_forest(linear).split_points.exact_rows_only
    bagged = {"boosting": "rf", "bagging_fraction": 0.5, "bagging_freq": 1}
    forest_mode = lgb.train({"objective": "binary", **bagged, **common}, lgb.Dataset(X, label=y), 4)
    averaged = read_forest(forest_mode)
    assert averaged.average_output  # (LightGBM averages after the raw score, which stays a sum)
    _assert_bit_identical(averaged.raw_score(X), forest_mode.predict(X, raw_score=True))
    constant = lgb.train(
        {"objective": "regression", "verbosity": -1, "min_data_in_leaf": 10_000},
        lgb.Dataset(X, label=np.full(len(X), 2.5)),
        num_boost_round=2,
    )
    first = read_forest(constant).trees[0]
    assert first.num_leaves == 1 and first.split_feature.size == 0
    _assert_bit_identical(read_forest(constant).raw_score(X), constant.predict(X, raw_score=True))


# -- the version guard ----------------------------------------------------------------------------------------


def _grading_models() -> tuple[FittedClassifier, FittedClassifier]:
    common = {"feature_names": FEATURES, "params": {}, "num_rounds": 40, "inner_loss": 0.0}
    gbm = FittedClassifier(
        task="grading_gbm_vs_lgg",
        booster=_booster("binary")[0],
        class_names=["LGG", "GBM"],
        calibration={"method": "platt", "slope": 0.9, "intercept": -0.1},
        **common,
    )
    grade = FittedClassifier(
        task="grading_who_grade",
        booster=_booster("multiclass")[0],
        class_names=["2", "3", "4"],
        calibration={"method": "temperature", "temperature": 1.3},
        **common,
    )
    return gbm, grade


def _score(matrix: pl.DataFrame, gbm: FittedClassifier, grade: FittedClassifier) -> pl.DataFrame:
    return score_grading(
        matrix,
        gbm,
        "gbm-v1",
        release="45.0",
        scored_at=datetime(2026, 11, 22, tzinfo=UTC),
        grade_model=grade,
        grade_model_version="grade-v1",
    )


def test_an_unverified_lightgbm_version_scores_through_lightgbm_itself_and_says_so_once(monkeypatch, caplog):
    gbm, grade = _grading_models()
    X = _scoring_matrix(gbm.booster, np.random.default_rng(3), 1600)
    matrix = pl.DataFrame({"case_id": [f"case-{i:05d}" for i in range(len(X))], "release": "45.0"}).with_columns(
        pl.Series(name, X[:, j]) for j, name in enumerate(FEATURES)
    )
    built = []
    original_build = explain.PatternEvaluation.build
    monkeypatch.setattr(explain.PatternEvaluation, "build", lambda *a, **k: built.append(1) or original_build(*a, **k))
    monkeypatch.setattr(lightgbm_trees, "EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS", (lgb.__version__,))
    fast = _score(matrix, gbm, grade)
    assert built  # a verified version takes the pattern pass

    built.clear()
    monkeypatch.setattr(lightgbm_trees, "EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS", ("0.0.0",))
    monkeypatch.setattr(lightgbm_trees, "_warned_versions", set())
    plain_rows = []
    original_pred_contrib = explain._pred_contrib
    monkeypatch.setattr(
        explain, "_pred_contrib", lambda b, f, c: plain_rows.append(len(f)) or original_pred_contrib(b, f, c)
    )
    with caplog.at_level(logging.WARNING, logger="models.lightgbm_trees"):
        exact = _score(matrix, gbm, grade)
        assert Evaluation(gbm.booster, X)._parts is None
    assert not built  # no pattern pass
    assert plain_rows == [len(X), len(X)]  # pred_contrib on every row (no deduplication), once per model
    assert_frame_equal(exact, fast, check_exact=True)  # and the same scores and sentences
    warnings = [record for record in caplog.records if record.name == "models.lightgbm_trees"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # once, however many evaluations
    message = warnings[0].getMessage()
    assert f"LightGBM {lgb.__version__} is not among" in message
    assert "EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS" in message and all(test in message for test in EXACTNESS_TESTS)


def test_the_pinned_lightgbm_is_the_installed_one_and_its_exactness_was_verified():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [m.group(1) for d in dependencies if (m := re.fullmatch(r"lightgbm\s*==\s*([^\s;]+)", d.strip()))]
    assert len(pins) == 1, f"pyproject.toml should pin exactly one lightgbm==X, found {pins}"
    pinned = pins[0]
    verify = (
        f"add {pinned!r} to EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS in models/lightgbm_trees.py, run the exactness "
        f"tests on LightGBM {pinned} (`.venv/bin/python -m pytest -q {' '.join(EXACTNESS_TESTS)}`) and keep it "
        "there only if they all pass"
    )
    assert lgb.__version__ == pinned, (
        f"pyproject.toml pins lightgbm=={pinned} but {lgb.__version__} is installed: `make install`, then {verify}"
    )
    assert pinned in EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS, (
        f"LightGBM {pinned}, pinned in pyproject.toml, is not among the versions the exactness tests passed on "
        f"({', '.join(EXACTNESS_VERIFIED_LIGHTGBM_VERSIONS)}), so scoring skips its fast passes: {verify}"
    )
    assert all((ROOT / test).is_file() for test in EXACTNESS_TESTS)
