"""Classifier figures of the report (reports.plots): ROC curves and reliability diagrams of the grading model
per cohort (e.g. training / prospective), and the feature importance of a model.

    ROC / AUC                              sklearn.metrics.roc_curve, roc_auc_score
    reliability diagram, Brier score       sklearn.calibration.calibration_curve, sklearn.metrics.brier_score_loss
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display, before pyplot is imported (this module may be imported first)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve  # noqa: E402

from reports.plot_common import (  # noqa: E402
    PlotResult,
    as_float,
    as_labels,
    check_binary_labels,
    finish,
    group_colours,
    message_plot,
    ordered,
    require_columns,
)

MIN_COHORT_SIZE = 2  # a ROC / reliability cohort needs at least this many labelled patients


# --- grading: ROC and reliability ---------------------------------------------------------------------------


def _cohorts(
    label: Any, probability: Any, cohort_labels: Any, what: str
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    y = as_float(label)
    p = as_float(probability)
    if y.shape != p.shape:
        raise ValueError(f"{what}: {y.size} labels but {p.size} probabilities")
    cohort = as_labels(cohort_labels, y.size)
    if cohort.size != y.size:
        raise ValueError(f"{what}: {y.size} labels but {cohort.size} cohort labels")
    check_binary_labels(y, what)
    missing_value = np.isnan(y) | np.isnan(p)
    missing_cohort = np.array([c is None for c in cohort], dtype=bool) & ~missing_value
    keep = ~missing_value & ~missing_cohort
    counts = {
        "n_input": int(y.size),
        "dropped_missing": int(missing_value.sum()),
        "dropped_missing_cohort": int(missing_cohort.sum()),
    }
    sizes = {c: int((cohort[keep] == c).sum()) for c in set(cohort[keep].tolist())}
    return {c: (y[keep & (cohort == c)].astype(int), p[keep & (cohort == c)]) for c in ordered(sizes, sizes)}, counts


def _cohort_problem(y: np.ndarray, positive_label: str, negative_label: str) -> str | None:
    if y.size < MIN_COHORT_SIZE:
        return f"only {y.size} labelled patient(s)"
    if y.min() == y.max():
        only = positive_label if y[0] == 1 else negative_label
        return f"a single class (all {y.size} are {only})"
    return None


def plot_grading_roc(
    label: Any,
    probability: Any,
    *,
    cohort_labels: Any = None,
    path: Path,
    title: str = "GBM vs LGG grading: ROC",
    positive_label: str = "GBM",
    negative_label: str = "LGG",
) -> PlotResult:
    """ROC curve per cohort (e.g. training / prospective) with its AUC in the legend.

    `label` is 1 for `positive_label` (GBM), 0 otherwise; `probability` the predicted P(positive).
    Pairs with a missing label/probability (or cohort) are dropped and counted. A cohort with one class
    or fewer than 2 patients gets no curve, and the figure says why. figures: cohorts {name: n,
    n_positive, auc | reason}, n_curves, dropped_missing, dropped_missing_cohort.
    """
    cohorts, counts = _cohorts(label, probability, cohort_labels, "plot_grading_roc")
    figures: dict[str, Any] = {**counts, "cohorts": {}, "n_curves": 0}
    problems: dict[str, str] = {}
    for name, (y, p) in cohorts.items():
        entry: dict[str, Any] = {"n": int(y.size), "n_positive": int(y.sum())}
        problem = _cohort_problem(y, positive_label, negative_label)
        if problem:
            entry["reason"] = problem
            problems[name] = problem
        else:
            entry["auc"] = float(roc_auc_score(y, p))
        figures["cohorts"][name] = entry
    drawable = [name for name in cohorts if name not in problems]
    if not drawable:
        if not cohorts:
            reason = f"No patient has both a label and a probability ({counts['dropped_missing']} dropped as missing)."
        else:
            reason = "No ROC curve can be drawn: " + "; ".join(f"{k}: {v}" for k, v in problems.items()) + "."
        return message_plot(path, title, reason, figures)

    colours = group_colours(list(cohorts))
    fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    try:
        for name in drawable:
            y, p = cohorts[name]
            fpr, tpr, _ = roc_curve(y, p)
            entry = figures["cohorts"][name]
            prospective = name == "prospective"
            ax.plot(
                fpr,
                tpr,
                color=colours[name],
                linewidth=2.4 if prospective else 1.8,
                linestyle="--" if prospective else "-",
                label=f"{name}: AUC {entry['auc']:.3f} (n={entry['n']}, {positive_label} {entry['n_positive']})",
            )
        figures["n_curves"] = len(drawable)
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="chance")
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel(f"false positive rate (1 - specificity, {negative_label} called {positive_label})")
        ax.set_ylabel(f"true positive rate (sensitivity for {positive_label})")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_title(title, fontsize=12)
        notes = [f"{name}: no curve, {problem}" for name, problem in problems.items()]
        if counts["dropped_missing"] or counts["dropped_missing_cohort"]:
            notes.append(
                f"dropped {counts['dropped_missing']} with a missing label/probability"
                + (f", {counts['dropped_missing_cohort']} without a cohort" if counts["dropped_missing_cohort"] else "")
            )
        if notes:
            ax.text(0.02, 0.98, "\n".join(notes), transform=ax.transAxes, ha="left", va="top", fontsize=8, color="0.3")
    except BaseException:
        plt.close(fig)
        raise
    return finish(fig, path, figures)


def plot_reliability(
    label: Any,
    probability: Any,
    *,
    cohort_labels: Any = None,
    path: Path,
    n_bins: int = 10,
    title: str = "GBM vs LGG grading: reliability",
    positive_label: str = "GBM",
    negative_label: str = "LGG",
) -> PlotResult:
    """Reliability diagram per cohort (calibration_curve, quantile bins) over a histogram of predictions.

    Bins: at most `n_bins`, and about 15 patients per bin or more, so a small cohort is not drawn as
    noise. A single-class cohort is still drawn (its observed fraction is 0 or 1), and noted.
    figures: cohorts {name: n, n_positive, n_bins, brier, mean_predicted, observed_fraction | reason}.
    """
    cohorts, counts = _cohorts(label, probability, cohort_labels, "plot_reliability")
    figures: dict[str, Any] = {**counts, "cohorts": {}, "n_curves": 0}
    problems: dict[str, str] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, (y, p) in cohorts.items():
        entry: dict[str, Any] = {"n": int(y.size), "n_positive": int(y.sum())}
        if y.size < MIN_COHORT_SIZE:
            problems[name] = entry["reason"] = f"only {y.size} labelled patient(s)"
        else:
            bins = int(min(n_bins, max(2, y.size // 15)))
            observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
            curves[name] = (predicted, observed)
            entry.update(
                n_bins=bins,
                n_points=int(predicted.size),
                brier=float(brier_score_loss(y, p, labels=[0, 1])),
                mean_predicted=float(p.mean()),
                observed_fraction=float(y.mean()),
            )
            if y.min() == y.max():
                entry["note"] = _cohort_problem(y, positive_label, negative_label)
        figures["cohorts"][name] = entry
    if not curves:
        if not cohorts:
            reason = f"No patient has both a label and a probability ({counts['dropped_missing']} dropped as missing)."
        else:
            reason = "No reliability curve can be drawn: " + "; ".join(f"{k}: {v}" for k, v in problems.items()) + "."
        return message_plot(path, title, reason, figures)

    colours = group_colours(list(cohorts))
    fig = plt.figure(figsize=(7.0, 6.0), layout="constrained")
    try:
        grid = fig.add_gridspec(2, 1, height_ratios=[3.0, 1.0])
        ax = fig.add_subplot(grid[0])
        hist = fig.add_subplot(grid[1], sharex=ax)
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, label="perfectly calibrated")
        edges = np.linspace(0.0, 1.0, 21)
        for name, (predicted, observed) in curves.items():
            entry = figures["cohorts"][name]
            ax.plot(
                predicted,
                observed,
                marker="o",
                markersize=4,
                color=colours[name],
                linestyle="--" if name == "prospective" else "-",
                label=f"{name}: Brier {entry['brier']:.3f} (n={entry['n']}, {entry['n_points']} quantile bins)",
            )
            hist.hist(cohorts[name][1], bins=edges, histtype="step", linewidth=1.5, color=colours[name], label=name)
        figures["n_curves"] = len(curves)
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel(f"observed fraction {positive_label}")
        ax.tick_params(axis="x", labelbottom=False)
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_title(title, fontsize=12)
        notes = [f"{k}: not drawn, {v}" for k, v in problems.items()]
        notes += [f"{k}: {v['note']}" for k, v in figures["cohorts"].items() if "note" in v]
        if counts["dropped_missing"] or counts["dropped_missing_cohort"]:
            notes.append(f"dropped {counts['dropped_missing'] + counts['dropped_missing_cohort']} with a missing value")
        if notes:
            ax.text(
                0.98, 0.02, "\n".join(notes), transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="0.3"
            )
        hist.set_xlabel(f"predicted probability of {positive_label}")
        hist.set_ylabel("patients")
        hist.grid(alpha=0.3)
    except BaseException:
        plt.close(fig)
        raise
    return finish(fig, path, figures)


# --- feature importance -------------------------------------------------------------------------------------


def plot_feature_importance(
    importance: pl.DataFrame,
    *,
    path: Path,
    top: int = 15,
    value_column: str | None = None,
    title: str = "Feature importance (LightGBM gain)",
) -> PlotResult:
    """Horizontal bars of the `top` features of a `models.explain.global_importance` frame (feature, gain,
    gain_share, splits). Plots `gain_share` as % of total gain when present, else `gain`, else
    `importance` (or `value_column`). Features with zero or missing importance are not drawn, but counted.
    """
    figures: dict[str, Any] = {"n_features": importance.height, "shown": [], "value_column": None}
    if importance.height == 0:
        return message_plot(path, title, "No feature importance was recorded (empty table).", figures)
    if value_column is None:
        value_column = next((c for c in ("gain_share", "gain", "importance") if c in importance.columns), None)
    if value_column is None:
        raise ValueError(
            f"plot_feature_importance: expected a gain_share, gain or importance column; got {importance.columns}"
        )
    require_columns(importance, ("feature", value_column), "plot_feature_importance")
    figures["value_column"] = value_column
    values = importance.select(
        pl.col("feature").cast(pl.String), pl.col(value_column).cast(pl.Float64).fill_nan(None).alias("value")
    )
    used = values.filter(pl.col("feature").is_not_null() & pl.col("value").is_not_null() & (pl.col("value") > 0))
    figures["n_unused"] = values.height - used.height
    if used.height == 0:
        return message_plot(
            path,
            title,
            f"No feature was used by the model: all {values.height} have zero or missing {value_column}.",
            figures,
        )
    shown = used.sort("value", descending=True).head(top)
    figures["shown"] = [{"feature": f, value_column: v} for f, v in shown.iter_rows()]
    figures["top_feature"] = shown["feature"][0]
    as_percent = value_column == "gain_share"
    bar_values = shown["value"].to_numpy() * (100.0 if as_percent else 1.0)

    fig, ax = plt.subplots(figsize=(8.0, max(3.0, 1.2 + 0.3 * shown.height)), layout="constrained")
    try:
        positions = np.arange(shown.height)
        ax.barh(positions, bar_values, color="tab:blue", alpha=0.85)
        ax.set_yticks(positions, shown["feature"].to_list(), fontsize=9)
        ax.invert_yaxis()
        for y, v in zip(positions, bar_values, strict=True):
            ax.text(v, y, f" {v:.1f}%" if as_percent else f" {v:.3g}", va="center", fontsize=8)
        ax.set_xlim(0, bar_values.max() * 1.15)
        ax.set_xlabel("share of total gain (%)" if as_percent else value_column)
        ax.grid(axis="x", alpha=0.3)
        rest = used.height - shown.height
        note = f"top {shown.height} of {importance.height} features"
        if rest:
            note += f"; {rest} more used"
        if figures["n_unused"]:
            note += f"; {figures['n_unused']} never used (zero gain)"
        ax.set_title(f"{title}\n{note}", fontsize=11)
    except BaseException:
        plt.close(fig)
        raise
    return finish(fig, path, figures)
