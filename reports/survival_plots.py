"""Survival figures of the report (reports.plots): Kaplan-Meier curves per group with numbers at risk and
the log-rank test, and the time-dependent AUC of a survival risk score.

    Kaplan-Meier curves and log-log bands  analyses.survival_by_gene.kaplan_meier (equal to scikit-survival's
                                           kaplan_meier_estimator, tested)
    log-rank test                          analyses.survival_by_gene.logrank_by_gene (equal to R survdiff and
                                           scikit-survival's compare_survival, tested)
    time-dependent AUC                     sksurv.metrics.cumulative_dynamic_auc (imported when drawn)

Kaplan-Meier plots need no scikit-learn: `glioma gene` draws its plots in about a second.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display, before pyplot is imported (this module may be imported first)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from analyses.survival_by_gene import kaplan_meier, logrank_by_gene  # noqa: E402
from contracts.schemas import DAYS_PER_MONTH  # noqa: E402
from reports.plot_common import (  # noqa: E402
    FIGSIZE,
    PlotResult,
    as_float,
    axis_ticks,
    finish,
    group_colours,
    message_plot,
    ordered,
    require_columns,
)

MIN_GROUP_SIZE = 2  # a Kaplan-Meier group needs at least this many patients


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
        return message_plot(path, title, "No patients in this release: nothing to plot.", {**figures, "groups": {}})
    require_columns(frame, columns, "plot_kaplan_meier")
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
    names = [name for name in (order or []) if name in sizes] + ordered(
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
        return message_plot(path, title, reason, {**figures, "groups": {}})

    days = data["days"].to_numpy()
    event = data["event"].to_numpy().astype(bool)
    group = data["group"].to_numpy().astype(object)
    if len(drawn) < 2:
        figures["log_rank_reason"] = "a single group: no comparison"
    elif not event.any():
        figures["log_rank_reason"] = "no deaths observed: the log-rank test is undefined"
    else:
        codes = np.unique(group, return_inverse=True)[1]
        chi2, p_value = logrank_by_gene(codes[:, None], days, event)
        figures["log_rank_chi2"], figures["log_rank_p"] = float(chi2[0]), float(p_value[0])

    months = days / DAYS_PER_MONTH
    max_months = float(months.max()) if months.size else 0.0
    ticks = axis_ticks(max_months, (12, 24, 36, 60, 120, 240), max_ticks=10)
    colours = group_colours(drawn)

    row_height = 0.36 if any("\n" in _row_label(name) for name in drawn) else 0.26
    fig = plt.figure(figsize=(8.0, 5.0 + (0.18 + row_height) * len(drawn)), layout="constrained")
    try:
        grid = fig.add_gridspec(2, 1, height_ratios=[3.8, 0.45 + row_height * len(drawn)])
        ax = fig.add_subplot(grid[0])
        table = fig.add_subplot(grid[1], sharex=ax)
        groups_figures: dict[str, Any] = {}
        for name in drawn:
            rows = group == name
            curve = kaplan_meier(days[rows], event[rows])
            x = np.r_[0.0, curve.time / DAYS_PER_MONTH]
            s = np.r_[1.0, curve.survival]
            low, high = np.r_[1.0, curve.ci_low], np.r_[1.0, curve.ci_high]
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
    return finish(fig, path, figures)


# --- survival: time-dependent AUC ---------------------------------------------------------------------------


def plot_median_split(frame: pl.DataFrame, value_column: str, *, title: str, path: Path, unit: str = "") -> PlotResult:
    """Kaplan-Meier of patients above vs at-or-below the median of `value_column` (the median split of a gene's
    expression), with the log-rank test of plot_kaplan_meier."""
    median = frame[value_column].median()
    label = f"{median:.2f}{unit}" if median is not None else "n/a"
    split = frame.with_columns(
        expression=pl.when(pl.col(value_column) > median)
        .then(pl.lit(f"high (> median {label})"))
        .otherwise(pl.lit(f"low (<= median {label})"))
    )
    return plot_kaplan_meier(split, "expression", title=title, path=path)


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
    t_time, t_event = as_float(train_time), as_float(train_event)
    v_time, v_event, score = as_float(test_time), as_float(test_event), as_float(risk_score)
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
        return message_plot(
            path,
            title,
            f"Too few patients with a survival time: {t_time.size} training, {v_time.size} test (need 2 or more each).",
            figures,
        )
    if not v_event.any():
        return message_plot(
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
        return message_plot(
            path,
            title,
            f"No month of the grid lies inside the follow-up range with {min_cases} deaths "
            f"before it and {min_controls} patients followed past it (test n={v_time.size}, "
            f"{int(v_event.sum())} deaths).",
            figures,
        )
    grid = np.asarray(keep)
    from sksurv.metrics import cumulative_dynamic_auc
    from sksurv.util import Surv

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
    return finish(fig, path, figures)
