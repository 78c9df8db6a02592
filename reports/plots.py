"""The per-release plots of the report (`<DATA_DIR>/reports/<release>/<name>.png`).

Pure functions: polars frames / numpy arrays in, one PNG out (written atomically to `path`), plus a
small JSON-ready dict of the figures the plot shows (for asset metadata and the HTML report). Every
estimate comes from scikit-survival or scikit-learn:

    Kaplan-Meier curves and log-log bands  sksurv.nonparametric.kaplan_meier_estimator
    log-rank test                          sksurv.compare.compare_survival
    ROC / AUC                              sklearn.metrics.roc_curve, roc_auc_score
    reliability diagram, Brier score       sklearn.calibration.calibration_curve, sklearn.metrics.brier_score_loss
    time-dependent AUC                     sksurv.metrics.cumulative_dynamic_auc

Data problems never raise: rows with missing values are dropped and counted (`dropped_*` in the
figures), tiny groups/cohorts are skipped and listed, and when nothing can be drawn the PNG is a
figure that says why (`figures["reason"]`). A caller error (a required column absent from a non-empty
frame, labels that are not 0/1, duplicate case ids) raises ValueError. Each function closes its figure.

Matplotlib runs headless (Agg backend); figures are ~8x5 in at 100 dpi so a PNG stays well under
the ~300 KB a Dagster markdown preview can carry (see reports.report.png_metadata_markdown).
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib

matplotlib.use("Agg")  # headless: no display, before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve  # noqa: E402
from sksurv.compare import compare_survival  # noqa: E402
from sksurv.metrics import cumulative_dynamic_auc  # noqa: E402
from sksurv.nonparametric import kaplan_meier_estimator  # noqa: E402
from sksurv.util import Surv  # noqa: E402

from contracts.schemas import DAYS_PER_MONTH, RISK_GROUPS
from reports.report import publish_file  # noqa: E402

DPI = 100
FIGSIZE = (8.0, 5.0)
MIN_GROUP_SIZE = 2  # a Kaplan-Meier group needs at least this many patients
MIN_COHORT_SIZE = 2  # a ROC / reliability cohort needs at least this many labelled patients
MARKER_COLUMNS: tuple[str, ...] = (
    "idh_status",
    "codeletion_1p19q",
    "mgmt_promoter_methylated",
    "egfr_amplified",
    "cdkn2a_homozygous_deletion",
    "chr7_gain_chr10_loss",
)
_MARKER_LABELS: dict[str, str] = {
    "idh_status": "IDH mutant",
    "codeletion_1p19q": "1p/19q codeleted",
    "mgmt_promoter_methylated": "MGMT methylated",
    "egfr_amplified": "EGFR amplified",
    "cdkn2a_homozygous_deletion": "CDKN2A hom. deletion",
    "chr7_gain_chr10_loss": "+7/-10",
}
_GROUP_COLOURS: dict[str, str] = {
    "low": "tab:green",
    "intermediate": "tab:orange",
    "high": "tab:red",
    "training": "tab:blue",
    "prospective": "tab:red",
    "TCGA-GBM": "tab:red",
    "TCGA-LGG": "tab:blue",
}
_CYCLE: tuple[str, ...] = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
    "tab:gray",
)
# Groups/cohorts drawn first when present, in this order; others follow (largest first).
_PREFERRED_ORDER: tuple[str, ...] = (*RISK_GROUPS, "training", "cross-validation", "prospective")


class PlotResult(NamedTuple):
    """The written PNG and the figures it shows (JSON-ready: str, int, float, None, lists, dicts)."""

    path: Path
    figures: dict[str, Any]


# --- shared helpers -----------------------------------------------------------------------------------


def _save(fig: plt.Figure, path: Path) -> Path:
    """Render to PNG in memory, then publish it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return publish_file(buffer.getvalue(), path)


def _finish(fig: plt.Figure, path: Path, figures: dict[str, Any]) -> PlotResult:
    try:
        written = _save(fig, path)
    finally:
        plt.close(fig)
    return PlotResult(written, _jsonable(figures))


def _message_plot(
    path: Path, title: str, reason: str, figures: dict[str, Any] | None = None, figsize: tuple[float, float] = FIGSIZE
) -> PlotResult:
    """A figure that says why there is nothing to draw (empty cohort, one class, all values missing)."""
    fig = plt.figure(figsize=figsize, layout="constrained")
    try:
        fig.suptitle(title, fontsize=13)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.text(
            0.5,
            0.5,
            textwrap.fill(reason, 70),
            ha="center",
            va="center",
            fontsize=12,
            color="0.25",
            transform=ax.transAxes,
            bbox={"boxstyle": "round,pad=0.8", "facecolor": "0.95", "edgecolor": "0.7"},
        )
    except BaseException:
        plt.close(fig)
        raise
    return _finish(fig, path, {**(figures or {}), "reason": reason})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    return value


