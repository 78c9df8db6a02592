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

The plots, by figure family:
    reports.survival_plots     plot_kaplan_meier, plot_time_dependent_auc
    reports.classifier_plots   plot_grading_roc, plot_reliability, plot_feature_importance
    reports.cohort_plots       plot_cohort_summary, plot_score_drift
    reports.plot_common        PlotResult, figure size, colours, the PNG write, input checks
This module is where callers take them from.

Matplotlib runs headless (Agg backend); figures are ~8x5 in at 100 dpi so a PNG stays well under
the ~300 KB a Dagster markdown preview can carry (see reports.report.png_metadata_markdown).
"""

from reports.classifier_plots import MIN_COHORT_SIZE, plot_feature_importance, plot_grading_roc, plot_reliability
from reports.cohort_plots import MARKER_COLUMNS, plot_cohort_summary, plot_score_drift
from reports.expression_plots import plot_enrichment_dots, plot_ma, plot_subtype_heatmap, plot_volcano
from reports.plot_common import DPI, FIGSIZE, PlotResult
from reports.survival_plots import MIN_GROUP_SIZE, plot_kaplan_meier, plot_median_split, plot_time_dependent_auc

__all__ = [
    "DPI",
    "FIGSIZE",
    "MARKER_COLUMNS",
    "MIN_COHORT_SIZE",
    "MIN_GROUP_SIZE",
    "PlotResult",
    "plot_cohort_summary",
    "plot_enrichment_dots",
    "plot_ma",
    "plot_median_split",
    "plot_subtype_heatmap",
    "plot_volcano",
    "plot_feature_importance",
    "plot_grading_roc",
    "plot_kaplan_meier",
    "plot_reliability",
    "plot_score_drift",
    "plot_time_dependent_auc",
]
