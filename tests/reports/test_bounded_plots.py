"""Plots never size arrays from data values without a bound: a survival time or an age no patient can have (the
harmoniser quarantines them, but a plot must not depend on that) still gives a figure, quickly."""

from __future__ import annotations

import math
import time

import numpy as np
import polars as pl
import pytest

from reports import plots
from reports.plot_common import MAX_TICKS, axis_ticks, bounded_bin_edges


@pytest.mark.parametrize("top", [0.0, -5.0, math.nan, math.inf, 7.0, 130.0, 1e12 / 30.44, 1e308])
def test_axis_ticks_are_bounded_whatever_the_data_say(top):
    ticks = axis_ticks(top, (12, 24, 36, 60, 120, 240))
    assert 1 <= ticks.size <= MAX_TICKS + 1
    assert ticks[0] == 0.0 and np.all(np.diff(ticks) > 0)
    if math.isfinite(top) and 0 < top < 1e300:
        assert ticks[-1] <= top * 1.0000001 or ticks.size == 1


@pytest.mark.parametrize("top", [80.0, 130.0, 1e6, 1e300, math.nan])
def test_histogram_edges_are_bounded(top):
    edges = bounded_bin_edges(top, width=5.0, floor=95.0)
    assert 2 <= edges.size <= 61
    assert edges[-1] >= (95.0 if not math.isfinite(top) else min(max(top, 95.0), edges[-1]))


@pytest.mark.parametrize("days", [1e12, 1e308, float(2**70)])
def test_kaplan_meier_of_an_impossible_survival_time_is_a_figure_in_seconds(days, tmp_path):
    frame = pl.DataFrame(
        {
            "overall_survival_days": [100.0, 200.0, 300.0, 400.0, days, 50.0],
            "death_observed": [True, False, True, True, False, True],
            "risk_group": ["low", "low", "low", "high", "high", "high"],
        }
    )
    started = time.monotonic()
    result = plots.plot_kaplan_meier(frame, "risk_group", title="extreme", path=tmp_path / "km.png")
    assert time.monotonic() - started < 60
    assert result.path.exists() and result.figures["n_curves"] == 2


def test_cohort_summary_with_an_impossible_age_is_a_figure(tmp_path):
    patients = pl.DataFrame(
        {
            "age_at_diagnosis_years": [45.0, 60.0, 1e9],
            "project_id": ["TCGA-GBM", "TCGA-LGG", "TCGA-GBM"],
            "overall_survival_days": [100.0, 1e12, 300.0],
            "death_observed": [True, False, True],
        }
    )
    result = plots.plot_cohort_summary(patients, path=tmp_path / "cohort.png")
    assert result.path.exists()
