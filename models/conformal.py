"""Split-conformal prediction sets for the grading classifiers (pure numpy).

A calibrated probability says how sure the model is on average; a prediction set says, per patient,
which grades cannot be ruled out at a chosen coverage: {GBM} for a clear case, {LGG, GBM} for an
ambiguous one. The guarantee needs no model assumption, only exchangeability of the calibration
patients and the new ones: P(true class in set) >= coverage, and <= coverage + 1/(n+1) when the
scores have no ties.

The calibration patients are the out-of-fold predictions of the training cohort (every patient scored by
a model that did not see it), so no patient has to be held back from training. Score: LAC,
s = 1 - p(true class); a class enters the set when 1 - p(class) <= threshold. LAC gives the smallest
sets on average; it can give an empty set for a patient unlike the calibration cohort, which then
counts as a miss (not hidden).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

BINARY_CLASS_NAMES: tuple[str, str] = ("LGG", "GBM")
"""Column order of `binary_probability_matrix`: P(LGG) = 1 - p, P(GBM) = p."""

SCORE = "lac"  # least ambiguous set-valued classifier: s = 1 - p(true class)


def binary_probability_matrix(probability_gbm: NDArray) -> NDArray:
    """(n, 2) matrix [1 - p, p] for the GBM-vs-LGG model, columns in BINARY_CLASS_NAMES order."""
    p = np.asarray(probability_gbm, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"probability_gbm must be 1-D, got shape {p.shape}")
    return np.column_stack([1.0 - p, p])


def _check_probability(probability: NDArray, n_classes: int | None = None) -> NDArray:
    matrix = np.asarray(probability, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ValueError(f"probability must be (n, K >= 2), got shape {matrix.shape}")
    if n_classes is not None and matrix.shape[1] != n_classes:
        raise ValueError(f"probability has {matrix.shape[1]} columns, the calibrator {n_classes} classes")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("probability has missing or infinite values")
    return matrix


def conformal_quantile_rank(n_calibration: int, coverage: float) -> int:
    """ceil((n + 1) * coverage): the rank of the calibration score used as threshold (finite-sample
    correction of the plain quantile). Guarded against float error: (9 + 1) * 0.9 is 9.000000000000002."""
    return math.ceil(round((n_calibration + 1) * coverage, 9))


@dataclass(frozen=True)
class ConformalCalibrator:
    """Split-conformal threshold on LAC scores, storable beside the model artifacts as JSON.

    `threshold` is +inf when the calibration cohort is too small for the coverage asked
    (ceil((n+1) * coverage) > n): then every class is in every set, the only honest answer.
    """

    coverage: float
    threshold: float
    n_calibration: int
    class_names: tuple[str, ...]

    def prediction_set_mask(self, probability: NDArray) -> NDArray:
        """(m, K) boolean: class k is in patient i's set when 1 - p_ik <= threshold."""
        matrix = _check_probability(probability, len(self.class_names))
        return (1.0 - matrix) <= self.threshold

    def prediction_sets(self, probability: NDArray, class_names: Sequence[str] | None = None) -> list[list[str]]:
        """Per patient, the class names in its prediction set, in column order.

        `class_names`, when given, must equal the calibrator's: a guard against a probability matrix
        whose columns are in another order than the calibration's.
        """
        if class_names is not None and tuple(class_names) != self.class_names:
            raise ValueError(f"class names {list(class_names)} differ from the calibrator's {list(self.class_names)}")
        mask = self.prediction_set_mask(probability)
        names = np.asarray(self.class_names, dtype=object)
        return [names[row].tolist() for row in mask]

    def to_json(self) -> str:
        """JSON text; an infinite threshold is stored as null (JSON has no infinity)."""
        return json.dumps(
            {
                "score": SCORE,
                "coverage": self.coverage,
                "threshold": self.threshold if math.isfinite(self.threshold) else None,
                "n_calibration": self.n_calibration,
                "class_names": list(self.class_names),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ConformalCalibrator:
        data: dict[str, Any] = json.loads(text)
        if data.get("score", SCORE) != SCORE:
            raise ValueError(f"unsupported conformity score {data['score']!r} (only {SCORE!r})")
        threshold = data["threshold"]
        return cls(
            coverage=float(data["coverage"]),
            threshold=math.inf if threshold is None else float(threshold),
            n_calibration=int(data["n_calibration"]),
            class_names=tuple(str(c) for c in data["class_names"]),
        )


def fit_conformal(
    calibration_probability: NDArray,
    calibration_label_index: NDArray,
    coverage: float = 0.9,
    class_names: Sequence[str] | None = None,
) -> ConformalCalibrator:
    """Threshold = the ceil((n+1) * coverage)-th smallest LAC score 1 - p(true class) of the calibration
    patients (out-of-fold predictions), so a new exchangeable patient's set holds its true class with
    probability >= coverage. `class_names` default to "0".."K-1"; pass ("LGG", "GBM") or the grades."""
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    probability = _check_probability(calibration_probability)
    label_index = np.asarray(calibration_label_index)
    n, n_classes = probability.shape
    if label_index.shape != (n,):
        raise ValueError(f"calibration_label_index must be ({n},), got {label_index.shape}")
    if n == 0:
        raise ValueError("no calibration patients")
    if not np.issubdtype(label_index.dtype, np.integer) or label_index.min() < 0 or label_index.max() >= n_classes:
        raise ValueError(f"calibration_label_index must be integers in 0..{n_classes - 1}")
    names = tuple(str(k) for k in range(n_classes)) if class_names is None else tuple(class_names)
    if len(names) != n_classes or len(set(names)) != n_classes:
        raise ValueError(f"need {n_classes} distinct class names, got {list(names)}")
    scores = 1.0 - probability[np.arange(n), label_index]
    rank = conformal_quantile_rank(n, coverage)
    threshold = math.inf if rank > n else float(np.partition(scores, rank - 1)[rank - 1])
    return ConformalCalibrator(coverage=float(coverage), threshold=threshold, n_calibration=n, class_names=names)


def empirical_coverage(sets: Sequence[Sequence[str]], true_labels: Sequence[str]) -> float:
    """Share of patients whose true class is in their prediction set."""
    if len(sets) != len(true_labels):
        raise ValueError(f"{len(sets)} sets for {len(true_labels)} labels")
    if not sets:
        raise ValueError("no prediction sets")
    return float(np.mean([label in s for s, label in zip(sets, true_labels, strict=True)]))


def average_set_size(sets: Sequence[Sequence[str]]) -> float:
    """Mean number of classes per prediction set (1 = decisive; K = no information)."""
    if not sets:
        raise ValueError("no prediction sets")
    return float(np.mean([len(s) for s in sets]))
