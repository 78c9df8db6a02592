"""Plots and the per-release HTML report (matplotlib, self-contained): survival curves, ROC, calibration,
importance, drift. Reads frames given to it and writes files; no Dagster."""

# What the figures compute and draw with besides this package (Kaplan-Meier and log-rank; the table schemas) and the
# libraries they use: the report asset's code version and the figure reuse (reports.figure_cache) both derive from it.
COMPUTED_WITH_MODULES: tuple[str, ...] = ("analyses.survival_by_gene", "contracts.schemas")
COMPUTED_WITH_LIBRARIES: tuple[str, ...] = ("matplotlib", "numpy", "scipy", "polars", "scikit-learn", "scikit-survival")


def code_modules() -> tuple[str, ...]:
    """Every module of this package, then COMPUTED_WITH_MODULES: the source a figure or the report is made by (found,
    not imported: the code location must not load matplotlib)."""
    import pkgutil

    return (*sorted(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__)), *COMPUTED_WITH_MODULES)
