"""Per-release plots (reports.plots) and the self-contained HTML report (reports.report).

The real-data tests build one release of the TCGA dev bundle once per module with the project's own
pure functions (bundle -> raw tables -> harmonised patients, markers, WHO CNS5 class -> model matrix ->
quick LightGBM models on 70% of the patients -> scores of every patient, the other 30% "prospective").
The edge-case tests use tiny synthetic frames.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score
from sksurv.compare import compare_survival
from sksurv.util import Surv

from reports import plots
from reports.report import MAX_MARKDOWN_BYTES, ReportSection, png_metadata_markdown, write_release_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCORED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def assert_readable_png(path: Path, *, min_bytes: int = 15_000) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    assert len(data) > min_bytes, f"{path} is only {len(data)} bytes"
    pixels = matplotlib.image.imread(path)[..., :3]
    assert pixels.std() > 0.02, f"{path} is (nearly) a single colour"
    height, width = pixels.shape[:2]
    assert 300 <= height <= 900 and 500 <= width <= 1100, (width, height)  # ~8x5 in at 100 dpi


@pytest.fixture(autouse=True)
def no_figure_left_open():
    yield
    assert plt.get_fignums() == [], "a plot function left a matplotlib figure open"


# --- the real dev bundle ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RealRelease:
    release: str
    overview: pl.DataFrame  # patients + markers + WHO class, one row per patient
    training_cases: set[str]
    grading: pl.DataFrame  # scores + label_gbm + cohort
    survival: pl.DataFrame  # scores + endpoint + cohort
    previous_survival: pl.DataFrame  # stand-in for an earlier release's scores (out-of-fold CV scores)
    importance: pl.DataFrame


@pytest.fixture(scope="module")
def real_release(real_dev_bundle: Path) -> RealRelease:
    from models.pipeline import train_task
    from models.scoring import score_grading, score_survival
    from sandbox.bundle_tables import raw_tables_from_bundle
    from transforms.features import build_model_matrix
    from transforms.markers import call_molecular_markers
    from transforms.patients import harmonise_patients
    from transforms.who_cns5 import classify_who_cns5

    raw = raw_tables_from_bundle(real_dev_bundle)
    release = raw.release
    patients = harmonise_patients(raw.cases).patients
    markers = call_molecular_markers(
        raw.cases, raw.ssm_occurrences, raw.cnv_occurrences, raw.mgmt_probe_betas, release=release
    ).markers
    who = classify_who_cns5(patients, markers)
    overview = patients.join(markers.select("case_id", *plots.MARKER_COLUMNS), on="case_id", how="left").join(
        who.select("case_id", "who_cns5_class"), on="case_id", how="left"
    )

    model_matrix = build_model_matrix(patients, markers)
    case_ids = np.array(sorted(model_matrix.matrix["case_id"].to_list()))
    training_cases = set(np.random.default_rng(45).permutation(case_ids)[: int(0.7 * case_ids.size)].tolist())
    training = dataclasses.replace(
        model_matrix, matrix=model_matrix.matrix.filter(pl.col("case_id").is_in(training_cases))
    )
    quick = {"release": release, "code_version": "test", "n_splits": 2, "n_repeats": 1}
    gbm = train_task(training, "grading_gbm_vs_lgg", **quick)
    survival_model = train_task(training, "survival_risk", survival_baselines=False, **quick)

    cohort = pl.when(pl.col("case_id").is_in(training_cases)).then(pl.lit("training")).otherwise(pl.lit("prospective"))
    labels = model_matrix.matrix.select("case_id", "label_gbm", "overall_survival_days", "death_observed")
    grading = score_grading(model_matrix.matrix, gbm.model, gbm.model_version, release=release, scored_at=SCORED_AT)
    survival = score_survival(
        model_matrix.matrix, survival_model.model, survival_model.model_version, release=release, scored_at=SCORED_AT
    )
    previous = survival_model.cv.out_of_fold.filter(pl.col("repeat") == 0).select(
        pl.lit("44.0").alias("release"), "case_id", "survival_risk_score"
    )
    return RealRelease(
        release=release,
        overview=overview,
        training_cases=training_cases,
        grading=grading.join(labels, on="case_id").with_columns(cohort.alias("cohort")),
        survival=survival.join(labels, on="case_id").with_columns(cohort.alias("cohort")),
        previous_survival=previous,
        importance=gbm.importance,
    )


@pytest.fixture(scope="module")
def real_plots(real_release: RealRelease, tmp_path_factory) -> dict[str, plots.PlotResult]:
    out = tmp_path_factory.mktemp("reports") / real_release.release
    r = real_release
    training = r.survival.filter(pl.col("cohort") == "training")
    prospective = r.survival.filter(pl.col("cohort") == "prospective")
    return {
        "km_risk_group": plots.plot_kaplan_meier(
            r.survival, "risk_group", title="Overall survival by predicted risk group", path=out / "km_risk_group.png"
        ),
        "km_who_cns5": plots.plot_kaplan_meier(
            r.overview, "who_cns5_class", title="Overall survival by WHO CNS5 class", path=out / "km_who_cns5.png"
        ),
        "grading_roc": plots.plot_grading_roc(
            r.grading["label_gbm"],
            r.grading["grade_probability_gbm"],
            cohort_labels=r.grading["cohort"],
            path=out / "grading_roc.png",
        ),
        "grading_reliability": plots.plot_reliability(
            r.grading["label_gbm"],
            r.grading["grade_probability_gbm"],
            cohort_labels=r.grading["cohort"],
            path=out / "grading_reliability.png",
        ),
        "survival_time_auc": plots.plot_time_dependent_auc(
            training["overall_survival_days"],
            training["death_observed"],
            prospective["overall_survival_days"],
            prospective["death_observed"],
            prospective["survival_risk_score"],
            path=out / "survival_time_auc.png",
        ),
        "feature_importance": plots.plot_feature_importance(r.importance, path=out / "feature_importance.png"),
        "cohort_summary": plots.plot_cohort_summary(r.overview, path=out / "cohort_summary.png"),
        "score_drift": plots.plot_score_drift(
            r.previous_survival, r.survival, "survival_risk_score", path=out / "score_drift.png"
        ),
    }


realdata = pytest.mark.realdata


@realdata
def test_every_real_release_plot_is_a_readable_png_beside_the_report(real_plots) -> None:
    for name, result in real_plots.items():
        assert result.path.name == f"{name}.png"
        assert_readable_png(result.path)
        assert "reason" not in result.figures, (name, result.figures.get("reason"))


@realdata
def test_km_by_risk_group_draws_one_curve_per_group_with_sksurv_log_rank(real_release, real_plots) -> None:
    figures = real_plots["km_risk_group"].figures
    rows = real_release.survival.filter(
        pl.col("risk_group").is_not_null()
        & pl.col("overall_survival_days").is_not_null()
        & pl.col("death_observed").is_not_null()
    )
    groups = set(rows["risk_group"].to_list())
    assert groups == {"low", "intermediate", "high"}
    assert figures["n_curves"] == len(groups) == len(figures["groups"])
    assert list(figures["groups"]) == ["low", "intermediate", "high"]
    assert sum(g["n"] for g in figures["groups"].values()) == rows.height == figures["n_patients"]
    chi2, p_value = compare_survival(
        Surv.from_arrays(event=rows["death_observed"].to_numpy(), time=rows["overall_survival_days"].to_numpy()),
        rows["risk_group"].to_numpy(),
    )
    assert figures["log_rank_p"] == pytest.approx(p_value, rel=1e-12)
    assert figures["log_rank_chi2"] == pytest.approx(chi2, rel=1e-12)
    assert figures["log_rank_p"] < 1e-10  # risk groups of a fitted model separate survival
    ticks = figures["at_risk_months"]
    assert ticks[0] == 0.0 and all(t % 12 == 0 for t in ticks) and len(ticks) >= 6
    assert [g["at_risk"][0] for g in figures["groups"].values()] == [g["n"] for g in figures["groups"].values()]


@realdata
def test_km_by_who_class_counts_patients_without_a_class(real_release, real_plots) -> None:
    figures = real_plots["km_who_cns5"].figures
    classes = real_release.overview["who_cns5_class"].drop_nulls().unique().to_list()
    assert figures["n_curves"] == len(classes) == 4
    assert figures["dropped_missing_group"] == real_release.overview["who_cns5_class"].null_count()


@realdata
def test_roc_draws_training_and_prospective_apart_with_sklearn_auc(real_release, real_plots) -> None:
    figures = real_plots["grading_roc"].figures
    assert figures["n_curves"] == 2
    assert list(figures["cohorts"]) == ["training", "prospective"]
    prospective = real_release.grading.filter((pl.col("cohort") == "prospective") & pl.col("label_gbm").is_not_null())
    assert figures["cohorts"]["prospective"]["n"] == prospective.height
    assert figures["cohorts"]["prospective"]["auc"] == pytest.approx(
        roc_auc_score(prospective["label_gbm"].to_numpy(), prospective["grade_probability_gbm"].to_numpy())
    )
    assert figures["cohorts"]["prospective"]["auc"] > 0.85
    assert real_plots["grading_reliability"].figures["n_curves"] == 2


@realdata
def test_time_dependent_auc_stays_inside_follow_up(real_plots) -> None:
    figures = real_plots["survival_time_auc"].figures
    assert figures["months"] and max(figures["months"]) <= 120
    assert 0.6 < figures["mean_auc"] <= 1.0
    assert all(0.0 <= a <= 1.0 for a in figures["auc"])


@realdata
def test_importance_summary_and_drift_figures(real_release, real_plots) -> None:
    assert real_plots["feature_importance"].figures["top_feature"] == real_release.importance["feature"][0]
    summary = real_plots["cohort_summary"].figures
    assert summary["n_patients"] == real_release.overview.height and summary["absent_columns"] == []
    assert (
        sum(summary["markers"]["idh_status"][k] for k in ("positive", "negative", "missing", "other"))
        == summary["n_patients"]
    )
    drift = real_plots["score_drift"].figures
    assert drift["n_common"] == real_release.previous_survival.height
    assert drift["pearson_r"] > 0.5


@realdata
def test_report_is_one_self_contained_html_with_a_relative_link_to_data_docs(
    real_release, real_plots, tmp_path
) -> None:
    data_dir = tmp_path / "data"
    reports_dir = data_dir / "reports" / real_release.release
    gx_index = reports_dir / "gx" / "index.html"
    gx_index.parent.mkdir(parents=True)
    gx_index.write_text("<html>GX Data Docs</html>", encoding="utf-8")
    sections = [
        ReportSection(
            title=name.replace("_", " "),
            image=result.path,
            caption=f"caption of {name}",
            details=[("figures", str(len(result.figures)))],
        )
        for name, result in real_plots.items()
    ]
    report = write_release_report(
        real_release.release,
        reports_dir,
        sections,
        gx_data_docs=gx_index,
        summary_rows=[("patients", str(real_release.overview.height)), ("release", real_release.release)],
    )
    assert report == reports_dir / "index.html"
    text = report.read_text(encoding="utf-8")
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(uris) == len(sections)
    for section, uri in zip(sections, uris, strict=True):
        assert base64.b64decode(uri) == section.image.read_bytes()
        assert (reports_dir / section.image.name).read_bytes() == section.image.read_bytes()  # PNG kept beside it
        assert f"caption of {section.image.stem}" in text
    # nothing external: no stylesheet/script/image fetched from anywhere
    assert not re.search(r"<(link|script)\b", text)
    assert not re.search(r'src="(?!data:)', text)
    assert "http://" not in text and "https://" not in text
    href = re.search(r'<a href="([^"]+)">Great Expectations Data Docs</a>', text).group(1)
    assert href == "gx/index.html"
    assert "patients" in text and str(real_release.overview.height) in text

    moved = tmp_path / "moved_elsewhere"
    shutil.move(str(data_dir), str(moved))
    moved_report = moved / "reports" / real_release.release / "index.html"
    assert (moved_report.parent / href).read_text(encoding="utf-8") == "<html>GX Data Docs</html>"


@realdata
def test_png_markdown_for_dagster_is_a_data_uri_under_300_kb(real_plots) -> None:
    for name, result in real_plots.items():
        markdown = png_metadata_markdown(result.path, alt=name)
        assert markdown.startswith(f"![{name}](data:image/png;base64,")
        assert len(markdown) < MAX_MARKDOWN_BYTES, (name, len(markdown))


# --- edge cases on small synthetic frames -----------------------------------------------------------------


def _survival_frame(days, events, groups, column: str = "risk_group") -> pl.DataFrame:
    return pl.DataFrame(
        {"overall_survival_days": days, "death_observed": events, column: groups},
        schema={"overall_survival_days": pl.Float64, "death_observed": pl.Boolean, column: pl.String},
    )


def test_km_of_an_empty_frame_is_a_figure_that_says_so(tmp_path) -> None:
    for frame in (_survival_frame([], [], []), pl.DataFrame()):
        result = plots.plot_kaplan_meier(frame, "risk_group", title="empty", path=tmp_path / "km.png")
        assert_readable_png(result.path, min_bytes=5_000)
        assert result.figures["n_curves"] == 0 and "No patients" in result.figures["reason"]


def test_km_of_one_group_draws_one_curve_without_a_log_rank(tmp_path) -> None:
    frame = _survival_frame([100.0, 400.0, 800.0, 1200.0, None], [True, False, True, False, True], ["high"] * 5)
    result = plots.plot_kaplan_meier(frame, "risk_group", title="one group", path=tmp_path / "km.png")
    assert_readable_png(result.path)
    assert result.figures["n_curves"] == 1 and result.figures["log_rank_p"] is None
    assert result.figures["dropped_missing_survival"] == 1
    assert result.figures["groups"]["high"] == {
        "n": 4,
        "events": 2,
        "median_months": pytest.approx(800 / 30.44),
        "at_risk": [4, 3, 2, 1],
    }


def test_km_with_all_groups_null_or_tiny_says_why(tmp_path) -> None:
    frame = _survival_frame([100.0, 200.0, 300.0], [True, True, False], [None, None, "low"])
    result = plots.plot_kaplan_meier(frame, "risk_group", title="all null", path=tmp_path / "km.png")
    assert_readable_png(result.path, min_bytes=5_000)
    assert result.figures["n_curves"] == 0
    assert result.figures["dropped_missing_group"] == 2 and result.figures["skipped_groups"] == {"low": 1}


def test_km_skips_a_one_patient_group_and_tests_only_the_drawn_rows(tmp_path) -> None:
    frame = _survival_frame(
        [50.0, 300.0, 500.0, 900.0, 120.0, 200.0, 260.0, 700.0, 30.0],
        [True, False, True, False, True, True, True, False, True],
        ["low", "low", "low", "low", "high", "high", "high", "high", "intermediate"],
    )
    result = plots.plot_kaplan_meier(frame, "risk_group", title="skip", path=tmp_path / "km.png")
    assert result.figures["n_curves"] == 2 and result.figures["skipped_groups"] == {"intermediate": 1}
    drawn = frame.filter(pl.col("risk_group") != "intermediate")
    _, p_value = compare_survival(
        Surv.from_arrays(event=drawn["death_observed"].to_numpy(), time=drawn["overall_survival_days"].to_numpy()),
        drawn["risk_group"].to_numpy(),
    )
    assert result.figures["log_rank_p"] == pytest.approx(p_value)


def test_km_without_any_death_has_no_log_rank_but_a_figure(tmp_path) -> None:
    frame = _survival_frame([100.0, 200.0, 300.0, 400.0], [False] * 4, ["low", "low", "high", "high"])
    result = plots.plot_kaplan_meier(frame, "risk_group", title="no deaths", path=tmp_path / "km.png")
    assert result.figures["n_curves"] == 2 and result.figures["log_rank_p"] is None
    assert "no deaths" in result.figures["log_rank_reason"]


def test_km_names_a_missing_column_of_a_non_empty_frame() -> None:
    with pytest.raises(ValueError, match="risk_group"):
        plots.plot_kaplan_meier(
            pl.DataFrame({"overall_survival_days": [1.0], "death_observed": [True]}),
            "risk_group",
            title="x",
            path=Path("/nonexistent/km.png"),
        )


def test_roc_and_reliability_of_a_single_class_are_figures_that_say_why(tmp_path) -> None:
    label, probability = [1, 1, 1, 1], [0.9, 0.8, 0.7, 0.95]
    roc = plots.plot_grading_roc(label, probability, path=tmp_path / "roc.png")
    assert_readable_png(roc.path, min_bytes=5_000)
    assert roc.figures["n_curves"] == 0 and "single class" in roc.figures["reason"]
    reliability = plots.plot_reliability(label, probability, path=tmp_path / "rel.png")
    assert_readable_png(reliability.path, min_bytes=5_000)
    assert "single class" in reliability.figures["cohorts"]["all patients"]["note"]


def test_roc_draws_the_cohort_it_can_and_notes_the_single_class_one(tmp_path) -> None:
    rng = np.random.default_rng(1)
    label = np.r_[rng.integers(0, 2, 40), np.ones(5)]
    probability = np.clip(label * 0.5 + rng.random(45) * 0.5, 0, 1)
    cohort = ["training"] * 40 + ["prospective"] * 5
    label = label.astype(object)
    label[0] = None
    result = plots.plot_grading_roc(label, probability, cohort_labels=cohort, path=tmp_path / "roc.png")
    assert_readable_png(result.path)
    assert result.figures["n_curves"] == 1 and result.figures["dropped_missing"] == 1
    assert "single class" in result.figures["cohorts"]["prospective"]["reason"]


def test_roc_and_reliability_of_all_missing_or_empty_inputs_are_figures(tmp_path) -> None:
    for label, probability in (([None, None], [0.2, None]), ([], [])):
        for function in (plots.plot_grading_roc, plots.plot_reliability):
            result = function(label, probability, path=tmp_path / "p.png")
            assert_readable_png(result.path, min_bytes=5_000)
            assert result.figures["n_curves"] == 0 and "reason" in result.figures


def test_roc_refuses_labels_that_are_not_binary(tmp_path) -> None:
    with pytest.raises(ValueError, match="0/1"):
        plots.plot_grading_roc([0, 2, 4], [0.1, 0.5, 0.9], path=tmp_path / "roc.png")


def test_time_dependent_auc_of_tiny_or_eventless_cohorts_is_a_figure(tmp_path) -> None:
    tiny = plots.plot_time_dependent_auc([100.0, 900.0], [True, False], [200.0], [True], [0.3], path=tmp_path / "a.png")
    assert "Too few" in tiny.figures["reason"]
    no_deaths = plots.plot_time_dependent_auc(
        [100.0, 900.0, 1500.0],
        [True, False, True],
        [200.0, 400.0, None],
        [False, False, True],
        [0.1, 0.2, 0.3],
        path=tmp_path / "b.png",
    )
    assert "No deaths" in no_deaths.figures["reason"] and no_deaths.figures["dropped_test"] == 1
    short = plots.plot_time_dependent_auc(
        [30.0, 60.0, 90.0],
        [True, True, False],
        [20.0, 40.0, 70.0],
        [True, True, False],
        [0.9, 0.5, 0.1],
        path=tmp_path / "c.png",
    )
    assert short.figures["months"] == [] and "grid" in short.figures["reason"]
    for result in (tiny, no_deaths, short):
        assert_readable_png(result.path, min_bytes=5_000)


def test_feature_importance_of_empty_or_unused_features_is_a_figure(tmp_path) -> None:
    empty = plots.plot_feature_importance(
        pl.DataFrame(schema={"feature": pl.String, "gain": pl.Float64}), path=tmp_path / "a.png"
    )
    unused = plots.plot_feature_importance(
        pl.DataFrame({"feature": ["a", "b"], "gain": [0.0, None]}), path=tmp_path / "b.png"
    )
    assert "empty" in empty.figures["reason"] and "zero or missing" in unused.figures["reason"]
    few = plots.plot_feature_importance(
        pl.DataFrame({"feature": ["a", "b", "c"], "importance": [3.0, 0.0, 1.0]}), path=tmp_path / "c.png"
    )
    assert few.figures["value_column"] == "importance" and [s["feature"] for s in few.figures["shown"]] == ["a", "c"]
    for result in (empty, unused, few):
        assert_readable_png(result.path, min_bytes=5_000)


def test_cohort_summary_of_empty_all_null_and_partial_frames(tmp_path) -> None:
    empty = plots.plot_cohort_summary(pl.DataFrame(), path=tmp_path / "a.png")
    assert "No patients" in empty.figures["reason"]
    nulls = pl.DataFrame(
        {
            c: [None, None]
            for c in (
                "age_at_diagnosis_years",
                "project_id",
                *plots.MARKER_COLUMNS,
                "who_cns5_class",
                "overall_survival_days",
                "death_observed",
            )
        }
    )
    all_null = plots.plot_cohort_summary(nulls, path=tmp_path / "b.png")
    assert all_null.figures["missing_age"] == 2 and all_null.figures["survival"]["missing"] == 2
    assert all_null.figures["markers"]["idh_status"]["missing"] == 2
    partial = plots.plot_cohort_summary(
        pl.DataFrame(
            {
                "project_id": ["TCGA-GBM", "TCGA-LGG"],
                "idh_status": ["wildtype", "mutant"],
                "codeletion_1p19q": [False, None],
            }
        ),
        path=tmp_path / "c.png",
    )
    assert "who_cns5_class" in partial.figures["absent_columns"]
    assert partial.figures["markers"]["idh_status"] == {"positive": 1, "negative": 1, "missing": 0, "other": 0}
    for result in (empty, all_null, partial):
        assert_readable_png(result.path, min_bytes=5_000)


def test_score_drift_of_the_first_release_says_first_release(tmp_path) -> None:
    current = pl.DataFrame(
        {"release": ["45.0"] * 3, "case_id": ["a", "b", "c"], "survival_risk_score": [0.1, None, 0.4]}
    )
    result = plots.plot_score_drift(None, current, "survival_risk_score", path=tmp_path / "drift.png")
    assert_readable_png(result.path)
    assert result.figures["first_release"] is True and result.figures["dropped_missing_current"] == 1


def test_score_drift_without_common_patients_or_values_is_a_figure(tmp_path) -> None:
    previous = pl.DataFrame({"case_id": ["x"], "survival_risk_score": [0.5]})
    current = pl.DataFrame({"case_id": ["a", "b"], "survival_risk_score": [0.1, 0.4]})
    disjoint = plots.plot_score_drift(previous, current, "survival_risk_score", path=tmp_path / "a.png")
    assert disjoint.figures["n_common"] == 0 and disjoint.figures["n_new"] == 2 and disjoint.figures["n_gone"] == 1
    empty = plots.plot_score_drift(None, pl.DataFrame(), "survival_risk_score", path=tmp_path / "b.png")
    assert "First release" in empty.figures["reason"]
    for result in (disjoint, empty):
        assert_readable_png(result.path, min_bytes=5_000)
    with pytest.raises(ValueError, match="more than one row"):
        plots.plot_score_drift(pl.concat([previous, previous]), current, "survival_risk_score", path=tmp_path / "c.png")


def test_report_without_data_docs_and_png_markdown_of_a_message_figure(tmp_path) -> None:
    image = plots.plot_grading_roc([1], [0.5], path=tmp_path / "elsewhere" / "roc.png").path
    report = write_release_report(
        "46.0",
        tmp_path / "reports" / "46.0",
        [ReportSection("ROC", image, "one patient")],
        gx_data_docs=None,
        summary_rows=[("patients", "1")],
    )
    text = report.read_text(encoding="utf-8")
    assert "No Great Expectations Data Docs" in text and text.count("data:image/png;base64,") == 1
    assert (report.parent / "roc.png").read_bytes() == image.read_bytes()
    assert png_metadata_markdown(image).startswith("![roc](data:image/png;base64,")
    with pytest.raises(FileNotFoundError):
        write_release_report(
            "46.0", tmp_path / "r", [ReportSection("gone", tmp_path / "nope.png")], gx_data_docs=None, summary_rows=[]
        )
