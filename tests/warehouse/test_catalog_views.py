"""The analysts' views and computed tables of the DuckDB catalog, checked against the lake itself.

One real catalog for the module: the real jobs (`refresh_gdc_release`, then `train_challengers`) run for both
releases of the small synthetic two-release root, served by the GDC stand-in over HTTP. Every expectation is
computed independently from the lake's Parquet partitions and the registry file (polars, sksurv), never from
the views under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from sksurv.nonparametric import kaplan_meier_estimator

from contracts.schemas import DAYS_PER_MONTH, SURVIVAL_HORIZONS_MONTHS
from lake.store import Lake
from models.registry import PROMOTION_RULES
from warehouse import dictionary
from warehouse.analytics import (
    CHECK_RESULTS_SCHEMA,
    SURVIVAL_BY_GROUP_SCHEMA,
    kaplan_meier_table,
    read_check_results,
)
from warehouse.catalog import publish_catalog
from warehouse.views import ANALYST_VIEWS

pytestmark = pytest.mark.slow

ANALYST_OBJECTS = (
    "analytics.patient_scores_current",
    "analytics.score_history",
    "analytics.model_leaderboard",
    "analytics.cohort_summary",
    "analytics.patient_overview",
    "analytics.survival_by_group",
    "quality.check_results",
)


# --- the module's catalog -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(two_release_catalog):
    data_dir, _, second = two_release_catalog
    return data_dir, second


@pytest.fixture(scope="module")
def catalog(built):
    data_dir, _ = built
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def lake(built) -> Lake:
    return Lake(built[0])


@pytest.fixture(scope="module")
def registry(built) -> pl.DataFrame:
    with duckdb.connect(str(built[0] / "model_registry.duckdb"), read_only=True) as connection:
        return connection.execute("select * from registry.models").pl()


def champion(registry: pl.DataFrame, task: str) -> str:
    (version,) = registry.filter((pl.col("task") == task) & (pl.col("status") == "champion"))["model_version"]
    return version


def all_releases(lake: Lake, layer: str, table: str) -> pl.DataFrame:
    return pl.concat([lake.read(layer, table, r) for r in lake.releases(layer, table)], how="diagonal_relaxed")


def view(catalog, name: str) -> pl.DataFrame:
    return catalog.execute(f"select * from {name}").pl()


# --- the views ------------------------------------------------------------------------------------------------


def test_the_catalog_publishes_both_releases_and_every_analyst_object(catalog, built):
    _, newest = built
    assert catalog.execute(
        "select release from ops.catalog_releases where status = 'published' order by 1"
    ).fetchall() == [("45.0",), (newest,)]
    existing = {
        f"{s}.{n}"
        for s, n in catalog.execute(
            "select schema_name, view_name from duckdb_views() union all select schema_name, table_name from duckdb_tables()"
        ).fetchall()
    }
    assert set(ANALYST_OBJECTS) <= existing


def test_patient_scores_current_is_one_row_per_patient_of_the_newest_release_with_the_champions_scores(
    catalog, lake, registry, built
):
    _, newest = built
    patients = lake.read("harmonised", "patients", newest)
    frame = view(catalog, "analytics.patient_scores_current")
    assert frame.height == patients.height and frame["case_id"].n_unique() == frame.height
    assert set(frame["case_id"]) == set(patients["case_id"])
    assert set(frame["release"]) == {newest}

    grading = lake.read("scores", "grading", newest).filter(
        pl.col("model_version") == champion(registry, "grading_gbm_vs_lgg")
    )
    survival = lake.read("scores", "survival_risk", newest).filter(
        pl.col("model_version") == champion(registry, "survival_risk")
    )
    assert grading.height == survival.height == patients.height  # the champions scored every patient

    expected = (
        patients.select("case_id", "submitter_id", "age_at_diagnosis_years")
        .join(
            lake.read("harmonised", "who_cns5_class", newest).select("case_id", "who_cns5_class", "tmz_relevant"),
            on="case_id",
            how="left",
        )
        .join(
            lake.read("harmonised", "molecular_markers", newest).select(
                "case_id", "idh_status", "codeletion_1p19q", "mgmt_promoter_methylated"
            ),
            on="case_id",
            how="left",
        )
        .join(
            grading.select(
                "case_id",
                "grade_probability_gbm",
                "predicted_class",
                "prediction_set",
                "predicted_who_grade",
                "grade_prediction_set",
                pl.col("explanation").alias("grading_explanation"),
                pl.col("model_version").alias("grading_model_version"),
                "grade_model_version",
                pl.col("in_training_set").alias("grading_in_training_set"),
                "grade_in_training_set",
            ),
            on="case_id",
            how="left",
        )
        .join(
            survival.select(
                "case_id",
                "survival_risk_score",
                "risk_group",
                *(f"survival_probability_{m}m" for m in SURVIVAL_HORIZONS_MONTHS),
                pl.col("explanation").alias("survival_explanation"),
                pl.col("model_version").alias("survival_model_version"),
                pl.col("in_training_set").alias("survival_in_training_set"),
            ),
            on="case_id",
            how="left",
        )
        .sort("case_id")
    )
    actual = frame.select(expected.columns).sort("case_id")
    assert actual.equals(expected.cast(actual.schema)), "view differs from the lake's partitions"
    assert actual["grade_probability_gbm"].null_count() == 0 and actual["survival_risk_score"].null_count() == 0


def test_score_history_holds_every_score_row_with_the_models_registry_status(catalog, lake, registry, built):
    _, newest = built
    grading = all_releases(lake, "scores", "grading")
    survival = all_releases(lake, "scores", "survival_risk")
    history = view(catalog, "analytics.score_history")
    assert history.height == grading.height + survival.height
    key = ["case_id", "release", "model_version"]
    assert (
        history.filter(pl.col("task") == "grading_gbm_vs_lgg")
        .select(key)
        .sort(key)
        .equals(grading.select(key).sort(key))
    )
    assert (
        history.filter(pl.col("task") == "survival_risk").select(key).sort(key).equals(survival.select(key).sort(key))
    )
    # both releases and more than one model version: the history is kept
    assert set(history["release"]) == {"45.0", newest} and history["model_version"].n_unique() >= 2

    status = dict(registry.select("model_version", "status").iter_rows())
    assert (
        history.select(pl.col("model_version").replace_strict(status, default=None)).to_series().to_list()
        == history["model_status"].to_list()
    )
    # the scores are the lake's, row for row (spot check the task-specific columns)
    joined = history.filter(pl.col("task") == "survival_risk").join(survival, on=key, suffix="_lake")
    assert (joined["survival_risk_score"] == joined["survival_risk_score_lake"]).all()
    assert (joined["in_training_set"] == joined["in_training_set_lake"]).all()
    assert history.filter(pl.col("task") == "survival_risk")["grade_probability_gbm"].null_count() == survival.height
    # is_current marks exactly what the _current views show
    current = history.filter(pl.col("is_current"))
    assert (
        current.height
        == view(catalog, "scores.grading_current").height + view(catalog, "scores.survival_risk_current").height
    )
    assert set(current["release"]) == {newest} and set(current["model_status"]) == {"champion"}
    # submitter_id comes from the patients of the same release
    patients = all_releases(lake, "harmonised", "patients").select("case_id", "release", "submitter_id")
    check = history.join(patients, on=["case_id", "release"], suffix="_p")
    assert check.height == history.height and (check["submitter_id"] == check["submitter_id_p"]).all()


def test_model_leaderboard_has_every_registry_model_with_its_cv_metric_and_prospective_figures(catalog, lake, registry):
    everything = view(catalog, "analytics.model_leaderboard")
    board = everything.filter(pl.col("status") != "baseline")
    assert sorted(board["model_version"]) == sorted(registry["model_version"])
    # Baselines have no model version and gate nothing; each comes from a leaderboard table of its release.
    baselines = everything.filter(pl.col("status") == "baseline")
    assert baselines["model_version"].null_count() == baselines.height and baselines["model"].null_count() == 0
    prospective = all_releases(lake, "models", "prospective_validation").filter(
        pl.col("cohort") == "arrived_after_training"
    )
    for row in board.iter_rows(named=True):
        entry = registry.filter(pl.col("model_version") == row["model_version"]).row(0, named=True)
        metric = PROMOTION_RULES[entry["task"]].metric
        cv = json.loads(entry["cv_metrics"])[metric]
        assert (row["task"], row["training_release"], row["status"], row["cv_metric"]) == (
            entry["task"],
            entry["training_release"],
            entry["status"],
            metric,
        )
        assert row["cv_mean"] == pytest.approx(cv["mean"]) and row["cv_std"] == pytest.approx(cv["std"])
        assert row["cv_folds"] == cv["folds"] == 2
        validated = prospective.filter((pl.col("model_version") == row["model_version"]) & (pl.col("metric") == metric))
        if validated.height == 0:
            assert row["prospective_release"] is None and row["prospective_n"] is None
            continue
        with_value = validated.filter(pl.col("value").is_not_null())
        pool = with_value if with_value.height else validated
        newest = max(pool["release"], key=lambda r: tuple(int(x) for x in r.split(".")))
        expected = pool.filter(pl.col("release") == newest).row(0, named=True)
        assert row["prospective_release"] == newest
        assert (
            row["prospective_value"],
            row["prospective_ci_low"],
            row["prospective_ci_high"],
            row["prospective_n"],
        ) == (expected["value"], expected["ci_low"], expected["ci_high"], expected["n"])
    # cv_rank orders each task by cv_mean (every promotion metric here is higher-is-better)
    for _, group in board.group_by("task"):
        ordered = group.sort("cv_rank")
        assert ordered["cv_mean"].to_list() == sorted(ordered["cv_mean"].to_list(), reverse=True)


def test_cohort_summary_counts_equal_polars_on_the_lake(catalog, lake):
    patients = all_releases(lake, "harmonised", "patients")
    markers = all_releases(lake, "harmonised", "molecular_markers")
    expected = (
        patients.join(
            markers.select("case_id", "release", "idh_status", "codeletion_1p19q", "mgmt_promoter_methylated"),
            on=["case_id", "release"],
            how="left",
        )
        .group_by("release", "project_id")
        .agg(
            pl.len().alias("patients"),
            pl.col("age_at_diagnosis_years").median().alias("median_age_years"),
            pl.col("idh_status").count().alias("idh_called"),
            (100.0 * (pl.col("idh_status") == "mutant").sum() / pl.col("idh_status").count()).alias("pct_idh_mutant"),
            (100.0 * pl.col("codeletion_1p19q").sum() / pl.col("codeletion_1p19q").count()).alias(
                "pct_1p19q_codeleted"
            ),
            (100.0 * pl.col("mgmt_promoter_methylated").sum() / pl.col("mgmt_promoter_methylated").count()).alias(
                "pct_mgmt_methylated"
            ),
            pl.col("death_observed").sum().alias("deaths"),
            (pl.col("overall_survival_days").median() / DAYS_PER_MONTH).alias("median_follow_up_months"),
        )
        .sort("release", "project_id")
    )
    actual = view(catalog, "analytics.cohort_summary").sort("release", "project_id").select(expected.columns)
    assert actual.height == 4  # two releases x (TCGA-GBM, TCGA-LGG)
    assert actual.select("release", "project_id", "patients", "idh_called", "deaths").equals(
        expected.select("release", "project_id", "patients", "idh_called", "deaths").cast(
            {"patients": pl.Int64, "idh_called": pl.Int64, "deaths": pl.Int64}
        )
    )
    for column in (
        "median_age_years",
        "pct_idh_mutant",
        "pct_1p19q_codeleted",
        "pct_mgmt_methylated",
        "median_follow_up_months",
    ):
        np.testing.assert_allclose(actual[column].to_numpy(), expected[column].to_numpy(), rtol=1e-12, err_msg=column)
    assert actual["patients"].sum() == patients.height


def _step(times: np.ndarray, values: np.ndarray, at: float, before: float = 1.0) -> float:
    index = np.searchsorted(times, at, side="right") - 1
    return before if index < 0 else float(values[index])


def test_survival_by_group_is_the_kaplan_meier_estimate_of_each_group_of_the_newest_release(
    catalog, lake, registry, built
):
    _, newest = built
    table = view(catalog, "analytics.survival_by_group")
    assert table.schema == pl.Schema(SURVIVAL_BY_GROUP_SCHEMA)
    assert set(table["release"]) == {newest}
    patients = lake.read("harmonised", "patients", newest).select("case_id", "overall_survival_days", "death_observed")
    survival_champion = champion(registry, "survival_risk")
    risk = lake.read("scores", "survival_risk", newest).filter(pl.col("model_version") == survival_champion)
    classes = lake.read("harmonised", "who_cns5_class", newest)
    cohorts = {
        "risk_group": patients.join(risk.select("case_id", pl.col("risk_group").alias("group")), on="case_id"),
        "who_cns5_class": patients.join(
            classes.select("case_id", pl.col("who_cns5_class").alias("group")), on="case_id"
        ),
    }
    assert set(table["grouping"]) == set(cohorts)
    assert set(table.filter(pl.col("grouping") == "risk_group")["model_version"]) == {survival_champion}
    for grouping, cohort in cohorts.items():
        usable = cohort.filter(
            pl.col("overall_survival_days").is_not_null()
            & (pl.col("overall_survival_days") >= 0)
            & pl.col("death_observed").is_not_null()
            & pl.col("group").is_not_null()
        )
        curves = table.filter(pl.col("grouping") == grouping)
        assert set(curves["group"]) == set(usable["group"]), grouping  # one curve per group
        for (name,), curve in curves.group_by("group"):
            curve = curve.sort("time_months")
            rows = usable.filter(pl.col("group") == name)
            days, event = rows["overall_survival_days"].to_numpy(), rows["death_observed"].to_numpy().astype(bool)
            assert set(curve["n_patients"]) == {rows.height}
            assert curve["time_months"].is_unique().all()
            s = curve["survival"].to_numpy()
            assert (np.diff(s) <= 1e-12).all(), f"{grouping}={name}: survival increases"
            assert (
                (curve["ci_low"] <= curve["survival"] + 1e-12) & (curve["survival"] <= curve["ci_high"] + 1e-12)
            ).all()
            assert curve["events"].sum() == event.sum()
            assert curve["at_risk"][0] == rows.height and (np.diff(curve["at_risk"].to_numpy()) <= 0).all()
            times, estimate, band = kaplan_meier_estimator(event, days, conf_type="log-log")
            t = curve["time_months"].to_numpy()
            for months in (0.0, 6.0, 12.0, 24.0, 60.0, float(t[-1]) + 1):
                assert _step(t, s, months) == pytest.approx(_step(times / DAYS_PER_MONTH, estimate, months)), (
                    name,
                    months,
                )
                assert _step(t, curve["ci_low"].to_numpy(), months) == pytest.approx(
                    _step(times / DAYS_PER_MONTH, band[0], months)
                )


def test_check_results_in_the_catalog_are_what_the_files_under_reports_say(catalog, built):
    data_dir, _ = built
    table = view(catalog, "quality.check_results")
    assert table.schema == pl.Schema(CHECK_RESULTS_SCHEMA)
    expected = read_check_results(data_dir / "reports")
    assert table.sort(pl.all()).equals(expected.sort(pl.all()))
    # the quality checks of every raw and harmonised table, for both releases (quality/cache.py writes the files)
    assert set(table["release"]) == {"45.0", built[1]}
    assert {"raw/gdc_cases", "harmonised/patients", "harmonised/molecular_markers"} <= set(table["table"])
    assert set(table["severity"]) == {"blocking", "warning"} and table["success"].null_count() == 0


# --- comments and the dictionary ----------------------------------------------------------------------------------


def test_every_view_table_and_column_of_the_real_catalog_is_commented_and_in_the_dictionary(catalog):
    objects = dictionary.read_catalog(catalog)
    uncommented = sorted(name for name, obj in objects.items() if not obj.comment)
    assert not uncommented, f"no comment on {uncommented}"
    bare = sorted(f"{name}.{column}" for name, obj in objects.items() for column, _, text in obj.columns if not text)
    assert not bare, f"columns without a comment: {bare}"

    documented = _dictionary_sections(dictionary.DICTIONARY_PATH.read_text(encoding="utf-8"))
    for name, obj in objects.items():
        assert name in documented, f"{name} is not in docs/data_dictionary.md"
        columns = documented[name]
        for column, _data_type, text in obj.columns:
            assert column in columns, f"{name}.{column} is not in docs/data_dictionary.md"
            assert columns[column][1] == text.replace("|", "\\|"), f"{name}.{column}: another comment in the dictionary"


def test_the_dictionary_types_are_the_types_the_real_catalog_shows(catalog):
    documented = _dictionary_sections(dictionary.DICTIONARY_PATH.read_text(encoding="utf-8"))
    differing = sorted(
        f"{name}.{column}: catalog {data_type}, dictionary {documented[name][column][0]}"
        for name, obj in dictionary.read_catalog(catalog).items()
        for column, data_type, _ in obj.columns
        if documented.get(name, {}).get(column, (data_type,))[0] != data_type
    )
    assert not differing, "declared types differ from the lake's:\n" + "\n".join(differing)


def _dictionary_sections(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """`### `a.b` · `a.b_current`` headings -> {column: (type, description)} of the table under them."""
    sections: dict[str, dict[str, tuple[str, str]]] = {}
    names: list[str] = []
    for line in text.splitlines():
        if line.startswith("### "):
            names = [part.strip().strip("`") for part in line[4:].split("·")]
            for name in names:
                sections[name] = {}
        elif line.startswith("| `") and names:
            column, data_type, description = (cell.strip() for cell in line.strip("|").split(" | ", 2))
            for name in names:
                sections[name][column.strip("`")] = (data_type, description.strip())
    return sections


def test_the_committed_dictionary_is_what_the_generator_writes():
    generated = dictionary.generate()
    committed = dictionary.DICTIONARY_PATH.read_text(encoding="utf-8")
    assert committed == generated, "docs/data_dictionary.md is out of date: run python -m warehouse.dictionary"


def test_every_analyst_view_declares_a_comment_for_each_of_its_columns(catalog):
    for analyst_view in ANALYST_VIEWS:
        columns = [row[0] for row in catalog.execute(f"describe {analyst_view.name}").fetchall()]
        assert set(columns) <= set(analyst_view.columns), analyst_view.name
        if analyst_view.name in ANALYST_OBJECTS and analyst_view.name != "analytics.patient_overview":
            assert list(analyst_view.columns) == columns, analyst_view.name  # built from one select list


# --- without the pipeline -------------------------------------------------------------------------------------


def test_a_catalog_over_an_empty_lake_has_every_analyst_view_and_table_typed_and_empty(tmp_path):
    published = publish_catalog(Lake(tmp_path), tmp_path / "warehouse.duckdb")
    assert set(ANALYST_OBJECTS) <= set(published.views) | set(published.tables)
    with duckdb.connect(str(published.path), read_only=True) as connection:
        for name in ANALYST_OBJECTS:
            assert connection.execute(f"select count(*) from {name}").fetchone() == (0,), name
        assert connection.execute("select count(*) from registry.models").fetchone() == (0,)


def _check_file(path: Path, document) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")


def _results(table: str, release: str, check: str, *results) -> dict:
    return {"table": table, "release": release, "check": check, "results": list(results)}


def test_check_results_are_read_from_the_json_files_the_checks_write_and_published(tmp_path):
    reports = tmp_path / "reports"
    _check_file(
        reports / "46.0" / "checks" / "harmonised.patients.json",
        _results(
            "harmonised/patients",
            "46.0",
            "great_expectations",
            {
                "expectation_type": "expect_column_values_to_not_be_null",
                "column": "case_id",
                "severity": "blocking",
                "success": True,
                "unexpected_count": 0,
            },
            {
                "expectation_type": "expect_table_row_count_to_be_between",
                "column": None,
                "severity": "blocking",
                "success": False,
                "unexpected_count": None,
            },
        ),
    )
    # one file per table and check, nested by layer, and a file holding a list of check runs
    _check_file(
        reports / "9.0" / "checks" / "raw" / "gdc_cases.json",
        [
            _results(
                "raw/gdc_cases",
                "9.0",
                "blocking_expectations",
                {
                    "expectation_type": "expect_column_values_to_be_unique",
                    "column": "case_id",
                    "severity": "blocking",
                    "success": True,
                    "unexpected_count": 0,
                },
            ),
            _results(
                "raw/gdc_cases",
                "9.0",
                "warning_expectations",
                {
                    "expectation_type": "expect_column_values_to_be_in_set",
                    "column": "project_id",
                    "severity": "warning",
                    "success": False,
                    "unexpected_count": 3,
                },
            ),
        ],
    )
    (reports / "46.0" / "checks" / ".harmonised.patients.json.x1y2.tmp").write_text("{half a fi")  # a write in progress
    (reports / "46.0" / "gx").mkdir()
    (reports / "46.0" / "gx" / "other.json").write_text("[]")  # not a checks file

    frame = read_check_results(reports)
    assert frame.schema == pl.Schema(CHECK_RESULTS_SCHEMA)
    assert frame.select("release", "table", "check", "column", "success", "unexpected_count").rows() == [
        ("9.0", "raw/gdc_cases", "blocking_expectations", "case_id", True, 0),
        ("9.0", "raw/gdc_cases", "warning_expectations", "project_id", False, 3),
        ("46.0", "harmonised/patients", "great_expectations", "case_id", True, 0),
        ("46.0", "harmonised/patients", "great_expectations", None, False, None),
    ]  # numeric release order: 9.0 before 46.0
    assert frame["source_file"][0] == "9.0/checks/raw/gdc_cases.json"

    published = publish_catalog(Lake(tmp_path), tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(published.path), read_only=True) as connection:
        assert connection.execute("select * from quality.check_results").pl().equals(frame)
        assert connection.execute(
            "select comment from duckdb_tables() where schema_name = 'quality' and table_name = 'check_results'"
        ).fetchone()[0]

    assert read_check_results(tmp_path / "nowhere").height == 0
    (reports / "46.0" / "checks" / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        read_check_results(reports)


def test_kaplan_meier_table_drops_unusable_rows_and_orders_groups():
    frame = pl.DataFrame(
        {
            "overall_survival_days": [10.0, 20.0, 20.0, 30.0, None, -5.0, float("nan"), 15.0, 40.0],
            "death_observed": [True, True, False, False, True, True, True, None, False],
            "risk_group": ["high", "high", "high", "low", "high", "low", "low", "low", None],
        }
    )
    table = kaplan_meier_table(frame, "risk_group", release="46.0", order=("low", "intermediate", "high"))
    assert table.schema == pl.Schema(SURVIVAL_BY_GROUP_SCHEMA)
    assert table["group"].unique(maintain_order=True).to_list() == ["low", "high"]
    high = table.filter(pl.col("group") == "high")
    assert high["time_months"].to_list() == pytest.approx([10 / DAYS_PER_MONTH, 20 / DAYS_PER_MONTH])
    assert high["survival"].to_list() == pytest.approx([2 / 3, 1 / 3])
    assert high["at_risk"].to_list() == [3, 2] and high["events"].to_list() == [1, 1]
    assert set(high["n_patients"]) == {3}
    low = table.filter(pl.col("group") == "low")  # one censored patient: S stays 1
    assert low.select("survival", "ci_low", "ci_high", "at_risk", "events", "n_patients").rows() == [
        (1.0, 1.0, 1.0, 1, 0, 1)
    ]
    assert kaplan_meier_table(frame.clear(), "risk_group").height == 0


def test_leaderboard_takes_the_newest_prospective_value_of_the_tasks_metric_and_ranks_by_cv(tmp_path):
    from contracts.schemas import PROSPECTIVE_VALIDATION_SCHEMA
    from models.registry import ensure_registry

    registry_path = tmp_path / "model_registry.duckdb"
    with duckdb.connect(str(registry_path)) as connection:
        ensure_registry(connection)
        for version, status, auc in (
            ("grading_gbm_vs_lgg-9.0-a", "retired", 0.91),
            ("grading_gbm_vs_lgg-10.0-b", "champion", 0.93),
            ("survival_risk-10.0-c", "champion", None),
        ):
            metrics = (
                {"roc_auc": {"mean": auc, "std": 0.01, "folds": 5}}
                if auc
                else {"harrell_c": {"mean": 0.8, "std": 0.02, "folds": 5}}
            )
            connection.execute(
                "insert into registry.models (model_version, task, training_release, feature_set_version, parameters, "
                "cv_metrics, training_rows, code_version, created_at, status, decision_reason) "
                "values (?, ?, ?, 'fs1', '{}', ?, 100, 'c1', now(), ?, 'test')",
                [version, version.rsplit("-", 2)[0], version.split("-")[-2], json.dumps(metrics), status],
            )

    def rows(release: str, version: str, value: float | None, n: int) -> pl.DataFrame:
        return pl.DataFrame(
            [
                {
                    "release": release,
                    "task": "grading_gbm_vs_lgg",
                    "model_version": version,
                    "training_release": "9.0",
                    "cohort": cohort,
                    "metric": metric,
                    "value": value,
                    "ci_low": None if value is None else value - 0.05,
                    "ci_high": None if value is None else value + 0.05,
                    "n": n,
                }
                for cohort in ("arrived_after_training", "outcome_changed")
                for metric in ("roc_auc", "brier")
            ],
            schema_overrides=PROSPECTIVE_VALIDATION_SCHEMA,
        ).with_columns(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in PROSPECTIVE_VALIDATION_SCHEMA.items()
            if name
            not in (
                "release",
                "task",
                "model_version",
                "training_release",
                "cohort",
                "metric",
                "value",
                "ci_low",
                "ci_high",
                "n",
            )
        )

    lake = Lake(tmp_path)
    # the 9.0 model: validated on 10.0 (n=40), then on 11.0 where the value is undefined (n=0): 10.0's value counts;
    # numeric release order (9.0 < 10.0 < 11.0), not text order
    lake.write_table(
        _spec("models", "prospective_validation"),
        pl.concat(
            [rows("10.0", "grading_gbm_vs_lgg-9.0-a", 0.88, 40), rows("9.0", "grading_gbm_vs_lgg-9.0-a", 0.5, 5)]
        ),
        "10.0",
    )
    lake.write_table(
        _spec("models", "prospective_validation"), rows("11.0", "grading_gbm_vs_lgg-9.0-a", None, 0), "11.0"
    )
    lake.write_table(
        _spec("models", "prospective_validation"), pl.DataFrame(schema=PROSPECTIVE_VALIDATION_SCHEMA), "9.0"
    )
    published = publish_catalog(lake, tmp_path / "warehouse.duckdb", registry_path=registry_path)
    with duckdb.connect(str(published.path), read_only=True) as connection:
        board = {
            r["model_version"]: r
            for r in connection.execute("select * from analytics.model_leaderboard").pl().iter_rows(named=True)
        }
    old, new, survival = (
        board["grading_gbm_vs_lgg-9.0-a"],
        board["grading_gbm_vs_lgg-10.0-b"],
        board["survival_risk-10.0-c"],
    )
    assert (old["cv_metric"], old["cv_mean"], old["cv_std"], old["cv_folds"]) == ("roc_auc", 0.91, 0.01, 5)
    assert (new["cv_rank"], old["cv_rank"]) == (1, 2)
    assert (old["prospective_release"], old["prospective_value"], old["prospective_n"]) == ("10.0", 0.88, 40)
    assert old["prospective_ci_low"] == pytest.approx(0.83) and old["prospective_ci_high"] == pytest.approx(0.93)
    assert new["prospective_release"] is None and new["prospective_value"] is None  # never validated: left join
    assert (survival["cv_metric"], survival["cv_mean"], survival["cv_rank"]) == ("harrell_c", 0.8, 1)


def _spec(layer: str, name: str):
    from contracts.tables import TABLES_BY_PATH

    return TABLES_BY_PATH[f"{layer}/{name}"]


def test_a_column_declared_after_a_release_was_written_reads_as_null_for_that_release(tmp_path):
    """An older partition lacks a column the declaration gained since (a lake from before the change): the publish
    does not fail, and the column is there, typed, and null for that release."""
    from contracts.schemas import PROSPECTIVE_VALIDATION_SCHEMA

    lake = Lake(tmp_path)
    lake.write_table(
        _spec("models", "prospective_validation"), pl.DataFrame(schema=PROSPECTIVE_VALIDATION_SCHEMA), "9.0"
    )
    older = pl.DataFrame(  # written before `n_patients` was declared
        {"release": ["9.0"], "model": ["mlp"], "metric": ["roc_auc"], "mean": [0.9], "low": [0.8], "high": [1.0]}
    ).with_columns(pl.lit(5, pl.Int64).alias("folds"))
    lake.write(older, "models", "grading_baselines", "9.0")
    published = publish_catalog(lake, tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(published.path), read_only=True) as connection:
        for view in ("models.grading_baselines", "models.grading_baselines_current"):
            rows = connection.execute(f"select model, mean, n_patients from {view}").fetchall()
            assert rows == [("mlp", 0.9, None)], view
            types = dict(connection.execute(f"select column_name, column_type from (describe {view})").fetchall())
            assert types["n_patients"] == "BIGINT"
