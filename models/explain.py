"""Explanations a clinician reads: each patient's top feature contributions (LightGBM `pred_contrib`,
i.e. exact TreeSHAP values on the raw score) in words, and global importance (gain).

Scoring a cohort goes through `Evaluation`: raw scores and contributions tree by tree over decision patterns
(`models.pattern_shap`), at about the cost of one LightGBM prediction, with outputs equal to LightGBM's own
(raw scores bit for bit; sentences word for word, rows where rounding could matter computed exactly). The
model's splits are read by `models.lightgbm_trees`; on a LightGBM version the exactness tests have not passed
on (`models.lightgbm_trees.exactness_verified`) everything comes from LightGBM's predict and pred_contrib.

The per-feature phrases live in one place (`describe_feature_value`); the direction words depend on
the task (`raises risk` for the survival model, whose raw score is a log hazard; `raises GBM
probability` for the GBM-vs-LGG model; `favours grade 4` for the grade model).
"""

from __future__ import annotations

import math
import os

import lightgbm as lgb
import numpy as np
import polars as pl
from numpy.typing import NDArray

from contracts.features import (
    EXPRESSION_FEATURE_PREFIX,
    EXPRESSION_SIGNATURES,
    MOLECULAR_TYPE,
    TYPING_HISTOLOGY_FAMILIES,
)
from contracts.panels import SSM_PANEL_GENES
from models.lightgbm_trees import (
    JSON_THRESHOLD_LIMIT,
    Forest,
    SplitPoints,
    as_lightgbm_reads,
    exactness_verified,
    read_forest,
)
from models.lightgbm_trees import split_points as split_points  # re-exported: explanations' callers use it here
from models.pattern_shap import PatternEvaluation

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
for _family in TYPING_HISTOLOGY_FAMILIES:
    _BINARY_PHRASES[f"histology_{_family}"] = (
        f"histology {_family}",
        f"histology not {_family}",
        "histology not recorded",
    )
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
    "histological_grade": ("histological grade {value:.0f}", "histological grade not recorded"),
}

_NUMERIC_PHRASES["idh_mutant_predicted_probability"] = (
    "IDH mutant predicted with probability {value:.2f} (no IDH call)",
    "IDH called from sequencing",
)
_NUMERIC_PHRASES["codeletion_predicted_probability"] = (
    "1p/19q codeletion predicted with probability {value:.2f} (no 1p/19q call)",
    "1p/19q called from copy number",
)
for _feature, (_source, _set) in EXPRESSION_SIGNATURES.items():
    _label = _set.removeprefix("HALLMARK_").replace("_", " ").lower() if _source == "hallmark" else _set
    _NUMERIC_PHRASES[_feature] = (f"{_label} signature {{value:.1f}} (mean log2 expression)", "no expression profile")

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
    if feature.startswith(EXPRESSION_FEATURE_PREFIX):  # a gene chosen by the typing model, standardised
        gene = feature.removeprefix(EXPRESSION_FEATURE_PREFIX)
        return f"{gene} expression not measured" if missing else f"{gene} expression {value:+.1f} SD"
    raise KeyError(f"no phrase for feature {feature!r}: add it to models/explain.py")


def _direction(task: str, contribution: float, class_name: str | None) -> str:
    if task in _DIRECTION_WORDS:
        up, down = _DIRECTION_WORDS[task]
        return up if contribution > 0 else down
    # Multiclass models: contributions are towards the predicted class.
    if task == MOLECULAR_TYPE:
        kind = str(class_name).replace("_", " ").replace("idh", "IDH")
        return f"favours {kind}" if contribution > 0 else f"argues against {kind}"
    return f"favours grade {class_name}" if contribution > 0 else f"argues against grade {class_name}"


