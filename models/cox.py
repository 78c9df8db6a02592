"""Cox proportional-hazards boosting for LightGBM (which has no survival objective).

The model's raw score f(x) is a log relative hazard. The loss is the negative log partial likelihood
with Breslow's handling of ties (every event at time t shares the same risk set {j : T_j >= t}):

    L(f) = - sum_{i: event} [ f_i - log S_i ],   S_i = sum_{j: T_j >= T_i} exp(f_j)

Gradient and diagonal Hessian (k any sample, the sums over events i whose risk set contains k,
i.e. T_i <= T_k):

    dL/df_k   = -event_k + exp(f_k) * sum_i 1/S_i
    d2L/df_k2 =  exp(f_k) * sum_i 1/S_i  -  exp(2 f_k) * sum_i 1/S_i^2

Everything is vectorised: sort by time once, risk-set sums are reverse cumulative sums, the sums over
events are forward cumulative sums, ties are resolved by taking the value at the tie group's first
(risk set) or last (events so far) position.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class _SortedSurvival:
    order: NDArray[np.intp]  # indices that sort by overall_survival_days ascending
    death_observed: FloatArray  # sorted, 1.0 / 0.0
    risk_set_start: NDArray[np.intp]  # sorted position of the first sample tied with each sample
    tie_group_end: NDArray[np.intp]  # sorted position of the last sample tied with each sample


def _sort_survival(overall_survival_days: FloatArray, death_observed: NDArray) -> _SortedSurvival:
    order = np.argsort(overall_survival_days, kind="stable")
    days_sorted = overall_survival_days[order]
    return _SortedSurvival(
        order=order,
        death_observed=np.asarray(death_observed, dtype=np.float64)[order],
        risk_set_start=np.searchsorted(days_sorted, days_sorted, side="left"),
        tie_group_end=np.searchsorted(days_sorted, days_sorted, side="right") - 1,
    )


def _risk_set_sums(log_hazard_sorted: FloatArray, sorted_survival: _SortedSurvival) -> tuple[FloatArray, FloatArray]:
    """exp(f - max f) in sorted order and each sample's risk-set sum S (same shift; ratios are exact)."""
    relative_hazard = np.exp(log_hazard_sorted - log_hazard_sorted.max())
    reverse_cumulative = np.cumsum(relative_hazard[::-1])[::-1]
    return relative_hazard, reverse_cumulative[sorted_survival.risk_set_start]


def cox_gradient_hessian(
    log_hazard: FloatArray, overall_survival_days: FloatArray, death_observed: NDArray
) -> tuple[FloatArray, FloatArray]:
    """Gradient and diagonal Hessian of the Breslow negative log partial likelihood (unnormalised)."""
    log_hazard = np.asarray(log_hazard, dtype=np.float64)
    sorted_survival = _sort_survival(np.asarray(overall_survival_days, dtype=np.float64), death_observed)
    relative_hazard, risk_set_sum = _risk_set_sums(log_hazard[sorted_survival.order], sorted_survival)
    events = sorted_survival.death_observed
    # Sums over events i with T_i <= T_k: a forward cumulative sum read at the end of k's tie group.
    inverse_sum = np.cumsum(events / risk_set_sum)[sorted_survival.tie_group_end]
    inverse_square_sum = np.cumsum(events / risk_set_sum**2)[sorted_survival.tie_group_end]
    gradient_sorted = relative_hazard * inverse_sum - events
    hessian_sorted = relative_hazard * inverse_sum - relative_hazard**2 * inverse_square_sum
    gradient = np.empty_like(gradient_sorted)
    hessian = np.empty_like(hessian_sorted)
    gradient[sorted_survival.order] = gradient_sorted
    hessian[sorted_survival.order] = hessian_sorted
    return gradient, hessian


def cox_negative_log_partial_likelihood(
    log_hazard: FloatArray, overall_survival_days: FloatArray, death_observed: NDArray
) -> float:
    """Breslow negative log partial likelihood per event (comparable across folds of different size)."""
    log_hazard = np.asarray(log_hazard, dtype=np.float64)
    sorted_survival = _sort_survival(np.asarray(overall_survival_days, dtype=np.float64), death_observed)
    log_hazard_sorted = log_hazard[sorted_survival.order]
    shift = log_hazard_sorted.max()
    _, risk_set_sum = _risk_set_sums(log_hazard_sorted, sorted_survival)
    events = sorted_survival.death_observed
    n_events = events.sum()
    if n_events == 0:
        return 0.0
    return float(-(events * (log_hazard_sorted - shift - np.log(risk_set_sum))).sum() / n_events)


