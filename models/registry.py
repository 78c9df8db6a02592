"""Model registry: a DuckDB table (`registry.models`, through a connection the caller passes in) plus
artifacts on disk (LightGBM text model + metadata JSON under a directory the caller passes in).

Champion / challenger: a newly trained model becomes champion only if its cross-validated metric is
not worse than the current champion's by more than a set margin (`decide_promotion`, pure); otherwise
it is registered as challenger. The decision and its reason are stored with the row. When a model is
promoted the previous champion of the task is marked `retired`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

REGISTRY_TABLE = "registry.models"

REGISTRY_DDL = f"""
CREATE SCHEMA IF NOT EXISTS registry;
CREATE TABLE IF NOT EXISTS {REGISTRY_TABLE} (
    model_version VARCHAR PRIMARY KEY,
    task VARCHAR NOT NULL,
    training_release VARCHAR NOT NULL,
    feature_set_version VARCHAR NOT NULL,
    parameters JSON NOT NULL,
    cv_metrics JSON NOT NULL,
    training_rows BIGINT NOT NULL,
    code_version VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('champion', 'challenger', 'retired')),
    decision_reason VARCHAR NOT NULL
);
-- Added with the fair comparison: content hash of (recipe, training rows) and the paired comparison.
ALTER TABLE registry.models ADD COLUMN IF NOT EXISTS training_fingerprint VARCHAR;
ALTER TABLE registry.models ADD COLUMN IF NOT EXISTS comparison JSON;
"""


@dataclass(frozen=True)
class PromotionRule:
    metric: str
    margin: float
    higher_is_better: bool


# The metric each task is judged on and how much worse than the champion a candidate may be.
PROMOTION_RULES: dict[str, PromotionRule] = {
    "grading_gbm_vs_lgg": PromotionRule("roc_auc", 0.005, True),
    "grading_who_grade": PromotionRule("roc_auc_micro", 0.005, True),
    "survival_risk": PromotionRule("harrell_c", 0.005, True),
    # Molecular typing (models.typing_pipeline): macro one-vs-rest AUC over the 3 IDH/1p19q classes.
    "molecular_type": PromotionRule("roc_auc_macro", 0.005, True),
}


def _metric_value(metrics: dict[str, Any], metric: str, who: str) -> float:
    if metric not in metrics:
        raise KeyError(f"{who} metrics lack {metric!r} (have {sorted(metrics)})")
    value = metrics[metric]
    return float(value["mean"] if isinstance(value, dict) else value)


def decide_promotion(
    candidate_metrics: dict[str, Any],
    champion_metrics: dict[str, Any] | None,
    metric: str,
    margin: float,
    higher_is_better: bool,
) -> tuple[bool, str]:
    """Promote unless the candidate's CV `metric` is worse than the champion's by more than `margin`.

    Metrics are `{name: {"mean": .., "std": ..}}` (as stored in the registry) or `{name: value}`.
    """
    candidate = _metric_value(candidate_metrics, metric, "candidate")
    if champion_metrics is None:
        return True, f"no champion yet: promoted with {metric} {candidate:.4f}"
    champion = _metric_value(champion_metrics, metric, "champion")
    shortfall = (champion - candidate) if higher_is_better else (candidate - champion)
    comparison = f"{metric} {candidate:.4f} vs champion {champion:.4f} (margin {margin:.4f}, {'higher' if higher_is_better else 'lower'} is better)"
    if shortfall > margin:
        return False, f"kept as challenger: worse than champion by {shortfall:.4f} > margin; {comparison}"
    return True, f"promoted: not worse than champion by more than the margin; {comparison}"


def model_version_name(task: str, training_release: str, fingerprint: dict[str, Any]) -> str:
    """`<task>-<release>-<shorthash>`; the hash covers parameters, features, data and code version, so
    retraining the same thing gives the same version (idempotent) and anything different a new one."""
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{task}-{training_release}-{digest}"


@dataclass(frozen=True)
class RegistryEntry:
    model_version: str
    task: str
    training_release: str
    feature_set_version: str
    parameters: dict[str, Any]
    cv_metrics: dict[str, Any]
    training_rows: int
    code_version: str
    created_at: datetime | None = None
    status: str | None = None
    decision_reason: str | None = None
    # sha256 of the recipe and the training rows: the same fingerprint means retraining would change nothing.
    training_fingerprint: str | None = None
    # The paired champion/challenger comparison on the same folds (models.challenge.RecipeComparison.to_json()).
    comparison: dict[str, Any] | None = None


def ensure_registry(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(REGISTRY_DDL)


def _row_to_entry(row: tuple) -> RegistryEntry:
    return RegistryEntry(
        model_version=row[0],
        task=row[1],
        training_release=row[2],
        feature_set_version=row[3],
        parameters=json.loads(row[4]),
        cv_metrics=json.loads(row[5]),
        training_rows=int(row[6]),
        code_version=row[7],
        created_at=row[8],
        status=row[9],
        decision_reason=row[10],
        training_fingerprint=row[11],
        comparison=json.loads(row[12]) if row[12] else None,
    )


_COLUMNS = (
    "model_version, task, training_release, feature_set_version, parameters, cv_metrics, training_rows, "
    "code_version, created_at, status, decision_reason, training_fingerprint, comparison"
)


def find_by_fingerprint(connection: duckdb.DuckDBPyConnection, task: str, fingerprint: str) -> RegistryEntry | None:
    """The model already trained with this recipe on these rows, if any (then retraining is skipped)."""
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM {REGISTRY_TABLE} WHERE task = ? AND training_fingerprint = ? "
        "ORDER BY created_at DESC LIMIT 1",
        [task, fingerprint],
    ).fetchone()
    return _row_to_entry(row) if row else None


def get_model(connection: duckdb.DuckDBPyConnection, model_version: str) -> RegistryEntry | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM {REGISTRY_TABLE} WHERE model_version = ?", [model_version]
    ).fetchone()
    return _row_to_entry(row) if row else None


def current_champion(connection: duckdb.DuckDBPyConnection, task: str) -> RegistryEntry | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM {REGISTRY_TABLE} WHERE task = ? AND status = 'champion' ORDER BY created_at DESC LIMIT 1",
        [task],
    ).fetchone()
    return _row_to_entry(row) if row else None


def register_model(
    connection: duckdb.DuckDBPyConnection,
    entry: RegistryEntry,
    *,
    rule: PromotionRule | None = None,
    now: datetime | None = None,
    decision: tuple[bool, str] | None = None,
) -> RegistryEntry:
    """Insert `entry`, deciding champion vs challenger against the task's current champion.

    `decision` (promote, reason) comes from the fair comparison (models.challenge) when there is a
    champion to compare with; without it the CV means are compared (`decide_promotion`).

    Registering a model_version that is already present changes nothing and returns the stored row
    (a re-run of the same training is a no-op).
    """
    ensure_registry(connection)
    existing = get_model(connection, entry.model_version)
    if existing is not None:
        return existing
    rule = rule or PROMOTION_RULES[entry.task]
    created_at = now or datetime.now(UTC)
    connection.execute("BEGIN TRANSACTION")
    try:
        champion = current_champion(connection, entry.task)
        if decision is not None and champion is not None:
            promote, reason = decision
        else:
            promote, reason = decide_promotion(
                entry.cv_metrics,
                champion.cv_metrics if champion else None,
                rule.metric,
                rule.margin,
                rule.higher_is_better,
            )
        if promote and champion is not None:
            connection.execute(
                f"UPDATE {REGISTRY_TABLE} SET status = 'retired', decision_reason = decision_reason || ? WHERE model_version = ?",
                [f"; retired {created_at.isoformat()} by {entry.model_version}", champion.model_version],
            )
        connection.execute(
            f"INSERT INTO {REGISTRY_TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                entry.model_version,
                entry.task,
                entry.training_release,
                entry.feature_set_version,
                json.dumps(entry.parameters, sort_keys=True, default=str),
                json.dumps(entry.cv_metrics, sort_keys=True),
                entry.training_rows,
                entry.code_version,
                created_at,
                "champion" if promote else "challenger",
                reason,
                entry.training_fingerprint,
                json.dumps(entry.comparison, sort_keys=True, default=str) if entry.comparison is not None else None,
            ],
        )
        connection.execute("COMMIT")
    except Exception:
        connection.execute("ROLLBACK")
        raise
    stored = get_model(connection, entry.model_version)
    assert stored is not None
    return stored


# --- artifacts ---------------------------------------------------------------------------------------

MODEL_FILE = "model.txt"
METADATA_FILE = "metadata.json"


def _atomic_write_text(path: Path, text: str) -> None:
    # Temp file in the same directory, then rename: readers see the old file or the new, never half.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_model_artifacts(artifacts_dir: Path, model_version: str, model_text: str, metadata: dict[str, Any]) -> Path:
    """`<artifacts_dir>/<model_version>/model.txt` (LightGBM text format) and `metadata.json`.

    The metadata is written last, so a directory with metadata always has its model file.
    """
    directory = Path(artifacts_dir) / model_version
    directory.mkdir(parents=True, exist_ok=True)
    _atomic_write_text(directory / MODEL_FILE, model_text)
    _atomic_write_text(
        directory / METADATA_FILE,
        json.dumps({"model_version": model_version, **metadata}, indent=2, sort_keys=True, default=str),
    )
    return directory


TRAINING_ROWS_FILE = "training_rows.parquet"


def write_training_rows(artifacts_dir: Path, model_version: str, frame: Any) -> Path:
    """The rows a model was trained on (case_id and labels): scores say whether a patient was among them,
    and prospective validation finds the patients who arrived later or whose outcome changed."""
    directory = Path(artifacts_dir) / model_version
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / TRAINING_ROWS_FILE
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{TRAINING_ROWS_FILE}.", suffix=".tmp")
    os.close(handle)
    try:
        frame.write_parquet(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def read_training_rows(artifacts_dir: Path, model_version: str) -> Any:
    import polars as pl

    path = Path(artifacts_dir) / model_version / TRAINING_ROWS_FILE
    if not path.exists():
        raise FileNotFoundError(f"model {model_version}: no {TRAINING_ROWS_FILE} under {path.parent}")
    return pl.read_parquet(path)


def read_model_artifacts(artifacts_dir: Path, model_version: str) -> tuple[str, dict[str, Any]]:
    directory = Path(artifacts_dir) / model_version
    metadata_path = directory / METADATA_FILE
    if not metadata_path.exists():
        raise FileNotFoundError(f"model {model_version}: no {METADATA_FILE} under {directory}")
    return (directory / MODEL_FILE).read_text(encoding="utf-8"), json.loads(metadata_path.read_text(encoding="utf-8"))
