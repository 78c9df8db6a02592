"""Split-conformal prediction sets (models/conformal.py): the finite-sample coverage guarantee holds on
exchangeable data whatever the classifier's calibration, the threshold is the hand-computed order
statistic, sets are nested in the coverage, and the calibrator survives a JSON round trip."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from models.conformal import (
    BINARY_CLASS_NAMES,
    ConformalCalibrator,
    average_set_size,
    binary_probability_matrix,
    conformal_quantile_rank,
    empirical_coverage,
    fit_conformal,
)

GRADES = ("2", "3", "4")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def three_grade_patients(
    n: int, rng: np.random.Generator, sharpness: float = 1.0, grade_3_bias: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Exchangeable patients: grade drawn from softmax(true logits); the classifier reports
    softmax(sharpness * true logits + bias on grade 3): sharpness 1 and no bias is calibrated,
    sharpness > 1 overconfident, < 1 underconfident, a bias favours grade 3 regardless of the patient."""
    features = rng.normal(size=(n, 2))
    true_logits = features @ np.array([[1.5, 0.0, -1.5], [0.0, 1.0, 0.5]])
    cumulative = softmax(true_logits).cumsum(axis=1)
    label_index = (rng.random((n, 1)) > cumulative).sum(axis=1)
    return softmax(sharpness * true_logits + np.array([0.0, grade_3_bias, 0.0])), label_index


