"""Reports layer: the plots of a release and one self-contained HTML report (reports/plots.py and the
figure families it gathers, reports/report.py), written to `<data>/reports/<release>/`; the key plots are
embedded in the asset metadata so they show in the Dagster UI.

Honesty about who is plotted: model-based curves (risk-group Kaplan-Meier, time-dependent AUC) use the
patients the champion never saw when there are enough of them, and say so in the title otherwise; ROC and
reliability show training and prospective patients apart.
"""

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from assets.models import champion_model
from assets.partitions import gdc_releases
from assets.resources import LakeResource
from assets.specs import OWNERS, asset_key, source_version
from contracts.analysis_tables import (
    ANALYTICS_DIFFERENTIAL_EXPRESSION,
    ANALYTICS_ENRICHMENT,
    ANALYTICS_SURVIVAL_BY_GENE,
    HARMONISED_EXPRESSION_SUBTYPES,
)
from contracts.features import GBM_VS_LGG, SURVIVAL_RISK
from contracts.tables import (
    FEATURES_MODEL_MATRIX,
    HARMONISED_EXPRESSION,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_PATIENTS,
    HARMONISED_WHO_CNS5_CLASS,
    MODELS_PROSPECTIVE_VALIDATION,
    SCORES_GRADING,
    SCORES_SURVIVAL_RISK,
)
from reports import code_modules
from reports.report import ReportSection, png_metadata_markdown, write_release_report

# Fewer unseen patients than this: model-based survival plots use everyone, and say so.
MIN_UNSEEN = 30
# Figures are drawn while the report is within this budget; later ones say they were skipped.
REPORT_TIME_BUDGET_SECONDS = 300.0
# The file of each figure of the report (what the plot functions are given, and where a failed one says why).
if TYPE_CHECKING:
    from reports.plot_common import PlotResult

FIGURE_FILES = {
    "km_risk_group": "km_risk_group.png",
    "km_who_cns5": "km_who_cns5_class.png",
    "roc": "grading_roc.png",
    "reliability": "grading_reliability.png",
    "td_auc": "survival_td_auc.png",
    "importance": "feature_importance.png",
    "cohort": "cohort_summary.png",
    "drift": "score_drift.png",
}
REPORT_KEY = AssetKey(["reports", "release_report"])
# After the catalog: the plots must not delay the scores analysts wait for.
CATALOG_KEY = AssetKey(["warehouse", "catalog"])


def _champion_rows(lake: LakeResource, table, release: str, task: str) -> tuple[pl.DataFrame, object | None]:
    champion = champion_model(lake, task)
    scores = lake.lake.read_table(table, release)
    if champion is None:
        return scores.head(0), None
    return scores.filter(pl.col("model_version") == champion[0].model_version), champion


def _previous_scores(lake: LakeResource, table, release: str, model_version: str) -> pl.DataFrame | None:
    previous = lake.lake.previous_release(table.layer, table.name, release)
    if previous is None:
        return None
    frame = lake.lake.read_table(table, previous)
    same_model = frame.filter(pl.col("model_version") == model_version)
    if same_model.height:
        return same_model
    latest = frame.sort("scored_at")["model_version"][-1]  # that release's latest scoring model
    return frame.filter(pl.col("model_version") == latest)


