"""reports.figure_cache: a figure is reused only when every input (values, not identity) and the plotting code are
those of the PNG on disk; any change, an overwritten PNG or an input it cannot digest means drawing again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from reports import COMPUTED_WITH_MODULES
from reports.figure_cache import INPUTS_DIRECTORY, inputs_digest, reuse_or_draw
from reports.plots import plot_grading_roc, plot_kaplan_meier


def _survival(n: int = 80, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "case_id": [f"case-{i}" for i in range(n)],
            "overall_survival_days": rng.integers(30, 3000, n).astype(float),
            "death_observed": rng.random(n) < 0.6,
            "risk_group": rng.choice(["low", "high"], n).tolist(),
        }
    )


class _Counted:
    """A plot function that counts its calls (the real Kaplan-Meier plot does the drawing)."""

    def __init__(self) -> None:
        self.calls = 0
        self.__qualname__ = "counted_kaplan_meier"
        self.__module__ = __name__

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return plot_kaplan_meier(*args, **kwargs)


@pytest.fixture
def counted() -> _Counted:
    return _Counted()


def test_same_inputs_reuse_the_png_and_its_figures_without_drawing(tmp_path: Path, counted: _Counted) -> None:
    path = tmp_path / "km.png"
    first, reused_first = reuse_or_draw(counted, _survival(), "risk_group", path=path, title="Release 46.0")
    png = path.read_bytes()
    # An equal frame built again (another object) is the same input.
    second, reused_second = reuse_or_draw(counted, _survival(), "risk_group", path=path, title="Release 46.0")
    assert (reused_first, reused_second, counted.calls) == (False, True, 1)
    assert second.path == path and path.read_bytes() == png
    assert second.figures == first.figures and first.figures["groups"]
    record = json.loads((tmp_path / INPUTS_DIRECTORY / "km.png.json").read_text())
    assert set(record) == {"inputs", "png_sha256", "figures"}


def test_a_changed_value_keyword_or_column_draws_again(tmp_path: Path, counted: _Counted) -> None:
    path = tmp_path / "km.png"
    frame = _survival()
    reuse_or_draw(counted, frame, "risk_group", path=path, title="Release 46.0")
    one_death_less = frame.with_columns(
        pl.when(pl.col("case_id") == "case-0").then(~pl.col("death_observed")).otherwise(pl.col("death_observed"))
    )
    assert reuse_or_draw(counted, one_death_less, "risk_group", path=path, title="Release 46.0")[1] is False
    assert reuse_or_draw(counted, one_death_less, "risk_group", path=path, title="Release 47.0")[1] is False
    extra_column = one_death_less.with_columns(pl.lit(1).alias("unused"))
    assert reuse_or_draw(counted, extra_column, "risk_group", path=path, title="Release 47.0")[1] is False
    assert reuse_or_draw(counted, extra_column, "risk_group", path=path, title="Release 47.0")[1] is True
    assert counted.calls == 4


def test_a_png_overwritten_since_is_drawn_again(tmp_path: Path, counted: _Counted) -> None:
    path = tmp_path / "km.png"
    frame = _survival()
    reuse_or_draw(counted, frame, "risk_group", path=path, title="mine")
    plot_kaplan_meier(_survival(seed=9), "risk_group", path=path, title="another process's")
    result, reused = reuse_or_draw(counted, frame, "risk_group", path=path, title="mine")
    assert not reused and counted.calls == 2
    (tmp_path / INPUTS_DIRECTORY / "km.png.json").write_text("not json")
    assert reuse_or_draw(counted, frame, "risk_group", path=path, title="mine")[1] is False
    path.unlink()
    assert reuse_or_draw(counted, frame, "risk_group", path=path, title="mine")[1] is False
    assert path.exists() and counted.calls == 4


def test_arrays_are_digested_by_dtype_shape_and_values(tmp_path: Path) -> None:
    label = np.array([0, 1, 1, 0, 1, 0] * 10)
    probability = np.linspace(0.05, 0.95, 60)
    cohorts = np.array(["training"] * 40 + ["prospective"] * 20, dtype=object)
    digest = inputs_digest(plot_grading_roc, (label, probability), {"cohort_labels": cohorts})
    assert digest == inputs_digest(plot_grading_roc, (label.copy(), probability.copy()), {"cohort_labels": cohorts})
    assert digest != inputs_digest(plot_grading_roc, (label.astype(float), probability), {"cohort_labels": cohorts})
    assert digest != inputs_digest(plot_grading_roc, (label, probability.reshape(6, 10)), {"cohort_labels": cohorts})
    changed = cohorts.copy()
    changed[0] = "prospective"
    assert digest != inputs_digest(plot_grading_roc, (label, probability), {"cohort_labels": changed})
    assert digest != inputs_digest(plot_kaplan_meier, (label, probability), {"cohort_labels": cohorts})
    # A list and a tuple of the same items, or a string and a number that print alike, are different inputs.
    assert inputs_digest(plot_grading_roc, ([1, 2],), {}) != inputs_digest(plot_grading_roc, ((1, 2),), {})
    assert inputs_digest(plot_grading_roc, ("1",), {}) != inputs_digest(plot_grading_roc, (1,), {})


def test_an_input_it_cannot_digest_is_always_drawn_and_never_recorded(tmp_path: Path) -> None:
    calls = []

    def plot(marker: object, *, path: Path):
        calls.append(marker)
        return plot_kaplan_meier(_survival(), "risk_group", path=path, title="any")

    marker = object()
    assert inputs_digest(plot, (marker,), {}) is None
    assert inputs_digest(plot, (pl.DataFrame({"held": [marker]}, schema={"held": pl.Object}),), {}) is None
    assert reuse_or_draw(plot, marker, path=tmp_path / "x.png")[1] is False
    assert reuse_or_draw(plot, marker, path=tmp_path / "x.png")[1] is False
    assert len(calls) == 2 and not (tmp_path / INPUTS_DIRECTORY).exists()


def test_a_figure_another_run_publishes_while_this_one_draws_is_never_taken_for_this_ones(tmp_path: Path) -> None:
    path = tmp_path / "km.png"
    mine, theirs = _survival(seed=3), _survival(seed=9)

    def drawn_while_another_run_publishes(frame, group, *, path: Path, title: str):
        # The other run of the report publishes its figure at the final path while this one draws.
        plot_kaplan_meier(theirs, group, path=tmp_path / "km.png", title="another run")
        return plot_kaplan_meier(frame, group, path=path, title=title)

    result, reused = reuse_or_draw(drawn_while_another_run_publishes, mine, "risk_group", path=path, title="this run")
    assert not reused and result.path == path
    alone = plot_kaplan_meier(mine, "risk_group", path=tmp_path / "alone.png", title="this run")
    assert path.read_bytes() == alone.path.read_bytes()  # this run's figure, published after it was drawn
    again, reused = reuse_or_draw(drawn_while_another_run_publishes, mine, "risk_group", path=path, title="this run")
    assert reused and again.figures == result.figures
    assert sorted(p.name for p in tmp_path.iterdir()) == [INPUTS_DIRECTORY, "alone.png", "km.png"]  # no temporaries


def test_the_code_version_covers_every_project_module_a_plot_computes_with() -> None:
    """A plot that starts computing with another project module (a new estimator in `analyses`, a constant in
    `contracts`) must name it in the code version, or its figures would be reused after that module changed."""
    import ast

    from reports import figure_cache

    reports_dir = Path(figure_cache.__file__).parent
    imported = set()
    for source in reports_dir.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    # The reports package is digested whole; lake.files only writes the files.
    computed_with = {
        name for name in imported if name.split(".")[0] in {"analyses", "contracts", "models", "transforms"}
    }
    assert computed_with == set(COMPUTED_WITH_MODULES)
