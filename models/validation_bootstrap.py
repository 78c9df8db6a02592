"""The percentile bootstrap of the prospective validation (models.validation): the `MetricEstimate` every
validation task returns, the resampling of patients, and the interval and notes of an estimate.

Every metric carries a percentile-bootstrap 95% interval from resampling patients with replacement; a
resample where the metric is undefined is a NaN replicate, left out of the interval and counted in the note.
Undefined is not an error: too few patients give value None and a note saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

MIN_PATIENTS = 10
"""Below this many patients no metric is estimated: an interval from 9 patients would mislead."""

VALID_RESAMPLE_SHARE = 0.95
"""If fewer resamples than this share gave a defined metric, the note says how many did."""


@dataclass(frozen=True)
class MetricEstimate:
    """One validation metric: point estimate, percentile-bootstrap 95% interval, and why if undefined.

    `n` counts patients; `n_events` counts deaths for the survival metrics (deaths by the horizon for
    a time-dependent AUC) and is None for the grading metrics.
    """

    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_events: int | None = None
    note: str | None = None


def resample_indices(rng: np.random.Generator, n: int, n_bootstrap: int) -> NDArray[np.intp]:
    """(n_bootstrap, n) patient indices drawn with replacement."""
    return rng.integers(0, n, size=(n_bootstrap, n))


def estimate(
    metric: str,
    value: float | None,
    replicates: NDArray | None,
    *,
    n: int,
    n_events: int | None = None,
    undefined_resample_reason: str = "the metric was undefined",
    note: str | None = None,
    outside_interval_hint: str = "",
) -> MetricEstimate:
    """Point estimate plus the percentile interval of the finite replicates (NaN = undefined resample).

    A percentile interval need not contain the estimate when the metric's bootstrap distribution is
    shifted (ECE of a well-calibrated model: resampling adds noise to every bin gap, so replicates
    sit above the estimate); the note then says so rather than the interval being silently odd.
    """
    notes = [note] if note else []
    ci_low = ci_high = None
    if value is not None and replicates is not None and replicates.size:
        valid = replicates[np.isfinite(replicates)]
        if valid.size >= 2:
            ci_low, ci_high = (float(v) for v in np.percentile(valid, [2.5, 97.5]))
            if not ci_low <= value <= ci_high:
                side = "below" if value < ci_low else "above"
                notes.append(f"point estimate {side} its bootstrap percentile interval{outside_interval_hint}")
        if valid.size < VALID_RESAMPLE_SHARE * replicates.size:
            notes.append(
                f"interval from {valid.size} of {replicates.size} bootstrap resamples; "
                f"in the others {undefined_resample_reason}"
            )
    return MetricEstimate(metric, value, ci_low, ci_high, n, n_events, "; ".join(notes) or None)


def undefined(metrics: Sequence[str], n: int, reason: str, n_events: int | None = None) -> list[MetricEstimate]:
    return [MetricEstimate(m, None, None, None, n, n_events, reason) for m in metrics]


def check_n_bootstrap(n_bootstrap: int) -> None:
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