# --- LightGBM glue -----------------------------------------------------------------------------------


def survival_dataset(
    features: FloatArray,
    overall_survival_days: FloatArray,
    death_observed: NDArray,
    *,
    feature_names: list[str] | None = None,
    reference: lgb.Dataset | None = None,
) -> lgb.Dataset:
    """A LightGBM Dataset whose label is the survival time and which carries the death flags.

    LightGBM has one label per row; the event flag rides along as an attribute that the objective and
    metric below read back (they receive this very Dataset object).
    """
    dataset = lgb.Dataset(
        features,
        label=np.asarray(overall_survival_days, dtype=np.float64),
        feature_name=feature_names if feature_names is not None else "auto",
        reference=reference,
        free_raw_data=False,
    )
    dataset.death_observed = np.asarray(death_observed, dtype=np.float64)  # type: ignore[attr-defined]
    return dataset


def _death_observed_of(dataset: lgb.Dataset) -> FloatArray:
    flags = getattr(dataset, "death_observed", None)
    if flags is None:
        raise ValueError("the Cox objective needs a Dataset made by models.cox.survival_dataset (death flags missing)")
    return flags


def cox_objective(preds: FloatArray, train_data: lgb.Dataset) -> tuple[FloatArray, FloatArray]:
    """LightGBM custom objective (`params={"objective": cox_objective}`)."""
    gradient, hessian = cox_gradient_hessian(preds, train_data.get_label(), _death_observed_of(train_data))
    # A sample whose hazard dominates every risk set it belongs to has Hessian ~0; a floor keeps leaf
    # values (-G/H) finite. It does not move the optimum, only the step size for such samples.
    return gradient, np.maximum(hessian, 1e-9)


def cox_partial_likelihood_metric(preds: FloatArray, eval_data: lgb.Dataset) -> tuple[str, float, bool]:
    """LightGBM feval: per-event Breslow negative log partial likelihood, lower is better."""
    value = cox_negative_log_partial_likelihood(preds, eval_data.get_label(), _death_observed_of(eval_data))
    return "cox_nll", value, False


# --- Breslow baseline hazard -------------------------------------------------------------------------


@dataclass(frozen=True)
class BreslowBaseline:
    """Baseline cumulative hazard H0 as a right-continuous step function of days."""

    event_days: FloatArray  # distinct event times, ascending
    cumulative_hazard: FloatArray  # H0 at each event time

    def cumulative_hazard_at(self, days: FloatArray) -> FloatArray:
        index = np.searchsorted(self.event_days, np.asarray(days, dtype=np.float64), side="right") - 1
        return np.where(index >= 0, self.cumulative_hazard[np.clip(index, 0, None)], 0.0)

    def survival_probability(self, log_hazard: FloatArray, days: FloatArray) -> FloatArray:
        """S(t | x) = exp(-H0(t) exp(f(x))), shape (n_samples, n_times)."""
        hazard = self.cumulative_hazard_at(np.atleast_1d(days))
        return np.exp(-np.outer(np.exp(np.asarray(log_hazard, dtype=np.float64)), hazard))

    def to_json(self) -> dict[str, list[float]]:
        return {"event_days": self.event_days.tolist(), "cumulative_hazard": self.cumulative_hazard.tolist()}

    @classmethod
    def from_json(cls, payload: dict[str, list[float]]) -> BreslowBaseline:
        return cls(
            np.asarray(payload["event_days"], dtype=np.float64),
            np.asarray(payload["cumulative_hazard"], dtype=np.float64),
        )


def fit_breslow_baseline(
    log_hazard: FloatArray, overall_survival_days: FloatArray, death_observed: NDArray
) -> BreslowBaseline:
    """H0(t) = sum over event times s <= t of d(s) / sum_{j: T_j >= s} exp(f_j) (Breslow)."""
    days = np.asarray(overall_survival_days, dtype=np.float64)
    events = np.asarray(death_observed, dtype=bool)
    relative_hazard = np.exp(np.asarray(log_hazard, dtype=np.float64))
    order = np.argsort(days, kind="stable")
    days_sorted = days[order]
    risk_set_sum = np.cumsum(relative_hazard[order][::-1])[::-1]
    event_days = np.unique(days_sorted[events[order]])
    positions = np.searchsorted(days_sorted, event_days, side="left")
    deaths_at = np.bincount(np.searchsorted(event_days, days[events]), minlength=event_days.size)
    increments = deaths_at / risk_set_sum[positions]
    return BreslowBaseline(event_days=event_days, cumulative_hazard=np.cumsum(increments))