@asset(
    key=REPORT_KEY,
    deps=[
        asset_key(SCORES_GRADING),
        asset_key(SCORES_SURVIVAL_RISK),
        asset_key(MODELS_PROSPECTIVE_VALIDATION),
        asset_key(HARMONISED_WHO_CNS5_CLASS),
        CATALOG_KEY,
    ],
    partitions_def=gdc_releases,
    group_name="reports",
    kinds={"html"},
    owners=OWNERS["scores"],
    tags={"layer": "reports"},
    # Every module of the reports package and what its figures compute with: an edit to any changes the version.
    code_version=source_version(*code_modules(), sys.modules[__name__]),
    description=(
        "Plots of a release (Kaplan-Meier by risk group and by WHO CNS5 class with numbers at risk and log-rank p, "
        "ROC and reliability for grading with prospective patients apart, time-dependent AUC, feature importance, "
        "cohort summary, score drift) and one self-contained HTML report linking the GX Data Docs."
    ),
)
def release_report(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    release = context.partition_key
    started = time.monotonic()
    out = lake.reports_dir(release)
    try:
        return _draw_report(context, lake, release, out, started)
    except Exception as error:  # after the publish: say what failed, never fail the run
        message = f"{type(error).__name__}: {str(error)[:500]}"
        context.log.error(f"release report {release} could not be built: {message}")
        try:
            index = write_release_report(
                release, out, [], gx_data_docs=None, summary_rows=[("release", release), ("report", message)]
            )
        except Exception:
            index = None
        return MaterializeResult(
            metadata={
                "report": MetadataValue.path(str(index)) if index else "not written",
                "report_error": message,
                "seconds": round(time.monotonic() - started, 2),
            }
        )


def _embedded_png(path: Path) -> MetadataValue | str:
    return MetadataValue.md(png_metadata_markdown(path)) if path.exists() else "not drawn"


def _draw_report(
    context: AssetExecutionContext, lake: LakeResource, release: str, out: Path, started: float
) -> MaterializeResult:
    # matplotlib, scikit-learn and the model code load in the report step only, not with the code location.
    from models.explain import global_importance
    from reports import plots
    from reports.figure_cache import reuse_or_draw

    read = lake.lake.read_table
    patients = (
        read(HARMONISED_PATIENTS, release)
        .join(
            read(HARMONISED_MOLECULAR_MARKERS, release).drop("release", "submitter_id", "project_id"),
            on="case_id",
            how="left",
        )
        .join(
            read(HARMONISED_WHO_CNS5_CLASS, release).select("case_id", "who_cns5_class", "who_cns5_grade"),
            on="case_id",
            how="left",
        )
    )
    matrix = read(FEATURES_MODEL_MATRIX, release)
    grading, gbm = _champion_rows(lake, SCORES_GRADING, release, GBM_VS_LGG)
    survival, cox = _champion_rows(lake, SCORES_SURVIVAL_RISK, release, SURVIVAL_RISK)
    sections: list[ReportSection] = []
    figures: dict[str, dict] = {}
    reused: list[str] = []

    failures: dict[str, str] = {}

    def figure(plot: Callable[..., "PlotResult"], *args, path: Path, **kwargs) -> "PlotResult":
        """The plot, or the same figure an earlier run drew from the same inputs (reports.figure_cache)."""
        result, was_reused = reuse_or_draw(plot, *args, path=path, **kwargs)
        if was_reused:
            reused.append(Path(path).name)
        return result

    def add(name: str, title: str, caption: str, draw: Callable[[], plots.PlotResult]) -> None:
        """Draw one figure. The report runs after the catalog publish, so it must not fail the run: a figure that
        raises, or one past the time budget, becomes a figure that says why, and the others are still drawn."""
        path = out / FIGURE_FILES.get(name, f"{name}.png")
        if time.monotonic() - started > REPORT_TIME_BUDGET_SECONDS:
            reason = f"not drawn: the report's {REPORT_TIME_BUDGET_SECONDS:.0f} s budget was spent"
        else:
            try:
                result = draw()
            except Exception as error:  # any failure of one figure is reported in its place
                reason = f"could not be drawn: {type(error).__name__}: {str(error)[:300]}"
                context.log.warning(f"release report {release}, figure {name} {reason}")
            else:
                figures[name] = result.figures
                sections.append(ReportSection(title=title, image=result.path, caption=caption))
                return
        failures[name] = reason
        try:
            result = plots.message_plot(path, title, f"This figure {reason}.")
        except Exception:  # not even a message figure: the section is left out, the report goes on
            return
        sections.append(ReportSection(title=title, image=result.path, caption=f"This figure {reason}."))

    # Survival by risk group: the champion's groups on the patients it never saw, when there are enough.
    risk = survival.join(patients.select("case_id", "overall_survival_days", "death_observed"), on="case_id")
    unseen = risk.filter(~pl.col("in_training_set").fill_null(False))
    honest = unseen.height >= MIN_UNSEEN
    shown, who = (
        (unseen, "patients the model never saw")
        if honest
        else (risk, "all patients, including the model's training patients (optimistic)")
    )
    add(
        "km_risk_group",
        "Overall survival by risk group",
        f"Kaplan-Meier, {who}; n = {shown.height}.",
        lambda: figure(
            plots.plot_kaplan_meier,
            shown,
            "risk_group",
            path=out / FIGURE_FILES["km_risk_group"],
            title=f"Release {release}: risk groups, " + ("unseen patients" if honest else "incl. training patients"),
        ),
    )
    add(
        "km_who_cns5",
        "Overall survival by WHO CNS5 class",
        "Kaplan-Meier of every harmonised patient.",
        lambda: figure(
            plots.plot_kaplan_meier,
            patients,
            "who_cns5_class",
            title=f"Release {release}: survival by WHO CNS5 class",
            path=out / FIGURE_FILES["km_who_cns5"],
        ),
    )
    labelled = grading.join(matrix.select("case_id", "label_gbm"), on="case_id").filter(
        pl.col("label_gbm").is_not_null()
    )
    cohorts = np.where(labelled["in_training_set"].fill_null(True).to_numpy(), "training", "prospective")
    label, probability = labelled["label_gbm"].to_numpy().astype(int), labelled["grade_probability_gbm"].to_numpy()
    add(
        "roc",
        "GBM vs LGG: ROC",
        "Training patients and prospective patients (never seen by the model) apart.",
        lambda: figure(
            plots.plot_grading_roc, label, probability, cohort_labels=cohorts, path=out / FIGURE_FILES["roc"]
        ),
    )
    add(
        "reliability",
        "GBM vs LGG: reliability",
        "Quantile-binned calibration with the prediction histogram.",
        lambda: figure(
            plots.plot_reliability, label, probability, cohort_labels=cohorts, path=out / FIGURE_FILES["reliability"]
        ),
    )
    if cox is not None and cox[3] is not None:
        training_rows = cox[3]
        test = unseen if unseen.height >= MIN_UNSEEN else risk
        add(
            "td_auc",
            "Time-dependent AUC of the survival risk score",
            f"Cumulative/dynamic AUC on {who}.",
            lambda: figure(
                plots.plot_time_dependent_auc,
                training_rows["overall_survival_days"].to_numpy(),
                training_rows["death_observed"].to_numpy(),
                test["overall_survival_days"].to_numpy(),
                test["death_observed"].to_numpy().astype(bool),
                test["survival_risk_score"].to_numpy(),
                path=out / FIGURE_FILES["td_auc"],
            ),
        )
    if gbm is not None:
        model = gbm[1]
        add(
            "importance",
            "Global feature importance (GBM vs LGG)",
            f"Gain share, champion {gbm[0].model_version}.",
            lambda: figure(
                plots.plot_feature_importance,
                global_importance(model.booster, model.feature_names),
                path=out / FIGURE_FILES["importance"],
            ),
        )
    add(
        "cohort",
        "Cohort summary",
        "Age, markers, WHO CNS5 classes and survival events of the release.",
        lambda: figure(plots.plot_cohort_summary, patients, path=out / FIGURE_FILES["cohort"]),
    )
    if gbm is not None:
        add(
            "drift",
            "Score drift against the previous release",
            "GBM probability per patient in both releases.",
            lambda: figure(
                plots.plot_score_drift,
                _previous_scores(lake, SCORES_GRADING, release, gbm[0].model_version),
                grading,
                "grade_probability_gbm",
                path=out / FIGURE_FILES["drift"],
            ),
        )
    _expression_sections(lake, release, out, patients, add, figure)
    prospective = read(MODELS_PROSPECTIVE_VALIDATION, release)
    summary = [
        ("release", release),
        ("patients", str(patients.height)),
        ("GBM-vs-LGG champion", gbm[0].model_version if gbm else "none"),
        ("survival champion", cox[0].model_version if cox else "none"),
        ("patients the models never saw", str(unseen.height)),
    ]
    for row in (
        prospective.filter(pl.col("cohort") == "arrived_after_training")
        .filter(pl.col("metric").is_in(["roc_auc", "harrell_c"]))
        .iter_rows(named=True)
    ):
        if row["value"] is not None:
            summary.append(
                (
                    f"prospective {row['task']} {row['metric']}",
                    f"{row['value']:.3f} (95% CI {row['ci_low']:.3f}-{row['ci_high']:.3f}, n={row['n']})",
                )
            )
    gx = out / "gx" / "index.html"
    index = write_release_report(release, out, sections, gx_data_docs=gx if gx.exists() else None, summary_rows=summary)
    return MaterializeResult(
        metadata={
            "report": MetadataValue.path(str(index)),
            "plots": len(sections),
            "seconds": round(time.monotonic() - started, 2),
            "km_risk_group": _embedded_png(out / FIGURE_FILES["km_risk_group"]),
            "grading_roc": _embedded_png(out / FIGURE_FILES["roc"]),
            "km_who_cns5_class": _embedded_png(out / FIGURE_FILES["km_who_cns5"]),
            "figures": MetadataValue.json(figures),
            "figures_not_drawn": MetadataValue.json(failures),
            # Figures whose inputs were those of the figure already on disk: not drawn again.
            "figures_reused": MetadataValue.json(sorted(reused)),
        }
    )


def _expression_sections(
    lake: LakeResource,
    release: str,
    out: Path,
    patients: pl.DataFrame,
    add: Callable[..., None],
    figure: Callable[..., "PlotResult"],
) -> None:
    """The expression analyses' figures, for whichever of their tables this release has (the analyse_expression
    job writes them after the refresh; the report is drawn again then)."""
    from reports import plots

    store = lake.lake

    def table(spec) -> pl.DataFrame | None:
        return store.read_table(spec, release) if store.exists(spec.layer, spec.name, release) else None

    differential = table(ANALYTICS_DIFFERENTIAL_EXPRESSION)
    for (contrast,), result in sorted(differential.group_by(["contrast"]) if differential is not None else []):
        add(
            f"volcano_{contrast}",
            f"Differential expression {contrast}: volcano",
            f"DESeq2 (pydeseq2) Wald test, Benjamini-Hochberg adjusted; {result['gene_filter'][0]}.",
            lambda result=result, contrast=contrast: figure(
                plots.plot_volcano, result, path=out / f"volcano_{contrast}.png"
            ),
        )
        add(
            f"ma_{contrast}",
            f"Differential expression {contrast}: MA plot",
            "Shrunken (apeGLM) log2 fold change against mean normalised count.",
            lambda result=result, contrast=contrast: figure(plots.plot_ma, result, path=out / f"ma_{contrast}.png"),
        )
    enrichment = table(ANALYTICS_ENRICHMENT)
    if enrichment is not None:
        add(
            "enrichment",
            "Hallmark enrichment by contrast",
            "Preranked GSEA of the Wald statistic (gseapy, 1,000 gene-set permutations) on MSigDB Hallmark 7.5.1.",
            lambda: figure(plots.plot_enrichment_dots, enrichment, path=out / "enrichment.png"),
        )
    subtypes = table(HARMONISED_EXPRESSION_SUBTYPES)
    if subtypes is not None and subtypes.height:
        add(
            "subtype_heatmap",
            "Expression subtypes (Wang et al. 2017)",
            f"Measured subtype genes, patients grouped by their ssGSEA call; n = {subtypes.height}.",
            lambda: _subtype_heatmap(store, release, subtypes, out, figure),
        )
    survival = table(ANALYTICS_SURVIVAL_BY_GENE)
    if survival is not None:
        top = (
            survival.filter((pl.col("cohort") == "lgg") & (pl.col("method") == "cox"))
            .sort("adjusted_p_value", nulls_last=True)
            .head(TOP_SURVIVAL_GENES)
        )
        for row in top.iter_rows(named=True):
            gene = row["gene_name"]
            add(
                f"km_gene_{gene}",
                f"Overall survival by {gene} in LGG",
                f"Median split of log2 normalised count among TCGA-LGG patients; Cox HR per log2 unit "
                f"{row['hazard_ratio']:.2f} ({row['ci_low']:.2f}-{row['ci_high']:.2f}), adjusted p "
                f"{row['adjusted_p_value']:.1e} (one of the top {TOP_SURVIVAL_GENES} LGG genes by Cox).",
                lambda gene=gene, gene_id=row["gene_id"]: _gene_km(
                    store, release, patients, gene, gene_id, out, figure
                ),
            )


TOP_SURVIVAL_GENES = 3


def _gene_values(store, release: str, gene_ids: list[str]) -> pl.DataFrame:
    """Rows of harmonised/expression for a few genes (Parquet statistics skip the other tiles)."""
    return (
        store.scan(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, release)
        .filter(pl.col("gene_id").is_in(gene_ids))
        .select("case_id", "gene_id", "gene_name", "log2_normalised_count")
        .collect()
    )


def _gene_km(
    store, release: str, patients: pl.DataFrame, gene: str, gene_id: str, out: Path, figure: Callable[..., "PlotResult"]
) -> "PlotResult":
    from reports import plots

    lgg = patients.filter(pl.col("project_id") == "TCGA-LGG").select(
        "case_id", "overall_survival_days", "death_observed"
    )
    values = _gene_values(store, release, [gene_id]).join(lgg, on="case_id")
    return figure(
        plots.plot_median_split,
        values,
        "log2_normalised_count",
        title=f"Release {release}: {gene} in TCGA-LGG, median split (n = {values.height})",
        path=out / f"km_gene_{gene}.png",
    )


def _subtype_heatmap(
    store, release: str, subtypes: pl.DataFrame, out: Path, figure: Callable[..., "PlotResult"]
) -> "PlotResult":
    from analyses.gene_sets import SYMBOL_UPDATES, match_sets, wang_subtype_sets
    from analyses.subtypes import standardise
    from reports import plots

    # Only the rows of the published symbols and their current names: the tiles are ordered by gene name, so
    # Parquet statistics skip every other tile (no scan of the whole gene column).
    sets = wang_subtype_sets()
    candidates = {name for genes in sets.values() for gene in genes for name in (gene, *SYMBOL_UPDATES.get(gene, ()))}
    rows = (
        store.scan(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, release)
        .filter(pl.col("gene_name").is_in(sorted(candidates)))
        .select("case_id", "gene_name", "log2_normalised_count")
        .collect()
    )
    matched = match_sets(sets, rows["gene_name"].unique().sort().to_list())
    columns = [(s.name, gene) for s in matched for gene in s.matched_names]
    values = rows.pivot("gene_name", index="case_id", values="log2_normalised_count", aggregate_function="first")
    ordered = subtypes.select("case_id", "subtype").join(values, on="case_id")
    present = [(subtype, gene) for subtype, gene in columns if gene in ordered.columns]
    matrix = standardise(ordered.select([gene for _, gene in present]).to_numpy().astype(float))
    return figure(
        plots.plot_subtype_heatmap,
        matrix,
        present,
        ordered["subtype"].to_list(),
        path=out / "subtype_heatmap.png",
        release=release,
    )


REPORT_ASSETS = [release_report]