def _as_float(values: Any) -> np.ndarray:
    """Any 1-d input (numpy, polars Series, list with None) as float64 with NaN for missing."""
    if values is None:
        return np.empty(0)
    if isinstance(values, pl.Series):
        return values.cast(pl.Float64).to_numpy().astype(np.float64, copy=False)
    array = np.asarray(values)
    if array.dtype == object:
        return np.array([np.nan if v is None else float(v) for v in array.ravel()], dtype=np.float64)
    return array.astype(np.float64).ravel()


def _as_labels(values: Any, n: int) -> np.ndarray:
    """Cohort labels as an object array of str, None for missing; all "all patients" when not given."""
    if values is None:
        return np.full(n, "all patients", dtype=object)
    items = values.to_list() if isinstance(values, pl.Series) else list(np.asarray(values, dtype=object).ravel())
    return np.array(
        [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in items], dtype=object
    )


def _ordered(names: Iterable[str], sizes: dict[str, int] | None = None) -> list[str]:
    names = list(dict.fromkeys(names))
    preferred = [name for name in _PREFERRED_ORDER if name in names]
    rest = sorted(
        (name for name in names if name not in preferred), key=lambda name: (-(sizes or {}).get(name, 0), name)
    )
    return preferred + rest


def _colours(names: Sequence[str]) -> dict[str, str]:
    colours: dict[str, str] = {}
    free = list(_CYCLE)
    for name in names:
        if name in _GROUP_COLOURS and _GROUP_COLOURS[name] not in colours.values():
            colours[name] = _GROUP_COLOURS[name]
    for name in names:
        if name not in colours:
            unused = [c for c in free if c not in colours.values()] or free
            colours[name] = unused[0]
    return colours


def _format_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def _row_label(text: str, width: int = 20) -> str:
    """A label for the narrow at-risk table: wrapped on two lines at most (the legend has it in full)."""
    lines = textwrap.wrap(text, width) or [text]
    if len(lines) > 2:
        lines = [lines[0], lines[1].rstrip(",") + "\u2026"]
    return "\n".join(lines)


