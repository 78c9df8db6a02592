"""Plots and the per-release HTML report (matplotlib, self-contained): survival curves, ROC, calibration,
importance, drift. Reads frames given to it and writes files; no Dagster."""
