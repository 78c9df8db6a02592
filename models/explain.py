"""Explanations a clinician reads: each patient's top feature contributions (LightGBM `pred_contrib`,
i.e. exact TreeSHAP values on the raw score) in words, and global importance (gain).

The per-feature phrases live in one place (`describe_feature_value`); the direction words depend on
the task (`raises risk` for the survival model, whose raw score is a log hazard; `raises GBM
probability` for the GBM-vs-LGG model; `favours grade 4` for the grade model).
"""

from __future__ import annotations

import math

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


def contributions(booster: lgb.Booster, features: NDArray, predicted_class: NDArray | None = None) -> NDArray:
    """Per-feature contributions to the raw score, shape (n, n_features) (bias column dropped).

    For a multiclass booster the contributions towards each row's `predicted_class` are returned.
    """
    raw = np.asarray(booster.predict(features, pred_contrib=True))
    n_features = features.shape[1]
    n_classes = raw.shape[1] // (n_features + 1)
    if n_classes == 1:
        return raw[:, :n_features]
    if predicted_class is None:
        raise ValueError("a multiclass model needs the predicted class to explain")
    per_class = raw.reshape(raw.shape[0], n_classes, n_features + 1)
    return per_class[np.arange(raw.shape[0]), np.asarray(predicted_class, dtype=int), :n_features]


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
    top = np.argsort(-np.abs(contribution), axis=1, kind="stable")[:, :k]
    sentences = []
    for row in range(features.shape[0]):
        class_name = None
        if predicted_class is not None and class_names is not None:
            class_name = class_names[int(predicted_class[row])]
        parts = [
            f"{describe_feature_value(feature_names[j], features[row, j])} {_direction(task, contribution[row, j], class_name)}"
            for j in top[row]
            if contribution[row, j] != 0.0
        ]
        sentences.append("; ".join(parts) if parts else "no feature moved the prediction")
    return sentences


def global_importance(booster: lgb.Booster, feature_names: list[str]) -> pl.DataFrame:
    """Total gain and split count per feature, largest gain first, with each feature's share of gain."""
    gain = booster.feature_importance(importance_type="gain")
    splits = booster.feature_importance(importance_type="split")
    total = gain.sum() or 1.0
    return pl.DataFrame(
        {"feature": feature_names, "gain": gain.astype(np.float64), "gain_share": gain / total, "splits": splits.astype(np.int64)}
    ).sort("gain", descending=True)