def _require(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the frame lacks column(s) {missing}; it has {frame.columns}")


def _binary_labels(label: np.ndarray, what: str) -> None:
    present = label[~np.isnan(label)]
    bad = np.setdiff1d(np.unique(present), [0.0, 1.0])
    if bad.size:
        raise ValueError(f"{what}: labels must be 0/1 (or bool, or missing); got value(s) {bad[:5].tolist()}")


# --- Kaplan-Meier -----------------------------------------------------------------------------------------


def plot_kaplan_meier(
    frame: pl.DataFrame, group_column: str, *, title: str, path: Path, order: Sequence[str] | None = None
) -> PlotResult:
    """Kaplan-Meier curve per group (log-log 95% band), numbers at risk under the axis, log-rank p.

    `frame` holds `overall_survival_days`, `death_observed` and `group_column`. Rows without a survival
    time/event (or with a negative time) and rows without a group are dropped and counted; groups of
    fewer than 2 patients are skipped and listed. The log-rank test (compare_survival) runs on exactly
    the rows of the drawn groups. figures: n_patients, n_curves, groups {name: n, events, median_months},
    log_rank_p, log_rank_chi2, dropped_missing_survival, dropped_missing_group, skipped_groups.
    """
    columns = ("overall_survival_days", "death_observed", group_column)
    figures: dict[str, Any] = {"group_column": group_column, "n_input": frame.height, "n_curves": 0, "log_rank_p": None}
    if frame.height == 0:
        return _message_plot(path, title, "No patients in this release: nothing to plot.", {**figures, "groups": {}})
    _require(frame, columns, "plot_kaplan_meier")
    data = frame.select(
        pl.col("overall_survival_days").cast(pl.Float64).fill_nan(None).alias("days"),
        pl.col("death_observed").cast(pl.Boolean).alias("event"),
        pl.col(group_column).cast(pl.String).alias("group"),
    )
    usable_survival = pl.col("days").is_not_null() & (pl.col("days") >= 0) & pl.col("event").is_not_null()
    figures["dropped_missing_survival"] = data.filter(~usable_survival).height
    data = data.filter(usable_survival)
    figures["dropped_missing_group"] = data.filter(pl.col("group").is_null()).height
    data = data.filter(pl.col("group").is_not_null())

    sizes = dict(data.group_by("group").len().iter_rows())
    names = [name for name in (order or []) if name in sizes] + _ordered(
        (n for n in sizes if n not in (order or [])), sizes
    )
    skipped = {name: int(sizes[name]) for name in names if sizes[name] < MIN_GROUP_SIZE}
    drawn = [name for name in names if name not in skipped]
    figures["skipped_groups"] = skipped
    data = data.filter(pl.col("group").is_in(drawn))
    figures["n_patients"] = data.height
    excluded = (
        f"excluded: {figures['dropped_missing_survival']} without survival time/event, "
        f"{figures['dropped_missing_group']} without {group_column}"
    )
    if skipped:
        excluded += "; skipped (<2 patients): " + ", ".join(f"{k} (n={v})" for k, v in skipped.items())
    if not drawn:
        reason = f"No {group_column} group has {MIN_GROUP_SIZE} or more patients with a survival time ({excluded})."
        return _message_plot(path, title, reason, {**figures, "groups": {}})

    days = data["days"].to_numpy()
    event = data["event"].to_numpy().astype(bool)
    group = data["group"].to_numpy().astype(object)
    if len(drawn) < 2:
        figures["log_rank_reason"] = "a single group: no comparison"
    elif not event.any():
        figures["log_rank_reason"] = "no deaths observed: the log-rank test is undefined"
    else:
        chi2, p_value = compare_survival(Surv.from_arrays(event=event, time=days), group)
        figures["log_rank_chi2"], figures["log_rank_p"] = float(chi2), float(p_value)

    months = days / DAYS_PER_MONTH
    max_months = float(months.max()) if months.size else 0.0
    step = next((s for s in (12, 24, 36, 60, 120) if max_months / s <= 10), 240)
    ticks = np.arange(0.0, max(max_months, 1e-9) + 1e-9, step)
    colours = _colours(drawn)

    row_height = 0.36 if any("\n" in _row_label(name) for name in drawn) else 0.26
    fig = plt.figure(figsize=(8.0, 5.0 + (0.18 + row_height) * len(drawn)), layout="constrained")
    try:
        grid = fig.add_gridspec(2, 1, height_ratios=[3.8, 0.45 + row_height * len(drawn)])
        ax = fig.add_subplot(grid[0])
        table = fig.add_subplot(grid[1], sharex=ax)
        groups_figures: dict[str, Any] = {}
        for name in drawn:
            rows = group == name
            km_time, km_survival, km_band = kaplan_meier_estimator(event[rows], days[rows], conf_type="log-log")
            x = np.r_[0.0, km_time / DAYS_PER_MONTH]
            s = np.r_[1.0, km_survival]
            low, high = np.r_[1.0, km_band[0]], np.r_[1.0, km_band[1]]
            below_half = np.flatnonzero(s <= 0.5)
            median = float(x[below_half[0]]) if below_half.size else None
            n, deaths = int(rows.sum()), int(event[rows].sum())
            groups_figures[name] = {"n": n, "events": deaths, "median_months": median}
            median_text = f"median {median:.1f} mo" if median is not None else "median not reached"
            colour = colours[name]
            ax.step(
                x, s, where="post", color=colour, linewidth=1.8, label=f"{name} (n={n}, deaths={deaths}, {median_text})"
            )
            ax.fill_between(x, low, high, step="post", color=colour, alpha=0.15, linewidth=0)
            censored_months = days[rows & ~event] / DAYS_PER_MONTH
            at_censor = s[np.searchsorted(x, censored_months, side="right") - 1]
            ax.plot(censored_months, at_censor, linestyle="none", marker="|", markersize=5, color=colour, alpha=0.7)
        figures["groups"] = groups_figures
        figures["n_curves"] = len(drawn)
        legend_title = (
            f"log-rank p = {_format_p(figures['log_rank_p'])}"
            if figures["log_rank_p"] is not None
            else (f"log-rank: {figures['log_rank_reason']}")
        )
        # Above the axes, not on them: long class names would cover the curves.
        longest = max(len(text) for text in ax.get_legend_handles_labels()[1])
        # every group on one row when that fits in the figure's width, else one per row (read top-down)
        columns = len(drawn) if len(drawn) * (0.058 * longest + 0.45) <= 7.6 else 1
        legend_title += f";  n={data.height} patients, shaded: 95% log-log band, | censored"
        ax.legend(
            title=legend_title,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.01),
            ncols=columns,
            fontsize=8,
            title_fontsize=9,
            frameon=False,
        )
        ax.set_ylim(-0.02, 1.03)
        span = float(ticks[-1]) if ticks[-1] >= max_months else max_months
        ax.set_xlim(-0.03 * max(span, 1.0), max(span, 1.0) * 1.03)
        ax.set_xticks(ticks)
        ax.set_xlabel("months since diagnosis")
        ax.set_ylabel("overall survival probability")
        ax.grid(alpha=0.3)
        fig.suptitle(title, fontsize=13)

        # numbers at risk at each tick: patients still followed (time >= t)
        figures["at_risk_months"] = ticks.tolist()
        for row, name in enumerate(drawn):
            group_months = months[group == name]
            at_risk = [int((group_months >= t).sum()) for t in ticks]
            groups_figures[name]["at_risk"] = at_risk
            for t, count in zip(ticks, at_risk, strict=True):
                table.text(t, row, str(count), ha="center", va="center", fontsize=8, color=colours[name])
        table.set_ylim(len(drawn) - 0.5, -0.5)
        table.set_yticks(range(len(drawn)), [_row_label(name) for name in drawn], fontsize=8)
        for label, name in zip(table.get_yticklabels(), drawn, strict=True):
            label.set_color(colours[name])
        table.tick_params(axis="x", bottom=False, labelbottom=False)
        table.tick_params(axis="y", left=False)
        for spine in table.spines.values():
            spine.set_visible(False)
        table.set_title("number at risk", fontsize=8, loc="left", color="0.3")
        table.set_xlabel(excluded, fontsize=8, color="0.3")
    except BaseException:
        plt.close(fig)
        raise
    return _finish(fig, path, figures)


