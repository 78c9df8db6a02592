"""Explanations a clinician reads: each patient's top feature contributions (LightGBM `pred_contrib`,
i.e. exact TreeSHAP values on the raw score) in words, and global importance (gain).

The per-feature phrases live in one place (`describe_feature_value`); the direction words depend on
the task (`raises risk` for the survival model, whose raw score is a log hazard; `raises GBM
probability` for the GBM-vs-LGG model; `favours grade 4` for the grade model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import polars as pl
from numpy.typing import NDArray

from transforms.panels import SSM_PANEL_GENES

# Binary marker features: (what a 1 reads as, what a 0 reads as, what missing reads as).
_BINARY_PHRASES: dict[str, tuple[str, str, str]] = {
    "idh_mutant": ("IDH mutant", "IDH wildtype", "IDH status unknown"),
    "atrx_mutant": ("ATRX mutant", "ATRX wildtype", "ATRX status unknown"),
    "tp53_mutant": ("TP53 mutant", "TP53 wildtype", "TP53 status unknown"),
    "tert_mutant": ("TERT mutant", "TERT wildtype", "TERT status unknown"),
    "codeletion_1p19q": ("1p/19q codeleted", "1p/19q intact", "1p/19q status unknown"),
    "chr7_gain_chr10_loss": ("chromosome 7 gain with 10 loss", "no 7+/10-", "7+/10- status unknown"),
    "egfr_amplified": ("EGFR amplified", "EGFR not amplified", "EGFR amplification unknown"),
    "cdkn2a_homozygous_deletion": ("CDKN2A homozygously deleted", "CDKN2A retained", "CDKN2A status unknown"),
    "mgmt_promoter_methylated": ("MGMT promoter methylated", "MGMT promoter unmethylated", "MGMT status unknown"),
    "sex_male": ("male", "female", "sex not recorded"),
    "received_radiation": ("received radiotherapy", "no radiotherapy", "radiotherapy not recorded"),
    "received_temozolomide": ("received temozolomide", "no temozolomide", "temozolomide not recorded"),
    "received_chemotherapy": ("received chemotherapy", "no chemotherapy", "chemotherapy not recorded"),
}
for _gene in SSM_PANEL_GENES:
    _BINARY_PHRASES.setdefault(
        f"mutation_{_gene.lower()}", (f"{_gene} mutant", f"{_gene} wildtype", f"{_gene} status unknown")
    )

# Numeric features: (format of a present value, what missing reads as).
_NUMERIC_PHRASES: dict[str, tuple[str, str]] = {
    "age_at_diagnosis_years": ("age {value:.0f}", "age unknown"),
    "karnofsky_score": ("Karnofsky {value:.0f}", "Karnofsky not recorded"),
    "mgmt_stp27_probability": ("MGMT methylation probability {value:.2f}", "MGMT methylation not measured"),
    "who_grade": ("WHO grade {value:.0f}", "WHO grade unknown"),
}

_DIRECTION_WORDS: dict[str, tuple[str, str]] = {
    "survival_risk": ("raises risk", "lowers risk"),
    "grading_gbm_vs_lgg": ("raises GBM probability", "lowers GBM probability"),
}


def describe_feature_value(feature: str, value: float) -> str:
    """`idh_mutant`, 1.0 -> 'IDH mutant'; `age_at_diagnosis_years`, 67.2 -> 'age 67'."""
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if feature in _BINARY_PHRASES:
        present, absent, unknown = _BINARY_PHRASES[feature]
        return unknown if missing else (present if value >= 0.5 else absent)
    if feature in _NUMERIC_PHRASES:
        template, unknown = _NUMERIC_PHRASES[feature]
        return unknown if missing else template.format(value=value)
    raise KeyError(f"no phrase for feature {feature!r}: add it to models/explain.py")


def _direction(task: str, contribution: float, class_name: str | None) -> str:
    if task in _DIRECTION_WORDS:
        up, down = _DIRECTION_WORDS[task]
        return up if contribution > 0 else down
    # Multiclass grade model: contributions are towards the predicted class.
    return f"favours grade {class_name}" if contribution > 0 else f"argues against grade {class_name}"


# LightGBM reads |v| <= kZeroThreshold (the float 1e-35f) as exactly zero before any split is evaluated.
_ZERO_THRESHOLD = float(np.float32(1e-35))
_MISSING_ZERO, _MISSING_NAN = 1, 2  # LightGBM's missing_type in bits 2-3 of decision_type (0 = None)
_CATEGORICAL_MASK = 1


@dataclass(frozen=True)
class SplitPoints:
    """Where a tree ensemble's splits cut each feature: a row's prediction and TreeSHAP values depend only on
    which side of every threshold each of its values falls, whether it is missing and (for `missing_type` Zero
    splits) whether it is zero. `exact_rows_only`: some split is categorical or some tree is linear, so only
    exactly equal rows are known to share their outputs."""

    thresholds: tuple[NDArray[np.float64], ...]  # per feature: sorted distinct thresholds of its numeric splits
    nan_splits: NDArray[np.bool_]  # per feature: some split sends NaN its own (default) way
    zero_splits: NDArray[np.bool_]  # per feature: some split sends zero its own (default) way
    exact_rows_only: bool


def split_points(booster: lgb.Booster, model_text: str | None = None) -> SplitPoints:
    """The split thresholds of every tree of `booster`, from its model text (`model_text`, when already at
    hand): thresholds are written with 17 significant digits, so they read back bit-exactly."""
    n_features = booster.num_feature()
    thresholds: list[set[float]] = [set() for _ in range(n_features)]
    nan_splits: set[int] = set()
    zero_splits: set[int] = set()
    exact_rows_only = False
    features: list[int] = []
    for line in (model_text if model_text is not None else booster.model_to_string()).split("\n"):
        if line.startswith("split_feature="):
            features = [int(v) for v in line[len("split_feature="):].split()]
        elif line.startswith("threshold="):
            for feature, threshold in zip(features, line[len("threshold="):].split()):
                thresholds[feature].add(float(threshold))
        elif line.startswith("decision_type="):
            for feature, decision in zip(features, map(int, line[len("decision_type="):].split())):
                missing = (decision >> 2) & 3
                if missing == _MISSING_NAN:
                    nan_splits.add(feature)
                elif missing == _MISSING_ZERO:
                    zero_splits.add(feature)
                exact_rows_only = exact_rows_only or bool(decision & _CATEGORICAL_MASK)
        elif line.startswith(("is_linear=", "num_cat=")) and line.partition("=")[2].strip() not in ("", "0"):
            exact_rows_only = True
    return SplitPoints(
        thresholds=tuple(np.array(sorted(t), dtype=np.float64) for t in thresholds),
        nan_splits=np.isin(np.arange(n_features), list(nan_splits)),
        zero_splits=np.isin(np.arange(n_features), list(zero_splits)), exact_rows_only=exact_rows_only,
    )


def as_lightgbm_reads(features: NDArray) -> NDArray[np.float64]:
    """The values LightGBM's predictor actually uses: |v| <= 1e-35f become 0.0 (NaN stays NaN)."""
    features = np.array(features, dtype=np.float64)
    features[np.abs(features) <= _ZERO_THRESHOLD] = 0.0
    return features