def decision_signature(features: NDArray, splits: SplitPoints) -> NDArray[np.int64]:
    """Per row and feature, a code that is equal for two values exactly when every split of the ensemble treats
    them alike: the bin between consecutive thresholds (`searchsorted(..., side="left")`, since a split sends
    `v <= threshold` left), NaN its own code when some split routes NaN by default (otherwise LightGBM reads
    NaN as 0.0), zero its own code when some split routes zero by default, and a value of magnitude >= 1e300
    its own code per value where the dump clamped a threshold (`SplitPoints.beyond_limit_unknown`). Rows with
    equal signatures get equal predictions and equal TreeSHAP values. Under `exact_rows_only` the code is the
    value itself."""
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
        code = np.where(missing, len(thresholds) + 2, code)
        if splits.beyond_limit_unknown[j]:
            far = np.flatnonzero(np.abs(np.where(missing, 0.0, column)) >= JSON_THRESHOLD_LIMIT)
            if far.size:
                code[far] = len(thresholds) + 3 + np.unique(column[far], return_inverse=True)[1].reshape(-1)
        codes[:, j] = code
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


def _pred_contrib(booster: lgb.Booster, features: NDArray, predicted_class: NDArray | None) -> NDArray:
    """LightGBM's `pred_contrib` without the bias column; for a multiclass model the block of each row's
    `predicted_class` (LightGBM adds each class's trees into that class's own block, so the block is what a
    model of that class's trees alone would give, bit for bit)."""
    values = np.asarray(booster.predict(features, pred_contrib=True))
    n_rows, n_features = features.shape
    if booster.num_model_per_iteration() == 1:
        return values[:, :n_features]
    by_class = values.reshape(n_rows, booster.num_model_per_iteration(), -1)
    return by_class[np.arange(n_rows), predicted_class, :n_features]


def contributions(
    booster: lgb.Booster, features: NDArray, predicted_class: NDArray | None = None, *, forest: Forest | None = None
) -> NDArray:
    """Per-feature contributions to the raw score, shape (n, n_features) (bias column dropped): bit-identical to
    `booster.predict(features, pred_contrib=True)`, computed once per distinct `decision_signature` (on a
    LightGBM version the exactness tests passed on; on others once per row). `forest`: `read_forest(booster)`,
    when already at hand.

    For a multiclass booster the contributions towards each row's `predicted_class` are returned.
    """
    features = np.asarray(features, dtype=np.float64)
    n_rows, n_features = features.shape
    n_classes = booster.num_model_per_iteration()
    if n_classes > 1 and predicted_class is None:
        raise ValueError("a multiclass model needs the predicted class to explain")
    if n_rows == 0:
        return np.zeros((0, n_features))
    predicted_class = None if n_classes == 1 else np.asarray(predicted_class, dtype=np.int64)
    if not exactness_verified():
        return _pred_contrib(booster, features, predicted_class)
    codes = decision_signature(features, (read_forest(booster) if forest is None else forest).split_points)
    if n_classes == 1:
        representatives, inverse = group_rows(codes)
        return _pred_contrib(booster, features[representatives], None)[inverse]
    representatives, inverse = group_rows(np.column_stack([predicted_class, codes]))
    return _pred_contrib(booster, features[representatives], predicted_class[representatives])[inverse]


# Below this many rows the exact per-signature `pred_contrib` is as fast as tree-by-tree patterns.
PATTERN_MIN_ROWS = 512
_WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _uncertain_rows(values: NDArray, bound: float, k: int) -> NDArray[np.bool_]:
    """Rows whose top-k contributions (which features, in which order, sign, said or zero) could differ between
    `values` and exact ones within `bound` of them: some rank among the first k is not more than 2 bounds
    above the next. (A row with fewer than k+1 nonzero values is uncertain too, which is rare and costs only
    an exact computation.)"""
    n_rows, n_features = values.shape
    ranks = min(k + 1, n_features)
    magnitude = np.abs(values)
    top = -np.sort(-np.partition(magnitude, n_features - ranks, axis=1)[:, n_features - ranks :], axis=1)
    uncertain = np.zeros(n_rows, dtype=bool)
    for r in range(min(k, n_features)):
        below = top[:, r + 1] if r + 1 < ranks else 0.0
        uncertain |= top[:, r] - bound <= below + bound
    return uncertain