# --- grading: ROC and reliability ---------------------------------------------------------------------------


def _cohorts(
    label: Any, probability: Any, cohort_labels: Any, what: str
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    y = _as_float(label)
    p = _as_float(probability)
    if y.shape != p.shape:
        raise ValueError(f"{what}: {y.size} labels but {p.size} probabilities")
    cohort = _as_labels(cohort_labels, y.size)
    if cohort.size != y.size:
        raise ValueError(f"{what}: {y.size} labels but {cohort.size} cohort labels")
    _binary_labels(y, what)
    missing_value = np.isnan(y) | np.isnan(p)
    missing_cohort = np.array([c is None for c in cohort], dtype=bool) & ~missing_value
    keep = ~missing_value & ~missing_cohort
    counts = {
        "n_input": int(y.size),
        "dropped_missing": int(missing_value.sum()),
        "dropped_missing_cohort": int(missing_cohort.sum()),
    }
    sizes = {c: int((cohort[keep] == c).sum()) for c in set(cohort[keep].tolist())}
    return {c: (y[keep & (cohort == c)].astype(int), p[keep & (cohort == c)]) for c in _ordered(sizes, sizes)}, counts


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
        return _message_plot(path, title, reason, figures)

    colours = _colours(list(cohorts))
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
    return _finish(fig, path, figures)


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
        return _message_plot(path, title, reason, figures)

    colours = _colours(list(cohorts))
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
    return _finish(fig, path, figures)


# --- survival: time-dependent AUC ---------------------------------------------------------------------------


def plot_time_dependent_auc(
    train_time: Any,
    train_event: Any,
    test_time: Any,
    test_event: Any,
    risk_score: Any,
    *,
    path: Path,
    months: Sequence[float] | None = None,
    min_cases: int = 5,
    min_controls: int = 5,
    title: str = "Survival risk: time-dependent AUC",
) -> PlotResult:
    """Cumulative/dynamic AUC(t) of `risk_score` on the test patients (sksurv cumulative_dynamic_auc,
    censoring weights from the training patients), with its mean over the grid.

    Times are in days; the grid (default every 6 months, up to 10 years) keeps only months inside the
    follow-up range (after the first test time, before the last test time and the last training time)
    with at least `min_cases` deaths by t and `min_controls` patients still followed after t. Test
    follow-up past the last training time is censored there (the censoring distribution is not
    estimable beyond it), as in models.metrics.survival_metrics. figures: months, auc, mean_auc,
    n_train, n_test, dropped_train, dropped_test.
    """
    t_time, t_event = _as_float(train_time), _as_float(train_event)
    v_time, v_event, score = _as_float(test_time), _as_float(test_event), _as_float(risk_score)
    if t_time.shape != t_event.shape or not (v_time.shape == v_event.shape == score.shape):
        raise ValueError("plot_time_dependent_auc: time, event and risk arrays of a cohort must have the same length")
    train_ok = ~np.isnan(t_time) & ~np.isnan(t_event) & (t_time >= 0)
    test_ok = ~np.isnan(v_time) & ~np.isnan(v_event) & ~np.isnan(score) & (v_time >= 0)
    figures: dict[str, Any] = {
        "n_train": int(train_ok.sum()),
        "n_test": int(test_ok.sum()),
        "dropped_train": int((~train_ok).sum()),
        "dropped_test": int((~test_ok).sum()),
        "months": [],
        "auc": [],
        "mean_auc": None,
    }
    t_time, t_event = t_time[train_ok], t_event[train_ok].astype(bool)
    v_time, v_event, score = v_time[test_ok], v_event[test_ok].astype(bool), score[test_ok]
    if t_time.size < 2 or v_time.size < 2:
        return _message_plot(
            path,
            title,
            f"Too few patients with a survival time: {t_time.size} training, {v_time.size} test (need 2 or more each).",
            figures,
        )
    if not v_event.any():
        return _message_plot(
            path, title, f"No deaths among the {v_time.size} test patients: AUC(t) is undefined.", figures
        )

    horizon = float(t_time.max()) - 1.0
    beyond = v_time > horizon
    v_event = v_event & ~beyond
    v_time = np.where(beyond, horizon, v_time)
    lower, upper = float(v_time.min()), float(v_time.max())
    grid = np.asarray(months if months is not None else np.arange(6.0, 121.0, 6.0), dtype=np.float64)
    keep = []
    for m in grid:
        day = m * DAYS_PER_MONTH
        cases = int((v_event & (v_time <= day)).sum())
        controls = int((v_time > day).sum())
        if lower <= day < upper and cases >= min_cases and controls >= min_controls:
            keep.append(m)
    if not keep:
        return _message_plot(
            path,
            title,
            f"No month of the grid lies inside the follow-up range with {min_cases} deaths "
            f"before it and {min_controls} patients followed past it (test n={v_time.size}, "
            f"{int(v_event.sum())} deaths).",
            figures,
        )
    grid = np.asarray(keep)
    train = Surv.from_arrays(event=t_event, time=t_time)
    test = Surv.from_arrays(event=v_event, time=v_time)
    auc, mean_auc = cumulative_dynamic_auc(train, test, score, grid * DAYS_PER_MONTH)
    figures.update(months=grid.tolist(), auc=[float(a) for a in auc], mean_auc=float(mean_auc))

    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    try:
        ax.plot(
            grid, auc, marker="o", color="tab:blue", linewidth=1.8, label="AUC(t), cumulative cases / dynamic controls"
        )
        ax.axhline(float(mean_auc), color="tab:blue", linestyle="--", linewidth=1, label=f"mean AUC {mean_auc:.3f}")
        ax.axhline(0.5, color="0.6", linestyle=":", linewidth=1, label="chance")
        ax.set_ylim(min(0.4, float(np.nanmin(auc)) - 0.05), 1.0)
        ax.set_xticks(grid if grid.size <= 12 else grid[:: int(math.ceil(grid.size / 12))])
        ax.set_xlabel("months since diagnosis")
        ax.set_ylabel("AUC: deaths by t vs patients alive at t")
        ax.legend(loc="lower left", fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_title(title, fontsize=12)
        dropped = figures["dropped_train"] + figures["dropped_test"]
        ax.text(
            0.99,
            0.02,
            f"test n={v_time.size} ({int(v_event.sum())} deaths), training n={t_time.size}"
            + (f"; dropped {dropped} with a missing value" if dropped else ""),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.3",
        )
    except BaseException:
        plt.close(fig)
        raise
    return _finish(fig, path, figures)


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
        return _message_plot(path, title, "No feature importance was recorded (empty table).", figures)
    if value_column is None:
        value_column = next((c for c in ("gain_share", "gain", "importance") if c in importance.columns), None)
    if value_column is None:
        raise ValueError(
            f"plot_feature_importance: expected a gain_share, gain or importance column; got {importance.columns}"
        )
    _require(importance, ("feature", value_column), "plot_feature_importance")
    figures["value_column"] = value_column
    values = importance.select(
        pl.col("feature").cast(pl.String), pl.col(value_column).cast(pl.Float64).fill_nan(None).alias("value")
    )
    used = values.filter(pl.col("feature").is_not_null() & pl.col("value").is_not_null() & (pl.col("value") > 0))
    figures["n_unused"] = values.height - used.height
    if used.height == 0:
        return _message_plot(
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
    return _finish(fig, path, figures)


# --- cohort summary -----------------------------------------------------------------------------------------


def _state_counts(series: pl.Series) -> dict[str, int]:
    """true/mutant -> positive, false/wildtype -> negative, null -> missing (other values: other)."""
    values = series.cast(pl.String).str.to_lowercase()
    positive = int(values.is_in(["true", "mutant"]).sum())
    negative = int(values.is_in(["false", "wildtype"]).sum())
    missing = int(values.is_null().sum())
    return {
        "positive": positive,
        "negative": negative,
        "missing": missing,
        "other": int(series.len() - positive - negative - missing),
    }


def plot_cohort_summary(patients: pl.DataFrame, *, path: Path, title: str = "Cohort summary") -> PlotResult:
    """2x2 panel of one release's patients: age at diagnosis by project, marker prevalence (positive /
    negative / missing), WHO CNS5 class counts, and deaths / censored / missing endpoint by project.

    Expects `age_at_diagnosis_years`, `project_id`, the marker columns, `who_cns5_class`,
    `overall_survival_days`, `death_observed`; an absent column is shown as such in its panel (and
    listed in figures["absent_columns"]) instead of failing the whole summary.
    """
    figures: dict[str, Any] = {"n_patients": patients.height}
    if patients.height == 0:
        return _message_plot(
            path, title, "No patients in this release: nothing to summarise.", figures, figsize=(10.0, 7.0)
        )
    wanted = (
        "age_at_diagnosis_years",
        "project_id",
        *MARKER_COLUMNS,
        "who_cns5_class",
        "overall_survival_days",
        "death_observed",
    )
    absent = [c for c in wanted if c not in patients.columns]
    figures["absent_columns"] = absent
    project = (
        patients["project_id"].cast(pl.String).fill_null("(missing project)")
        if "project_id" in patients.columns
        else pl.Series("project_id", ["all"] * patients.height)
    )
    projects = _ordered(project.unique().to_list(), dict(project.value_counts().iter_rows()))
    figures["projects"] = {p: int((project == p).sum()) for p in projects}
    colours = _colours(projects)

    fig, axes = plt.subplots(2, 2, figsize=(10.0, 7.0), layout="constrained")
    try:
        fig.suptitle(f"{title}: {patients.height} patients", fontsize=13)
        ax_age, ax_markers, ax_who, ax_survival = axes.ravel()

        def absent_panel(ax: plt.Axes, what: str, columns: Sequence[str]) -> None:
            ax.set_axis_off()
            ax.set_title(what, fontsize=11)
            ax.text(
                0.5,
                0.5,
                "column(s) absent:\n" + "\n".join(columns),
                ha="center",
                va="center",
                color="0.4",
                transform=ax.transAxes,
            )

        # 1. age at diagnosis by project
        if "age_at_diagnosis_years" in patients.columns:
            age = patients["age_at_diagnosis_years"].cast(pl.Float64).fill_nan(None)
            figures["missing_age"] = int(age.null_count())
            present = age.drop_nulls()
            edges = np.arange(0.0, max(95.0, float(present.max() or 0) + 5.0), 5.0)
            tallest = 0.0
            for p in projects:
                ages = age.filter((project == p) & age.is_not_null()).to_numpy()
                if ages.size:
                    heights, _, _ = ax_age.hist(ages, bins=edges, histtype="stepfilled", alpha=0.3, color=colours[p])
                    ax_age.hist(
                        ages, bins=edges, histtype="step", linewidth=1.6, color=colours[p], label=f"{p} (n={ages.size})"
                    )
                    tallest = max(tallest, float(np.max(heights)))
            if present.len():
                ax_age.set_ylim(0, tallest * 1.3)  # headroom for the legend
                ax_age.legend(fontsize=8, loc="upper left", ncols=min(2, len(projects)), frameon=False)
            else:
                ax_age.text(0.5, 0.5, "no age recorded", ha="center", va="center", transform=ax_age.transAxes)
            ax_age.set_xlabel("age at diagnosis (years)")
            ax_age.set_ylabel("patients")
            ax_age.set_title(f"Age at diagnosis (missing: {figures['missing_age']})", fontsize=11)
            ax_age.grid(alpha=0.3)
        else:
            absent_panel(ax_age, "Age at diagnosis", ["age_at_diagnosis_years"])

        # 2. marker prevalence: positive / negative / missing, stacked
        markers = [c for c in MARKER_COLUMNS if c in patients.columns]
        if markers:
            counts = {c: _state_counts(patients[c]) for c in markers}
            figures["markers"] = counts
            y = np.arange(len(markers))
            left = np.zeros(len(markers))
            for state, colour, label in (
                ("positive", "tab:red", "mutant / true"),
                ("negative", "tab:blue", "wildtype / false"),
                ("missing", "0.75", "missing"),
                ("other", "tab:purple", "other value"),
            ):
                widths = np.array([counts[c][state] for c in markers], dtype=float)
                if state == "other" and not widths.any():
                    continue
                ax_markers.barh(y, widths, left=left, color=colour, label=label)
                for yi, (start, w) in enumerate(zip(left, widths, strict=True)):
                    if w >= patients.height * 0.06:
                        ax_markers.text(
                            start + w / 2,
                            yi,
                            str(int(w)),
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if state != "missing" else "0.2",
                        )
                left += widths
            ax_markers.set_yticks(y, [_MARKER_LABELS[c] for c in markers], fontsize=9)
            ax_markers.invert_yaxis()
            ax_markers.set_xlabel("patients")
            ax_markers.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=4, frameon=False)
            title_markers = "Molecular markers"
            missing_markers = [c for c in MARKER_COLUMNS if c not in patients.columns]
            if missing_markers:
                title_markers += f" ({len(missing_markers)} absent)"
            ax_markers.set_title(title_markers, fontsize=11)
            ax_markers.set_xlim(0, patients.height * 1.02)
        else:
            absent_panel(ax_markers, "Molecular markers", MARKER_COLUMNS)

        # 3. WHO CNS5 class counts
        if "who_cns5_class" in patients.columns:
            classes = patients["who_cns5_class"].cast(pl.String).fill_null("(missing)").value_counts(sort=True)
            figures["who_cns5_class"] = {k: int(v) for k, v in classes.iter_rows()}
            names = classes[:, 0].to_list()
            values = classes[:, 1].to_numpy()
            y = np.arange(len(names))
            ax_who.barh(y, values, color="tab:purple", alpha=0.8)
            ax_who.set_yticks(y, [textwrap.fill(n, 24) for n in names], fontsize=8)
            ax_who.invert_yaxis()
            for yi, v in zip(y, values, strict=True):
                ax_who.text(v, yi, f" {v}", va="center", fontsize=8)
            ax_who.set_xlim(0, values.max() * 1.18)
            ax_who.set_xlabel("patients")
            ax_who.set_title("WHO CNS5 2021 class", fontsize=11)
        else:
            absent_panel(ax_who, "WHO CNS5 2021 class", ["who_cns5_class"])

        # 4. survival endpoint by project: deaths / censored / missing
        if "overall_survival_days" in patients.columns and "death_observed" in patients.columns:
            days = patients["overall_survival_days"].cast(pl.Float64).fill_nan(None)
            death = patients["death_observed"].cast(pl.Boolean)
            usable = days.is_not_null() & death.is_not_null()
            states = {
                "deaths": usable & death.fill_null(False),
                "censored": usable & ~death.fill_null(True),
                "missing": ~usable,
            }
            figures["survival"] = {s: int(mask.sum()) for s, mask in states.items()}
            x = np.arange(len(projects))
            bottom = np.zeros(len(projects))
            for (state, mask), colour in zip(states.items(), ("tab:red", "tab:green", "0.75"), strict=True):
                heights = np.array([int((mask & (project == p)).sum()) for p in projects], dtype=float)
                ax_survival.bar(
                    x, heights, bottom=bottom, color=colour, label=f"{state} ({int(heights.sum())})", width=0.6
                )
                for xi, (b, h) in enumerate(zip(bottom, heights, strict=True)):
                    if h >= patients.height * 0.03:
                        ax_survival.text(xi, b + h / 2, str(int(h)), ha="center", va="center", fontsize=8)
                bottom += heights
            ax_survival.set_xticks(x, projects, fontsize=9)
            ax_survival.set_ylabel("patients")
            ax_survival.set_ylim(0, max(1.0, float(bottom.max())) * 1.3)
            ax_survival.legend(fontsize=8, loc="upper right", frameon=False)
            ax_survival.set_title("Overall survival: deaths and censored", fontsize=11)
        else:
            absent_panel(ax_survival, "Overall survival", ["overall_survival_days", "death_observed"])
    except BaseException:
        plt.close(fig)
        raise
    return _finish(fig, path, figures)


# --- score drift between releases ---------------------------------------------------------------------------


def _release_label(frame: pl.DataFrame, default: str) -> str:
    if "release" in frame.columns and frame.height:
        releases = frame["release"].drop_nulls().unique().to_list()
        if len(releases) == 1:
            return f"release {releases[0]}"
    return default


def plot_score_drift(
    previous: pl.DataFrame | None,
    current: pl.DataFrame,
    score_column: str,
    *,
    path: Path,
    key: str = "case_id",
    title: str | None = None,
) -> PlotResult:
    """Previous vs current release score of the patients in both (scatter, identity line), and both
    releases' score histograms. `previous` None (the first release) gives the current histogram and
    says "first release". Each frame must be one row per `key` (e.g. one model version's scores).
    figures: n_current, n_previous, n_common, n_new, n_gone, dropped_missing_*, mean_abs_change,
    max_abs_change, pearson_r, first_release.
    """
    title = title or f"{score_column}: drift between releases"
    frames = {"current": current} if previous is None else {"previous": previous, "current": current}
    for name, frame in frames.items():
        if frame.height:
            _require(frame, (key, score_column), f"plot_score_drift ({name})")
            duplicated = frame.filter(pl.col(key).is_duplicated())
            if duplicated.height:
                raise ValueError(
                    f"plot_score_drift ({name}): {key} {duplicated[key][0]!r} has more than one row; "
                    "pass one row per patient (e.g. one model version's scores)"
                )

    def scores(frame: pl.DataFrame) -> pl.DataFrame:
        if frame.height == 0:
            return pl.DataFrame(schema={key: pl.String, "score": pl.Float64})
        return frame.select(
            pl.col(key).cast(pl.String), pl.col(score_column).cast(pl.Float64).fill_nan(None).alias("score")
        )

    now = scores(current)
    current_label = _release_label(current, "current release")
    figures: dict[str, Any] = {
        "first_release": previous is None,
        "n_current": now.height,
        "dropped_missing_current": int(now["score"].null_count()),
    }
    now_present = now.drop_nulls()
    before_present = None
    if previous is not None:
        before = scores(previous)
        previous_label = _release_label(previous, "previous release")
        if previous_label == current_label:
            previous_label, current_label = f"previous ({previous_label})", f"current ({current_label})"
        figures.update(n_previous=before.height, dropped_missing_previous=int(before["score"].null_count()))
        before_present = before.drop_nulls()
        both = before_present.join(now_present, on=key, how="inner", suffix="_current")
        figures.update(
            n_common=both.height,
            n_new=now_present.join(before_present, on=key, how="anti").height,
            n_gone=before_present.join(now_present, on=key, how="anti").height,
        )
        if both.height:
            change = (both["score_current"] - both["score"]).abs()
            figures.update(mean_abs_change=float(change.mean()), max_abs_change=float(change.max()))
        if both.height >= 3 and both["score"].std() > 0 and both["score_current"].std() > 0:
            figures["pearson_r"] = float(np.corrcoef(both["score"].to_numpy(), both["score_current"].to_numpy())[0, 1])
    if now_present.height == 0 and (before_present is None or before_present.height == 0):
        reason = f"No {score_column} values to compare: {now.height} current row(s), all missing or none."
        if previous is None:
            reason = f"First release, and no {score_column} values: {now.height} current row(s), all missing or none."
        return _message_plot(path, title, reason, figures, figsize=(10.0, 4.8))

    fig, (ax_scatter, ax_hist) = plt.subplots(1, 2, figsize=(10.0, 4.8), layout="constrained")
    try:
        fig.suptitle(title, fontsize=13)
        if previous is None:
            ax_scatter.set_axis_off()
            ax_scatter.text(
                0.5,
                0.5,
                f"first release\n({current_label})\n\nno previous scores to compare",
                ha="center",
                va="center",
                fontsize=13,
                color="0.3",
                transform=ax_scatter.transAxes,
            )
        elif figures["n_common"] == 0:
            ax_scatter.set_axis_off()
            ax_scatter.text(
                0.5,
                0.5,
                f"no patient scored in both releases\n({figures['n_new']} new, {figures['n_gone']} gone)",
                ha="center",
                va="center",
                fontsize=12,
                color="0.3",
                transform=ax_scatter.transAxes,
            )
        else:
            x, y = both["score"].to_numpy(), both["score_current"].to_numpy()
            low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
            pad = 0.03 * (high - low or 1.0)
            ax_scatter.plot(
                [low - pad, high + pad],
                [low - pad, high + pad],
                color="0.6",
                linestyle=":",
                linewidth=1,
                label="unchanged",
            )
            ax_scatter.scatter(
                x, y, s=10, alpha=0.5, color="tab:blue", edgecolors="none", label=f"patients in both (n={both.height})"
            )
            ax_scatter.set_xlim(low - pad, high + pad)
            ax_scatter.set_ylim(low - pad, high + pad)
            ax_scatter.set_xlabel(f"{score_column}, {previous_label}")
            ax_scatter.set_ylabel(f"{score_column}, {current_label}")
            stats = f"mean |change| {figures['mean_abs_change']:.3g}, max {figures['max_abs_change']:.3g}"
            if "pearson_r" in figures:
                stats += f", r = {figures['pearson_r']:.3f}"
            ax_scatter.set_title(f"{stats}\n{figures['n_new']} new, {figures['n_gone']} no longer scored", fontsize=9)
            ax_scatter.legend(fontsize=8, loc="upper left")
            ax_scatter.grid(alpha=0.3)
        series = [("tab:blue", current_label, now_present["score"].to_numpy())]
        if before_present is not None:
            series.insert(0, ("0.5", previous_label, before_present["score"].to_numpy()))
        pooled = np.concatenate([values for _, _, values in series])
        if pooled.size:
            low, high = float(pooled.min()), float(pooled.max())
            edges = np.linspace(low, high if high > low else low + 1.0, 31)
            for colour, label, values in series:
                if values.size:
                    ax_hist.hist(
                        values,
                        bins=edges,
                        histtype="step",
                        linewidth=1.6,
                        color=colour,
                        label=f"{label} (n={values.size})",
                    )
            ax_hist.legend(fontsize=8)
        dropped = figures["dropped_missing_current"] + figures.get("dropped_missing_previous", 0)
        ax_hist.set_title("score distribution" + (f" ({dropped} missing not shown)" if dropped else ""), fontsize=9)
        ax_hist.set_xlabel(score_column)
        ax_hist.set_ylabel("patients")
        ax_hist.grid(alpha=0.3)
    except BaseException:
        plt.close(fig)
        raise
    return _finish(fig, path, figures)
