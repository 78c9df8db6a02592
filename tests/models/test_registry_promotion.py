"""Model registry: champion/challenger promotion, retirement, idempotence, atomic artifacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from models.registry import (
    PromotionRule,
    RegistryEntry,
    current_champion,
    decide_promotion,
    model_version_name,
    read_model_artifacts,
    register_model,
    write_model_artifacts,
)

RULE = PromotionRule("roc_auc", 0.01, True)


def _entry(version: str, auc: float, task: str = "grading_gbm_vs_lgg") -> RegistryEntry:
    return RegistryEntry(
        model_version=version,
        task=task,
        training_release="45.0",
        feature_set_version="fs1-test",
        parameters={"num_leaves": 4},
        cv_metrics={"roc_auc": {"mean": auc, "std": 0.01, "folds": 25}},
        training_rows=777,
        code_version="abc123",
    )


def test_first_model_is_promoted_because_there_is_no_champion():
    promote, reason = decide_promotion({"roc_auc": 0.9}, None, "roc_auc", 0.01, True)
    assert promote and "no champion" in reason


@pytest.mark.parametrize(
    ("candidate", "champion", "higher_is_better", "expected"),
    [
        (0.985, 0.990, True, True),  # worse by 0.005 <= margin 0.01: promoted
        (0.975, 0.990, True, False),  # worse by 0.015 > margin: challenger
        (0.995, 0.990, True, True),  # better
        (0.125, 0.120, False, True),  # lower is better, worse by 0.005
        (0.135, 0.120, False, False),  # lower is better, worse by 0.015
    ],
)
def test_candidate_is_promoted_only_if_not_worse_than_champion_by_more_than_the_margin(
    candidate, champion, higher_is_better, expected
):
    promote, reason = decide_promotion(
        {"m": {"mean": candidate, "std": 0.0}}, {"m": {"mean": champion, "std": 0.0}}, "m", 0.01, higher_is_better
    )
    assert promote is expected
    assert f"{candidate:.4f}" in reason and f"{champion:.4f}" in reason


def test_missing_metric_is_an_error_naming_it():
    with pytest.raises(KeyError, match="roc_auc"):
        decide_promotion({"accuracy": 0.9}, None, "roc_auc", 0.01, True)


def test_registry_keeps_one_champion_retires_the_old_and_records_challengers():
    connection = duckdb.connect()
    start = datetime(2026, 11, 22, tzinfo=UTC)
    first = register_model(connection, _entry("m1", 0.95), rule=RULE, now=start)
    assert first.status == "champion"
    worse = register_model(connection, _entry("m2", 0.93), rule=RULE, now=start + timedelta(hours=1))
    assert worse.status == "challenger" and "kept as challenger" in worse.decision_reason
    assert current_champion(connection, "grading_gbm_vs_lgg").model_version == "m1"
    better = register_model(connection, _entry("m3", 0.945), rule=RULE, now=start + timedelta(hours=2))
    assert better.status == "champion"
    statuses = dict(connection.execute("SELECT model_version, status FROM registry.models").fetchall())
    assert statuses == {"m1": "retired", "m2": "challenger", "m3": "champion"}
    # tasks are judged separately
    assert register_model(connection, _entry("s1", 0.5, task="survival_risk"), rule=RULE).status == "champion"
    assert connection.execute("SELECT count(*) FROM registry.models WHERE status = 'champion'").fetchone()[0] == 2
    # registering the same version again changes nothing
    again = register_model(connection, _entry("m2", 0.99), rule=RULE)
    assert again.status == "challenger" and again.cv_metrics["roc_auc"]["mean"] == 0.93
    row = connection.execute(
        "SELECT training_rows, code_version, feature_set_version FROM registry.models WHERE model_version='m3'"
    ).fetchone()
    assert row == (777, "abc123", "fs1-test")


def test_model_version_name_is_deterministic_and_changes_with_its_inputs():
    a = model_version_name("grading_gbm_vs_lgg", "45.0", {"p": 1})
    assert a == model_version_name("grading_gbm_vs_lgg", "45.0", {"p": 1})
    assert a != model_version_name("grading_gbm_vs_lgg", "45.0", {"p": 2})
    assert a.startswith("grading_gbm_vs_lgg-45.0-")


def test_artifacts_round_trip_and_leave_no_temporary_files(tmp_path):
    directory = write_model_artifacts(tmp_path, "m1", "tree\nversion=v4\n", {"task": "grading_gbm_vs_lgg"})
    text, metadata = read_model_artifacts(tmp_path, "m1")
    assert text == "tree\nversion=v4\n" and metadata == {"model_version": "m1", "task": "grading_gbm_vs_lgg"}
    assert sorted(p.name for p in directory.iterdir()) == ["metadata.json", "model.txt"]
    with pytest.raises(FileNotFoundError, match="m2"):
        read_model_artifacts(tmp_path, "m2")
