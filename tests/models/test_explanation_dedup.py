"""TreeSHAP once per decision signature: contributions bit-identical to a plain `pred_contrib`, and the
vectorised sentences identical to the row-by-row ones."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from models.explain import (
    _DIRECTION_WORDS,
    contribution_sentences,
    contributions,
    decision_signature,
    describe_feature_value,
    group_rows,
    split_points,
)

FEATURES = [
    "age_at_diagnosis_years",
    "karnofsky_score",
    "mgmt_stp27_probability",
    "idh_mutant",
    "codeletion_1p19q",
    "who_grade",
    "sex_male",
    "mutation_egfr",
]


def _training_matrix(rng: np.random.Generator, n: int) -> np.ndarray:
    X = np.column_stack(
        [
            rng.normal(55, 15, n),
            rng.choice([40.0, 60.0, 80.0, 90.0, 100.0], n),
            rng.random(n),
            rng.integers(0, 2, n).astype(float),
            rng.integers(0, 2, n).astype(float),
            rng.choice([2.0, 3.0, 4.0], n),
            rng.integers(0, 2, n).astype(float),
            rng.integers(0, 2, n).astype(float),
        ]
    )
    X[rng.random(X.shape) < 0.15] = np.nan
    return X


def _booster(objective: str, seed: int = 3, **params) -> tuple[lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = _training_matrix(rng, 1500)
    signal = 0.04 * np.nan_to_num(X[:, 0], nan=50) - 1.5 * np.nan_to_num(X[:, 3]) + np.nan_to_num(X[:, 2]) * 2
    if objective == "multiclass":
        y = np.digitize(signal + rng.normal(0, 0.5, len(X)), np.quantile(signal, [0.33, 0.66]))
        params = {"num_class": 3, **params}
    elif objective == "binary":
        y = (signal + rng.normal(0, 0.5, len(X)) > np.median(signal)).astype(int)
    else:
        y = signal + rng.normal(0, 0.3, len(X))
    booster = lgb.train(
        {
            "objective": objective,
            "num_leaves": 12,
            "min_data_in_leaf": 5,
            "learning_rate": 0.1,
            "verbosity": -1,
            "seed": seed,
            "deterministic": True,
            "num_threads": 1,
            **params,
        },
        lgb.Dataset(X, label=y, feature_name=FEATURES, free_raw_data=False, params={"max_bin": 31}),
        num_boost_round=40,
    )
    return booster, X


def _scoring_matrix(booster: lgb.Booster, rng: np.random.Generator, n: int, n_templates: int = 150) -> np.ndarray:
    """Rows drawn from a few bin templates, each value picked inside its bin: on a threshold, just below or
    above one, between two; plus NaN, zero, -0.0 and values LightGBM reads as zero (1e-36). Many rows share a
    signature with different values; some rows are exact duplicates."""
    splits = split_points(booster)
    templates = rng.integers(0, 10**6, size=(n_templates, len(splits.thresholds)))
    X = np.empty((n, len(splits.thresholds)))
    template_of_row = rng.integers(0, n_templates, n)
    for j, thresholds in enumerate(splits.thresholds):
        bounds = np.concatenate([[-1e9], thresholds, [1e9]])
        for row in range(n):
            choice = templates[template_of_row[row], j] % (len(thresholds) + 3)
            if choice == len(thresholds) + 1:
                X[row, j] = np.nan
            elif choice == len(thresholds) + 2:
                X[row, j] = rng.choice([0.0, -0.0, 1e-36, -1e-36])
            else:
                low, high = bounds[choice], bounds[choice + 1]  # bin `choice`: low < v <= high
                candidates = [np.nextafter(low, np.inf), (low + high) / 2]
                if choice < len(thresholds):
                    candidates += [high, np.nextafter(high, -np.inf)]
                X[row, j] = rng.choice(candidates)
    X[: n // 8] = X[n // 8 : n // 4]  # exact duplicate rows
    # A few rows varied in one feature only, around each of its thresholds: a signature that merged two
    # sides of a split would put rows with different contributions in one group.
    varied = []
    for base in X[:3]:
        for j, thresholds in enumerate(splits.thresholds):
            for value in [
                np.nan,
                0.0,
                1e-36,
                *[v for t in thresholds for v in (t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf))],
            ]:
                row = base.copy()
                row[j] = value
                varied.append(row)
    return np.vstack([X, np.array(varied)])


def _plain(booster: lgb.Booster, X: np.ndarray, predicted_class: np.ndarray | None) -> np.ndarray:
    raw = booster.predict(X, pred_contrib=True)
    n, n_features = X.shape
    k = booster.num_model_per_iteration()
    if k == 1:
        return raw[:, :n_features]
    return raw.reshape(n, k, n_features + 1)[np.arange(n), predicted_class, :n_features]


def _assert_bit_identical(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert np.array_equal(a.view(np.uint64), b.view(np.uint64))


@pytest.mark.parametrize(
    "objective, params",
    [
        ("binary", {}),
        ("multiclass", {}),
        ("regression", {"zero_as_missing": True}),  # missing_type Zero splits
        ("binary", {"use_missing": False}),  # missing_type None: NaN is read as 0.0
    ],
)
def test_deduplicated_contributions_are_bit_identical_to_plain_pred_contrib(objective, params):
    booster, _ = _booster(objective, **params)
    rng = np.random.default_rng(11)
    X = _scoring_matrix(booster, rng, 4000)
    representatives, _ = group_rows(decision_signature(X, split_points(booster)))
    assert len(representatives) < len(X) / 2  # the test does exercise sharing
    predicted_class = booster.predict(X, raw_score=True).reshape(len(X), -1).argmax(axis=1)
    expected = _plain(booster, X, predicted_class)
    _assert_bit_identical(contributions(booster, X, predicted_class), expected)
    # rows with one signature really do share their plain contributions (the premise, checked directly)
    _, inverse = group_rows(decision_signature(X, split_points(booster)))
    first = {}
    for row, group in enumerate(inverse):
        first.setdefault(group, row)
    _assert_bit_identical(expected, expected[[first[g] for g in inverse]])


def test_missing_handling_of_the_splits_is_read_from_the_model():
    nan_booster, _ = _booster("binary")
    zero_booster, _ = _booster("regression", zero_as_missing=True)
    none_booster, _ = _booster("binary", use_missing=False)
    assert split_points(nan_booster).nan_splits.any() and not split_points(nan_booster).zero_splits.any()
    assert split_points(zero_booster).zero_splits.any()
    assert not split_points(none_booster).nan_splits.any() and not split_points(none_booster).zero_splits.any()
    assert not split_points(nan_booster).exact_rows_only


def test_categorical_splits_fall_back_to_exactly_equal_rows():
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.integers(0, 6, 1200).astype(float), rng.normal(size=1200)])
    y = (np.isin(X[:, 0], [1, 4]) ^ (X[:, 1] > 0)).astype(int)
    booster = lgb.train(
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
    splits = split_points(booster)
    assert splits.exact_rows_only
    scoring = np.column_stack([rng.integers(0, 7, 3000).astype(float), rng.choice([-1.0, 0.25, 2.0, np.nan], 3000)])
    scoring[rng.random(3000) < 0.1, 0] = np.nan
    codes = decision_signature(scoring, splits)
    representatives, inverse = group_rows(codes)
    # exact-row grouping: equal codes means equal values (NaN equal to NaN)
    assert np.array_equal(np.nan_to_num(scoring[representatives][inverse], nan=-9), np.nan_to_num(scoring, nan=-9))
    _assert_bit_identical(contributions(booster, scoring), _plain(booster, scoring, None))


def test_group_rows_is_exact_even_when_the_combined_key_would_overflow():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 5000, size=(3000, 12))
    codes[1000:2000] = codes[:1000]
    representatives, inverse = group_rows(codes)
    assert np.array_equal(codes[representatives][inverse], codes)
    assert len(representatives) == len({tuple(row) for row in codes.tolist()})


def _sentences_row_by_row(contribution, features, feature_names, *, k, task, predicted_class=None, class_names=None):
    """The explanation loop as it was before vectorising (the reference)."""
    top = np.argsort(-np.abs(contribution), axis=1, kind="stable")[:, :k]
    sentences = []
    for row in range(features.shape[0]):
        class_name = None
        if predicted_class is not None and class_names is not None:
            class_name = class_names[int(predicted_class[row])]
        parts = []
        for j in top[row]:
            if contribution[row, j] == 0.0:
                continue
            if task in _DIRECTION_WORDS:
                up, down = _DIRECTION_WORDS[task]
                word = up if contribution[row, j] > 0 else down
            else:
                word = (
                    f"favours grade {class_name}" if contribution[row, j] > 0 else f"argues against grade {class_name}"
                )
            parts.append(f"{describe_feature_value(feature_names[j], features[row, j])} {word}")
        sentences.append("; ".join(parts) if parts else "no feature moved the prediction")
    return sentences


@pytest.mark.parametrize(
    "task, classes", [("survival_risk", None), ("grading_gbm_vs_lgg", None), ("grading_who_grade", ["2", "3", "4"])]
)
def test_vectorised_sentences_equal_the_row_by_row_sentences(task, classes):
    rng = np.random.default_rng(8)
    n = 3000
    features = _training_matrix(rng, n)
    features[:, 0] = rng.choice([66.5, 67.5, 67.49999, -0.0, 0.0, 101.2, np.nan], n)  # rounding edge cases
    contribution = rng.choice([-0.5, -0.25, 0.0, 0.25, 0.5, 1.0], size=features.shape)  # ties and zeros
    contribution[rng.random(n) < 0.1] = 0.0  # rows nothing moved
    predicted_class = rng.integers(0, 3, n) if classes else None
    kwargs = {"k": 3, "task": task, "predicted_class": predicted_class, "class_names": classes}
    assert contribution_sentences(contribution, features, FEATURES, **kwargs) == _sentences_row_by_row(
        contribution, features, FEATURES, **kwargs
    )
    assert contribution_sentences(contribution[:0], features[:0], FEATURES, **kwargs) == []


def test_an_unknown_feature_still_fails_only_when_it_is_described():
    features = np.array([[1.0, 2.0]])
    with pytest.raises(KeyError, match="no phrase"):
        contribution_sentences(np.array([[0.0, 1.0]]), features, ["idh_mutant", "project_id"], task="survival_risk")
    assert contribution_sentences(
        np.array([[1.0, 0.0]]), features, ["idh_mutant", "project_id"], task="survival_risk"
    ) == ["IDH mutant raises risk"]
