"""Plots of the expression analyses (reports.plots re-exports them): volcano and MA plot of a differential
expression contrast, a dot plot of Hallmark enrichment across contrasts, and a heatmap of the subtype genes with
patients ordered by their subtype call. Each title says the release, n and method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from reports.plot_common import PlotResult, finish, message_plot, require_columns

SIGNIFICANCE = 0.05
LABELLED_GENES = 10


def _contrast_title(result: pl.DataFrame, kind: str) -> str:
    row = result.row(0, named=True)
    derived = " (model-derived groups)" if row["model_derived"] else ""
    return (
        f"{kind}: {row['contrast']}{derived}, release {row['release']}\n"
        f"{row['numerator_group']} (n = {row['n_numerator']}) vs {row['reference_group']} (n = {row['n_reference']}), "
        f"{result.height} genes tested"
    )


def _significant(result: pl.DataFrame) -> np.ndarray:
    return (result["adjusted_p_value"].fill_null(1.0) < SIGNIFICANCE).to_numpy()


def plot_volcano(result: pl.DataFrame, *, path: Path) -> PlotResult:
    """log2 fold change against -log10 adjusted p for one contrast's rows of analytics.differential_expression."""
    title = "Volcano plot"
    if result.height == 0:
        return message_plot(path, title, "No differential expression result for this contrast.", {"genes": 0})
    require_columns(result, ("gene_name", "log2_fold_change", "adjusted_p_value"), "plot_volcano")
    data = result.filter(pl.col("log2_fold_change").is_not_null())
    adjusted = data["adjusted_p_value"].fill_null(1.0).to_numpy().clip(1e-300, 1)
    change = data["log2_fold_change"].to_numpy()
    significant = _significant(data)
    figures: dict[str, Any] = {
        "genes": data.height,
        "significant": int(significant.sum()),
        "up": int((significant & (change > 0)).sum()),
        "down": int((significant & (change < 0)).sum()),
    }
    fig, ax = plt.subplots(figsize=(8.0, 6.0), layout="constrained")
    try:
        ax.scatter(change[~significant], -np.log10(adjusted[~significant]), s=6, c="lightgray", label="not significant")
        for direction, colour in ((change > 0, "tab:red"), (change < 0, "tab:blue")):
            chosen = significant & direction
            ax.scatter(
                change[chosen],
                -np.log10(adjusted[chosen]),
                s=8,
                c=colour,
                label=f"adj. p < {SIGNIFICANCE}, {'up' if colour == 'tab:red' else 'down'} ({int(chosen.sum())})",
            )
        top = data.with_row_index().sort("adjusted_p_value", nulls_last=True).head(LABELLED_GENES)
        for row in top.iter_rows(named=True):
            ax.annotate(row["gene_name"], (change[row["index"]], -np.log10(adjusted[row["index"]])), fontsize=7)
        ax.axhline(-np.log10(SIGNIFICANCE), color="gray", lw=0.8, ls="--")
        ax.set_xlabel("log2 fold change (DESeq2, maximum likelihood)")
        ax.set_ylabel("-log10 adjusted p (Benjamini-Hochberg)")
        ax.set_title(_contrast_title(data, "Volcano"), fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    except Exception:
        plt.close(fig)
        raise
    return finish(fig, path, figures)


def plot_ma(result: pl.DataFrame, *, path: Path) -> PlotResult:
    """log2 fold change (shrunken) against mean normalised count for one contrast."""
    title = "MA plot"
    if result.height == 0:
        return message_plot(path, title, "No differential expression result for this contrast.", {"genes": 0})
    require_columns(result, ("base_mean", "log2_fold_change_shrunken", "adjusted_p_value"), "plot_ma")
    data = result.filter(pl.col("log2_fold_change_shrunken").is_not_null() & (pl.col("base_mean") > 0))
    significant = _significant(data)
    mean, change = data["base_mean"].to_numpy(), data["log2_fold_change_shrunken"].to_numpy()
    fig, ax = plt.subplots(figsize=(8.0, 5.0), layout="constrained")
    try:
        ax.scatter(mean[~significant], change[~significant], s=5, c="lightgray", label="not significant")
        ax.scatter(mean[significant], change[significant], s=7, c="tab:red", label=f"adj. p < {SIGNIFICANCE}")
        ax.set_xscale("log")
        ax.axhline(0, color="gray", lw=0.8)
        ax.set_xlabel("mean of normalised counts (base mean)")
        ax.set_ylabel("log2 fold change, apeGLM-shrunken")
        ax.set_title(_contrast_title(data, "MA plot"), fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    except Exception:
        plt.close(fig)
        raise
    return finish(fig, path, {"genes": data.height, "significant": int(significant.sum())})


def plot_enrichment_dots(enrichment: pl.DataFrame, *, path: Path, top: int = 20) -> PlotResult:
    """Preranked GSEA of every contrast: the `top` sets of smallest FDR in any contrast; colour = NES, size =
    -log10 FDR, a ring where FDR < 0.05."""
    title = "Hallmark enrichment (preranked GSEA)"
    gsea = enrichment.filter(
        (pl.col("analysis") == "gsea_preranked") & pl.col("normalised_enrichment_score").is_not_null()
    )
    if gsea.height == 0:
        return message_plot(path, title, "No gene set had enough measured genes to be assessed.", {"sets": 0})
    best = gsea.group_by("gene_set").agg(pl.col("adjusted_p_value").min()).sort("adjusted_p_value").head(top)
    sets = best["gene_set"].to_list()
    contrasts = sorted(gsea["contrast"].unique().to_list())
    shown = gsea.filter(pl.col("gene_set").is_in(sets))
    x = [contrasts.index(c) for c in shown["contrast"]]
    y = [sets.index(s) for s in shown["gene_set"]]
    fdr = shown["adjusted_p_value"].to_numpy().clip(1e-4, 1)
    nes = shown["normalised_enrichment_score"].to_numpy()
    limit = max(float(np.abs(nes).max()), 1.0)
    sizes = {row["contrast"]: f"{row['n_numerator']} vs {row['n_reference']}" for row in shown.iter_rows(named=True)}
    fig, ax = plt.subplots(figsize=(9.0, max(4.0, 1.5 + 0.32 * len(sets))), layout="constrained")
    try:
        points = ax.scatter(
            x,
            y,
            s=20 + 60 * -np.log10(fdr),
            c=nes,
            cmap="coolwarm",
            vmin=-limit,
            vmax=limit,
            edgecolors=np.where(fdr < SIGNIFICANCE, "black", "none"),
        )
        ax.set_xticks(range(len(contrasts)), [f"{c}\n(n {sizes.get(c, '?')})" for c in contrasts], fontsize=8)
        ax.set_yticks(range(len(sets)), [s.removeprefix("HALLMARK_") for s in sets], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(-0.5, len(contrasts) - 0.5)
        fig.colorbar(points, ax=ax, label="normalised enrichment score")
        release = shown["release"][0]
        ax.set_title(f"{title}, release {release}: size = -log10 FDR, ring = FDR < {SIGNIFICANCE}", fontsize=10)
        ax.grid(alpha=0.3)
    except Exception:
        plt.close(fig)
        raise
    return finish(fig, path, {"sets": len(sets), "contrasts": contrasts})


def plot_subtype_heatmap(
    values: np.ndarray, genes: list[tuple[str, str]], calls: list[str], *, path: Path, release: str
) -> PlotResult:
    """Standardised expression (patients x genes) of the subtype genes; `genes` is (subtype, gene name) per column
    and `calls` the subtype called for each patient row. Patients are grouped by call, genes by subtype."""
    title = f"Subtype genes by subtype call, release {release}"
    if values.size == 0:
        return message_plot(path, title, "No patient with expression or no subtype gene measured.", {"patients": 0})
    patient_order = np.argsort(np.array(calls), kind="stable")
    gene_order = np.argsort(np.array([g[0] for g in genes]), kind="stable")
    shown = values[np.ix_(patient_order, gene_order)].T.clip(-3, 3)
    fig, ax = plt.subplots(figsize=(10.0, max(4.0, 1.5 + 0.14 * len(genes))), layout="constrained")
    try:
        image = ax.imshow(shown, aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3, interpolation="nearest")
        ordered_calls = np.array(calls)[patient_order]
        edges = [0, *np.flatnonzero(ordered_calls[1:] != ordered_calls[:-1]) + 1, len(calls)]
        for start, end in zip(edges[:-1], edges[1:], strict=True):
            ax.axvline(start - 0.5, color="black", lw=0.8)
            ax.text((start + end) / 2, -1, f"{ordered_calls[start]} (n = {end - start})", ha="center", fontsize=8)
        labels = [f"{genes[i][1]} ({genes[i][0][:2]})" for i in gene_order]
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
        ax.set_xticks([])
        ax.set_xlabel(f"{len(calls)} patients, grouped by ssGSEA subtype call")
        fig.colorbar(image, ax=ax, label="expression, standardised per gene (clipped at 3)")
        ax.set_title(title + " (Wang et al. 2017 genes measured in this release)", fontsize=10, pad=14)
    except Exception:
        plt.close(fig)
        raise
    counts = {call: int((np.array(calls) == call).sum()) for call in sorted(set(calls))}
    return finish(fig, path, {"patients": len(calls), "genes": len(genes), "calls": counts})