# Rows evaluated together are at most this many bytes of stored pattern numbers (4 per tree and row).
_PATTERN_MATRIX_BYTES = 512 * 2**20


class Evaluation:
    """A model's raw scores for a cohort (bit-identical to `booster.predict(features, raw_score=True)`) and, on
    demand, contributions fit for sentences. From `PATTERN_MIN_ROWS` rows on, both come from one tree-by-tree
    pass over decision patterns (`models.pattern_shap`), which costs about a prediction; a model that pass does
    not cover (categorical splits, linear trees), or any model on a LightGBM version the exactness tests have
    not passed on, is predicted and explained by LightGBM directly."""

    def __init__(self, booster: lgb.Booster, features: NDArray):
        self.booster = booster
        self.features = np.asarray(features, dtype=np.float64)
        n_rows = self.features.shape[0]
        # Parts of the cohort, each evaluated tree by tree (None: by LightGBM).
        self._parts: list[tuple[slice, PatternEvaluation]] | None = None
        self._forest: Forest | None = None
        if n_rows >= PATTERN_MIN_ROWS and exactness_verified():
            self._forest = forest = read_forest(booster)
            splits = forest.split_points
            if not splits.exact_rows_only:
                read = as_lightgbm_reads(self.features)
                part_rows = max(PATTERN_MIN_ROWS, _PATTERN_MATRIX_BYTES // (4 * max(1, booster.num_trees())))
                parts = []
                for start in range(0, n_rows, part_rows):
                    rows = slice(start, min(n_rows, start + part_rows))
                    part = PatternEvaluation.build(
                        booster, read[rows], decision_signature(read[rows], splits), forest, workers=_WORKERS
                    )
                    if part is None:
                        break
                    parts.append((rows, part))
                else:
                    self._parts = parts
        if self._parts is None:
            self.raw_score: NDArray = np.asarray(booster.predict(self.features, raw_score=True))
        else:
            self.raw_score = np.concatenate([part.raw_score for _, part in self._parts])

    def sentence_contributions(self, predicted_class: NDArray | None = None, *, k: int = 3) -> NDArray:
        """Contributions whose k largest |values| (which features, their order, signs and zeros: all a sentence
        says) are those of the exact `contributions`: the pattern sums, with the exact values for the rows
        where rounding could reorder the top k."""
        if self.booster.num_model_per_iteration() > 1 and predicted_class is None:
            raise ValueError("a multiclass model needs the predicted class to explain")
        if self._parts is None:
            return contributions(self.booster, self.features, predicted_class)
        classes = None if predicted_class is None else np.asarray(predicted_class, dtype=np.int64)
        pieces = []
        for rows, part in self._parts:
            found = part.contributions(None if classes is None else classes[rows])
            values = found.values
            uncertain = np.flatnonzero(_uncertain_rows(values, found.bound, k))
            if uncertain.size:
                at = np.arange(rows.start, rows.stop)[uncertain]
                values[uncertain] = contributions(
                    self.booster, self.features[at], None if classes is None else classes[at], forest=self._forest
                )
            pieces.append(values)
        return np.concatenate(pieces)


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
    evaluation = Evaluation(booster, features)
    return evaluation_sentences(
        evaluation, feature_names, k=k, task=task, predicted_class=predicted_class, class_names=class_names
    )


def evaluation_sentences(
    evaluation: Evaluation,
    feature_names: list[str],
    *,
    k: int = 3,
    task: str,
    predicted_class: NDArray | None = None,
    class_names: list[str] | None = None,
) -> list[str]:
    """`explain_top_contributions` of an `Evaluation` (whose raw scores gave `predicted_class`)."""
    features = evaluation.features
    contribution = evaluation.sentence_contributions(predicted_class, k=k)
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
    top = _top_indices(np.abs(contribution), k)
    if top.shape[1] == 0:
        return ["no feature moved the prediction"] * n_rows
    rows = np.arange(n_rows)[:, None]
    top_contribution, top_value = contribution[rows, top], features[rows, top]
    said = top_contribution != 0.0
    # Each said (rank, row) gets a phrase number: phrases are built once per distinct value of a feature
    # (by bit pattern: -0.0 reads "-0", 0.0 "0") and numbered once per distinct text.
    text_number: dict[str, int] = {}
    phrase_text = np.full(top.shape, -1, dtype=np.int64)
    for j in np.unique(top[said]):
        where = said & (top == j)
        values = top_value[where]
        bits, index = np.unique(np.where(np.isnan(values), np.nan, values).view(np.uint64), return_inverse=True)
        numbers = np.array(
            [
                text_number.setdefault(describe_feature_value(feature_names[j], value), len(text_number))
                for value in bits.view(np.float64)
            ],
            dtype=np.int64,
        )
        phrase_text[where] = numbers[index.reshape(-1)]
    texts = list(text_number)
    if predicted_class is not None and class_names is not None:
        row_class = np.asarray(predicted_class, dtype=np.int64)
        names: list[str | None] = list(class_names)
    else:
        row_class, names = np.zeros(n_rows, dtype=np.int64), [None]
    # A sentence is fixed by the class and, per rank, the phrase text and the direction: built once per
    # distinct combination.
    # Per rank: 0 = nothing said, else 1 + 2 * phrase text + (contribution > 0).
    codes = np.column_stack([row_class, np.where(said, 1 + 2 * phrase_text + (top_contribution > 0), 0)])
    representatives, inverse = group_rows(codes)
    up = [_direction(task, 1.0, name) for name in names]
    down = [_direction(task, -1.0, name) for name in names]
    sentences = []
    for klass, *parts in codes[representatives].tolist():
        sentence = "; ".join(
            f"{texts[(code - 1) // 2]} {up[klass] if (code - 1) % 2 else down[klass]}" for code in parts if code
        )
        sentences.append(sentence or "no feature moved the prediction")
    return np.array(sentences, dtype=object)[inverse].tolist()


def _top_indices(magnitude: NDArray, k: int) -> NDArray[np.intp]:
    """Per row the indices of the k largest values, largest first, ties in index order: what
    `np.argsort(-magnitude, axis=1, kind="stable")[:, :k]` gives, without sorting whole rows where the k-th
    largest value is not tied."""
    n_rows, n_columns = magnitude.shape
    k = min(k, n_columns)
    if k == 0 or k == n_columns:
        return np.argsort(-magnitude, axis=1, kind="stable")[:, :k]
    kth = -np.partition(-magnitude, k - 1, axis=1)[:, k - 1]
    candidates = magnitude >= kth[:, None]
    plain = candidates.sum(axis=1) == k
    top = np.empty((n_rows, k), dtype=np.intp)
    chosen = np.nonzero(candidates[plain])[1].reshape(-1, k)  # in index order
    chosen_values = np.take_along_axis(magnitude[plain], chosen, axis=1)
    top[plain] = np.take_along_axis(chosen, np.argsort(-chosen_values, axis=1, kind="stable"), axis=1)
    if (~plain).any():
        top[~plain] = np.argsort(-magnitude[~plain], axis=1, kind="stable")[:, :k]
    return top


def global_importance(booster: lgb.Booster, feature_names: list[str]) -> pl.DataFrame:
    """Total gain and split count per feature, largest gain first, with each feature's share of gain."""
    gain = booster.feature_importance(importance_type="gain")
    splits = booster.feature_importance(importance_type="split")
    total = gain.sum() or 1.0
    return pl.DataFrame(
        {
            "feature": feature_names,
            "gain": gain.astype(np.float64),
            "gain_share": gain / total,
            "splits": splits.astype(np.int64),
        }
    ).sort("gain", descending=True)