def coverage_over_repetitions(
    n_calibration: int,
    coverage: float,
    sharpness: float,
    grade_3_bias: float = 0.0,
    repetitions: int = 400,
    n_test: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """Per repetition (fresh calibration and test patients): empirical coverage and mean set size."""
    rng = np.random.default_rng(12345)
    covered, sizes = np.empty(repetitions), np.empty(repetitions)
    for r in range(repetitions):
        calibration_probability, calibration_label = three_grade_patients(n_calibration, rng, sharpness, grade_3_bias)
        calibrator = fit_conformal(calibration_probability, calibration_label, coverage, class_names=GRADES)
        test_probability, test_label = three_grade_patients(n_test, rng, sharpness, grade_3_bias)
        mask = calibrator.prediction_set_mask(test_probability)
        covered[r] = mask[np.arange(n_test), test_label].mean()
        sizes[r] = mask.sum(axis=1).mean()
    return covered, sizes


def test_average_coverage_lies_in_the_finite_sample_bound_over_repetitions():
    """E[coverage] = ceil((n+1)(1-a)) / (n+1), inside [1-a, 1-a + 1/(n+1)] for continuous scores.

    Tolerance: 4 Monte-Carlo standard errors of the mean over 1000 repetitions (sd of one repetition's
    coverage ~0.024 -> tolerance ~0.003), so a false failure has probability ~6e-5, while the
    uncorrected quantile (rank ceil(n(1-a)), mean coverage ~0.895) fails the lower bound."""
    n_calibration, coverage = 200, 0.9
    covered, _ = coverage_over_repetitions(n_calibration, coverage, sharpness=1.0, repetitions=1000)
    tolerance = 4 * covered.std(ddof=1) / math.sqrt(covered.size)
    assert tolerance < 0.004
    mean = covered.mean()
    assert coverage - tolerance <= mean <= coverage + 1 / (n_calibration + 1) + tolerance
    expected = conformal_quantile_rank(n_calibration, coverage) / (n_calibration + 1)  # 181/201
    assert mean == pytest.approx(expected, abs=tolerance)


@pytest.mark.parametrize(
    ("sharpness", "grade_3_bias"), [(3.0, 0.0), (0.4, 1.5)], ids=["overconfident", "underconfident_biased_to_grade_3"]
)
def test_a_miscalibrated_but_exchangeable_classifier_still_covers(sharpness: float, grade_3_bias: float):
    """The guarantee needs exchangeability, not calibration (tolerance: 4 Monte-Carlo SE, as above)."""
    covered, _ = coverage_over_repetitions(200, 0.9, sharpness, grade_3_bias, repetitions=400)
    tolerance = 4 * covered.std(ddof=1) / math.sqrt(covered.size)
    assert 0.9 - tolerance <= covered.mean() <= 0.9 + 1 / 201 + tolerance


def test_the_naive_top_mass_rule_undercovers_an_overconfident_classifier():
    """What conformal corrects: 'top classes until 90% of the predicted mass' covers ~83% here."""
    rng = np.random.default_rng(7)
    probability, label = three_grade_patients(5000, rng, sharpness=3.0)
    order = np.argsort(-probability, axis=1)
    mass_before = np.cumsum(np.take_along_axis(probability, order, axis=1), axis=1) - np.take_along_axis(
        probability, order, axis=1
    )
    naive = np.zeros_like(probability, dtype=bool)
    np.put_along_axis(naive, order, mass_before < 0.9, axis=1)
    assert naive[np.arange(label.size), label].mean() < 0.86


def test_threshold_is_the_hand_computed_order_statistic():
    rng = np.random.default_rng(3)
    for n, coverage in ((9, 0.9), (99, 0.9), (250, 0.8), (57, 0.95), (1000, 0.99)):
        probability, label = three_grade_patients(n, rng)
        calibrator = fit_conformal(probability, label, coverage)
        scores = np.sort(1 - probability[np.arange(n), label])
        rank = math.ceil((n + 1) * Fraction(str(coverage)))  # exact arithmetic, no float rounding
        assert calibrator.threshold == scores[rank - 1]
        assert calibrator.n_calibration == n and calibrator.coverage == coverage
    assert conformal_quantile_rank(9, 0.9) == 9  # (9 + 1) * 0.9 is 9.000000000000002 in floats


def test_too_few_calibration_patients_give_an_infinite_threshold_and_every_class():
    probability, label = three_grade_patients(8, np.random.default_rng(4))  # ceil(9 * 0.9) = 9 > 8
    calibrator = fit_conformal(probability, label, 0.9, class_names=GRADES)
    assert calibrator.threshold == math.inf
    assert calibrator.prediction_sets(probability) == [list(GRADES)] * 8


def test_sets_are_nested_and_grow_as_coverage_rises():
    rng = np.random.default_rng(5)
    calibration_probability, calibration_label = three_grade_patients(300, rng)
    test_probability, _ = three_grade_patients(400, rng)
    masks = [
        fit_conformal(calibration_probability, calibration_label, c).prediction_set_mask(test_probability)
        for c in (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
    ]
    for smaller, larger in itertools.pairwise(masks):
        assert not (smaller & ~larger).any()  # every set contains the set of the lower coverage
    sizes = [m.sum(axis=1).mean() for m in masks]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]


def test_json_round_trip_keeps_threshold_classes_and_sets():
    rng = np.random.default_rng(6)
    probability, label = three_grade_patients(150, rng)
    calibrator = fit_conformal(probability, label, 0.85, class_names=GRADES)
    restored = ConformalCalibrator.from_json(calibrator.to_json())
    assert restored == calibrator
    new_patients, _ = three_grade_patients(50, rng)
    assert restored.prediction_sets(new_patients) == calibrator.prediction_sets(new_patients)

    unbounded = fit_conformal(probability[:5], label[:5], 0.9)
    assert '"threshold": null' in unbounded.to_json()
    assert ConformalCalibrator.from_json(unbounded.to_json()).threshold == math.inf


def test_binary_gbm_lgg_sets_from_p_gbm():
    rng = np.random.default_rng(8)
    p_gbm = rng.uniform(size=400)
    label = (rng.random(400) < p_gbm).astype(int)
    matrix = binary_probability_matrix(p_gbm)
    assert np.allclose(matrix.sum(axis=1), 1) and np.array_equal(matrix[:, 1], p_gbm)
    calibrator = fit_conformal(matrix, label, 0.9, class_names=BINARY_CLASS_NAMES)
    sets = calibrator.prediction_sets(binary_probability_matrix(np.array([0.02, 0.5, 0.98])), ["LGG", "GBM"])
    assert sets == [["LGG"], ["LGG", "GBM"], ["GBM"]]
    with pytest.raises(ValueError, match="differ"):
        calibrator.prediction_sets(matrix, ["GBM", "LGG"])  # columns in the other order


def test_coverage_and_set_size_helpers_and_prediction_sets_agree_with_the_mask():
    sets = [["LGG"], ["LGG", "GBM"], [], ["GBM"]]
    assert empirical_coverage(sets, ["LGG", "GBM", "GBM", "LGG"]) == 0.5  # an empty set is a miss
    assert average_set_size(sets) == 1.0

    rng = np.random.default_rng(9)
    probability, label = three_grade_patients(200, rng)
    calibrator = fit_conformal(probability, label, 0.9, class_names=GRADES)
    test_probability, test_label = three_grade_patients(300, rng)
    sets = calibrator.prediction_sets(test_probability)
    mask = calibrator.prediction_set_mask(test_probability)
    assert [len(s) for s in sets] == mask.sum(axis=1).tolist()
    truth = [GRADES[k] for k in test_label]
    assert empirical_coverage(sets, truth) == mask[np.arange(300), test_label].mean()


def test_invalid_calibration_input_raises():
    probability, label = three_grade_patients(20, np.random.default_rng(10))
    with pytest.raises(ValueError, match="coverage"):
        fit_conformal(probability, label, 1.0)
    with pytest.raises(ValueError, match="0..2"):
        fit_conformal(probability, label + 3)
    with pytest.raises(ValueError, match="distinct class names"):
        fit_conformal(probability, label, class_names=["2", "2", "4"])
    with pytest.raises(ValueError, match="columns"):
        fit_conformal(probability, label).prediction_set_mask(probability[:, :2])