def decision_signature(features: NDArray, splits: SplitPoints) -> NDArray[np.int64]:
    """Per row and feature, a code that is equal for two values exactly when every split of the ensemble treats
    them alike: the bin between consecutive thresholds (`searchsorted(..., side="left")`, since a split sends
    `v <= threshold` left), NaN its own code when some split routes NaN by default (otherwise LightGBM reads
    NaN as 0.0), zero its own code when some split routes zero by default. Rows with equal signatures get equal
    predictions and equal TreeSHAP values. Under `exact_rows_only` the code is the value itself."""
    values = as_lightgbm_reads(features)
    codes = np.empty(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        column = values[:, j]
        missing = np.isnan(column)
        if splits.exact_rows_only:
            canonical = np.where(missing, np.nan, column)  # one NaN bit pattern
            codes[:, j] = np.unique(canonical.view(np.uint64), return_inverse=True)[1].reshape(-1)
            continue
        thresholds = splits.thresholds[j]
        if not splits.nan_splits[j]:
            column = np.where(missing, 0.0, column)  # LightGBM: NaN is 0.0 unless missing_type is NaN
            missing = np.zeros_like(missing)
        code = np.searchsorted(thresholds, column, side="left")
        if splits.zero_splits[j]:
            code = np.where(column == 0.0, len(thresholds) + 1, code)
        codes[:, j] = np.where(missing, len(thresholds) + 2, code)
    return codes


def group_rows(codes: NDArray[np.int64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Exact grouping of equal rows of a non-negative integer matrix: (index of one row per group, group of each
    row), so that `codes[representatives][inverse] == codes`. Columns are folded into one int64 key, the key
    renumbered densely whenever the next column could overflow it."""
    n_rows = codes.shape[0]
    key = np.zeros(n_rows, dtype=np.int64)
    key_range = 1
    for j in range(codes.shape[1]):
        column = codes[:, j]
        column_range = int(column.max()) + 1 if n_rows else 1
        if key_range * column_range >= 2**62:
            _, key = np.unique(key, return_inverse=True)
            key, key_range = key.reshape(-1).astype(np.int64), int(key.max()) + 1
        key = key * column_range + column
        key_range *= column_range
    _, representatives, inverse = np.unique(key, return_index=True, return_inverse=True)
    return representatives, inverse.reshape(-1)


def _class_booster(model_text: str, n_classes: int, k: int) -> lgb.Booster:
    """The trees of class `k` of a multiclass model as a one-output model. LightGBM accumulates each class's
    contributions in its own output slice, tree by tree in iteration order, so this model's `pred_contrib`
    is bit-identical to that slice, at 1/K of the cost."""
    head, _, rest = model_text.partition("\nTree=")
    trees_text, marker, tail = ("Tree=" + rest).partition("end of trees")
    trees = trees_text.split("Tree=")[1:]
    kept = [tree.partition("\n")[2] for index, tree in enumerate(trees) if index % n_classes == k]
    header = []
    for line in head.splitlines():
        if line.startswith("num_class="):
            line = "num_class=1"
        elif line.startswith("num_tree_per_iteration="):
            line = "num_tree_per_iteration=1"
        elif line.startswith("objective="):
            line = "objective=regression"
        elif line.startswith("tree_sizes="):
            continue  # the trees are read one after the other instead
        header.append(line)
    text = "\n".join(header) + "\n\n" + "".join(f"Tree={i}\n{tree}" for i, tree in enumerate(kept)) + marker + tail
    return lgb.Booster(model_str=text)


def _plain_contributions(booster: lgb.Booster, features: NDArray) -> NDArray:
    return np.asarray(booster.predict(features, pred_contrib=True))


def contributions(booster: lgb.Booster, features: NDArray, predicted_class: NDArray | None = None) -> NDArray:
    """Per-feature contributions to the raw score, shape (n, n_features) (bias column dropped): bit-identical to
    `booster.predict(features, pred_contrib=True)`, computed once per distinct `decision_signature`.

    For a multiclass booster the contributions towards each row's `predicted_class` are returned (computed with
    that class's trees only).
    """
    features = np.asarray(features, dtype=np.float64)
    n_rows, n_features = features.shape
    n_classes = booster.num_model_per_iteration()
    if n_classes > 1 and predicted_class is None:
        raise ValueError("a multiclass model needs the predicted class to explain")
    if n_rows == 0:
        return np.zeros((0, n_features))
    model_text = booster.model_to_string()
    codes = decision_signature(features, split_points(booster, model_text))
    if n_classes == 1:
        representatives, inverse = group_rows(codes)
        return _plain_contributions(booster, features[representatives])[inverse, :n_features]
    predicted_class = np.asarray(predicted_class, dtype=np.int64)
    representatives, inverse = group_rows(np.column_stack([predicted_class, codes]))
    shared = np.empty((len(representatives), n_features))
    for k in np.unique(predicted_class[representatives]):
        of_class = np.flatnonzero(predicted_class[representatives] == k)
        class_model = _class_booster(model_text, n_classes, int(k))
        shared[of_class] = _plain_contributions(class_model, features[representatives[of_class]])[:, :n_features]
    return shared[inverse]


def explain_top_contributions(
    booster: lgb.Booster,
    features: NDArray,
    feature_names: list[str],
    *,
    k: int = 3,
    task: str,
    predicted_class: NDArray | None = None,
    class_names: list[str] | None = None,
) -> list[str]:
    """One sentence per row: the k largest |contributions|, e.g.
    'IDH mutant lowers risk; age 67 raises risk; 1p/19q codeleted lowers risk'."""
    features = np.asarray(features, dtype=np.float64)
    contribution = contributions(booster, features, predicted_class)
    return contribution_sentences(
        contribution, features, feature_names, k=k, task=task, predicted_class=predicted_class, class_names=class_names
    )


def contribution_sentences(
    contribution: NDArray,
    features: NDArray,
    feature_names: list[str],
    *,
    k: int = 3,
    task: str,
    predicted_class: NDArray | None = None,
    class_names: list[str] | None = None,
) -> list[str]:
    """The sentences of `explain_top_contributions` from given contributions: each row's k largest
    |contributions| (ties in feature order), skipping zeros, each described with the row's own value
    (`describe_feature_value`, called once per distinct value of a feature) and its direction word."""
    features = np.asarray(features, dtype=np.float64)
    n_rows = features.shape[0]
    if n_rows == 0:
        return []
    top = np.argsort(-np.abs(contribution), axis=1, kind="stable")[:, :k]
    if top.shape[1] == 0:
        return ["no feature moved the prediction"] * n_rows
    rows = np.arange(n_rows)[:, None]
    top_contribution, top_value = contribution[rows, top], features[rows, top]
    said = top_contribution != 0.0
    phrases = np.empty(top.shape, dtype=object)
    for j in np.unique(top[said]):
        where = said & (top == j)
        values = top_value[where]
        bits, index = np.unique(np.where(np.isnan(values), np.nan, values).view(np.uint64), return_inverse=True)
        distinct = bits.view(np.float64)  # by bit pattern: -0.0 reads "-0", 0.0 "0"
        words = np.array([describe_feature_value(feature_names[j], value) for value in distinct], dtype=object)
        phrases[where] = words[index.reshape(-1)]
    if predicted_class is not None and class_names is not None:
        row_class = np.asarray(predicted_class, dtype=np.int64)
        names: list[str | None] = list(class_names)
    else:
        row_class, names = np.zeros(n_rows, dtype=np.int64), [None]
    up_words = np.array([_direction(task, 1.0, name) for name in names], dtype=object)[row_class]
    down_words = np.array([_direction(task, -1.0, name) for name in names], dtype=object)[row_class]
    parts = []
    for r in range(top.shape[1]):
        part = np.full(n_rows, None, dtype=object)
        said_r = said[:, r]
        direction = np.where(top_contribution[said_r, r] > 0, up_words[said_r], down_words[said_r])
        part[said_r] = phrases[said_r, r] + " " + direction
        parts.append(pl.Series(f"part_{r}", part, dtype=pl.String))
    sentences = pl.select(pl.concat_str(parts, separator="; ", ignore_nulls=True)).to_series()
    return sentences.replace("", "no feature moved the prediction").to_list()


def global_importance(booster: lgb.Booster, feature_names: list[str]) -> pl.DataFrame:
    """Total gain and split count per feature, largest gain first, with each feature's share of gain."""
    gain = booster.feature_importance(importance_type="gain")
    splits = booster.feature_importance(importance_type="split")
    total = gain.sum() or 1.0
    return pl.DataFrame(
        {"feature": feature_names, "gain": gain.astype(np.float64), "gain_share": gain / total, "splits": splits.astype(np.int64)}
    ).sort("gain", descending=True)
