"""What every plot of the report (reports.plots) shares: figure size and resolution, group colours and
order, the PNG write, the figure that says why nothing can be drawn, and the coercion and checks of inputs.

A plot returns a `PlotResult`: the PNG, written atomically (reports.report.publish_file), and a JSON-ready
dict of the figures it shows. Matplotlib runs headless (Agg backend).
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

from contracts.schemas import RISK_GROUPS  # noqa: E402
from reports.report import publish_file  # noqa: E402

DPI = 100
FIGSIZE = (8.0, 5.0)
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


MAX_TICKS = 12


def axis_ticks(top: float, steps: Sequence[float], max_ticks: int = MAX_TICKS) -> np.ndarray:
    """Ticks 0, step, 2*step, ... covering [0, top] with the first of `steps` that needs at most `max_ticks`; for a
    larger `top`, a power-of-ten multiple of the last step. Never more than max_ticks + 1 ticks, whatever the data
    say (a survival time of 1e12 days must not ask for billions of ticks)."""
    top = float(top) if math.isfinite(top) and top > 0 else 1.0
    step = next((s for s in steps if top / s <= max_ticks), None)
    if step is None:
        step = float(steps[-1]) * 10 ** math.ceil(math.log10(top / (float(steps[-1]) * max_ticks)))
    return np.arange(0.0, math.floor(top / step) * step + step / 2, step)[: max_ticks + 1]


def bounded_bin_edges(top: float, width: float, floor: float, max_bins: int = 60) -> np.ndarray:
    """Histogram edges 0, width, ... up to max(floor, top): at most `max_bins` bins, wider ones for a larger `top`."""
    top = max(floor, float(top) if math.isfinite(top) else floor)
    width = max(width, top / max_bins)
    return np.arange(0.0, top + width, width)[: max_bins + 1]


class PlotResult(NamedTuple):
    """The written PNG and the figures it shows (JSON-ready: str, int, float, None, lists, dicts)."""

    path: Path
    figures: dict[str, Any]


def _save(fig: plt.Figure, path: Path) -> Path:
    """Render to PNG in memory, then publish it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return publish_file(buffer.getvalue(), path)


def finish(fig: plt.Figure, path: Path, figures: dict[str, Any]) -> PlotResult:
    try:
        written = _save(fig, path)
    finally:
        plt.close(fig)
    return PlotResult(written, _jsonable(figures))


def message_plot(
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
    return finish(fig, path, {**(figures or {}), "reason": reason})


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


def as_float(values: Any) -> np.ndarray:
    """Any 1-d input (numpy, polars Series, list with None) as float64 with NaN for missing."""
    if values is None:
        return np.empty(0)
    if isinstance(values, pl.Series):
        return values.cast(pl.Float64).to_numpy().astype(np.float64, copy=False)
    array = np.asarray(values)
    if array.dtype == object:
        return np.array([np.nan if v is None else float(v) for v in array.ravel()], dtype=np.float64)
    return array.astype(np.float64).ravel()


def as_labels(values: Any, n: int) -> np.ndarray:
    """Cohort labels as an object array of str, None for missing; all "all patients" when not given."""
    if values is None:
        return np.full(n, "all patients", dtype=object)
    items = values.to_list() if isinstance(values, pl.Series) else list(np.asarray(values, dtype=object).ravel())
    return np.array(
        [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in items], dtype=object
    )


def ordered(names: Iterable[str], sizes: dict[str, int] | None = None) -> list[str]:
    names = list(dict.fromkeys(names))
    preferred = [name for name in _PREFERRED_ORDER if name in names]
    rest = sorted(
        (name for name in names if name not in preferred), key=lambda name: (-(sizes or {}).get(name, 0), name)
    )
    return preferred + rest


def group_colours(names: Sequence[str]) -> dict[str, str]:
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


def require_columns(frame: pl.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the frame lacks column(s) {missing}; it has {frame.columns}")


def check_binary_labels(label: np.ndarray, what: str) -> None:
    present = label[~np.isnan(label)]
    bad = np.setdiff1d(np.unique(present), [0.0, 1.0])
    if bad.size:
        raise ValueError(f"{what}: labels must be 0/1 (or bool, or missing); got value(s) {bad[:5].tolist()}")
