"""Cohort and drift figures of the report (reports.plots): the cohort summary of a release (age, molecular
markers, WHO CNS5 class, survival status per project) and the drift of a score between releases.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display, before pyplot is imported (this module may be imported first)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from reports.plot_common import (  # noqa: E402
    PlotResult,
    bounded_bin_edges,
    finish,
    group_colours,
    message_plot,
    ordered,
    require_columns,
)

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
        return message_plot(
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
    projects = ordered(project.unique().to_list(), dict(project.value_counts().iter_rows()))
    figures["projects"] = {p: int((project == p).sum()) for p in projects}
    colours = group_colours(projects)

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
            edges = bounded_bin_edges(float(present.max() or 0) + 5.0, width=5.0, floor=95.0)
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
    return finish(fig, path, figures)


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
            require_columns(frame, (key, score_column), f"plot_score_drift ({name})")
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
        return message_plot(path, title, reason, figures, figsize=(10.0, 4.8))

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
    return finish(fig, path, figures)
