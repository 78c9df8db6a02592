"""Dagster resources: configuration of the outside world (GDC, the lake, gene panels, training effort).

No value is read from the environment when this module or the definitions are imported: the
Definitions pass `EnvVar`s, which Dagster resolves when a run or a sensor tick starts, and the GDC
token is read from its environment variable or secret file only when a client is built.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, DagsterRunStatus, InitResourceContext
from pydantic import Field, PrivateAttr

from contracts.panels import CNV_PANEL_GENES, GLIOMA_PROJECTS, SSM_PANEL_GENES
from gdc.client import LIVE_GDC_BASE_URL, GdcClient, GdcError
from lake.store import Lake

# /status answers in well under a second; waiting longer only delays the news that GDC is down. At most two
# attempts of (3 s connect + 5 s read), Retry-After capped: well inside Dagster's 60 s sensor tick.
STATUS_PROBE: dict[str, float | int] = {
    "connect_timeout": 3.0,
    "read_timeout": 5.0,
    "max_retries": 1,
    "backoff_factor": 0.2,
    "backoff_max": 1.0,
    "retry_after_max": 2.0,
    "max_body_retries": 1,
}

LAKE_URL_ENV_VAR = "GLIOMA_LAKE_URL"


class GdcApiResource(ConfigurableResource):
    """The GDC REST API: the live API or the local stand-in, by `base_url` (the code location reads it
    from GDC_BASE_URL when a run starts)."""

    base_url: str = Field(default=LIVE_GDC_BASE_URL, description="GDC API root, e.g. https://api.gdc.cancer.gov")
    token_env_var: str = Field(
        default="GDC_TOKEN", description="environment variable holding the X-Auth-Token (controlled data only)"
    )
    token_file_env_var: str = Field(
        default="GDC_TOKEN_FILE", description="environment variable naming a file that holds the token"
    )
    page_size: int = 1000
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 120.0
    max_retries: int = 8
    backoff_factor: float = 0.5
    download_workers: int = Field(default=4, description="parallel file downloads (methylation betas)")
    archive_batch_files: int = Field(
        default=500,
        description="small files (< archive_file_max_bytes) are fetched this many per POST /data archive; 0 = one GET each",
    )
    archive_file_max_bytes: int = Field(default=4_000_000, description="larger files are streamed one by one")

    def token(self) -> str | None:
        """The token, read now (never stored in the resource config, so it never shows in the UI)."""
        token = os.environ.get(self.token_env_var, "").strip()
        token_file = os.environ.get(self.token_file_env_var, "").strip()
        if not token and token_file:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        return token or None

    def client(self, logger: Any = None, **overrides: Any) -> GdcClient:
        settings: dict[str, Any] = {
            "base_url": self.base_url,
            "token": self.token(),
            "page_size": self.page_size,
            "connect_timeout": self.connect_timeout_seconds,
            "read_timeout": self.read_timeout_seconds,
            "max_retries": self.max_retries,
            "backoff_factor": self.backoff_factor,
            "logger": logger,
        }
        settings.update(overrides)
        return GdcClient(**settings)

    def served_release(self, logger: Any = None) -> tuple[str | None, str]:
        """(the data release GDC serves, or None) and a sentence saying what happened, within the probe budget
        (used by the release sensor, the backstop schedule and the freshness check)."""
        started = time.monotonic()
        url = f"{self.base_url.rstrip('/')}/status"
        try:
            with self.client(logger=logger, **STATUS_PROBE) as client:
                label = client.status().data_release_label
        except (GdcError, OSError, ValueError) as error:
            return None, f"GDC /status at {url} could not be read after {time.monotonic() - started:.1f}s: {error}"
        return label, f"GDC /status at {url} serves data release {label}"


class LakeResource(ConfigurableResource):
    """Where the lake, the warehouse catalog, model artifacts and reports live."""

    data_dir: str = "data"
    lake_url: str = Field(
        default="",
        description=(
            "s3://bucket/prefix: the lake (and a copy of the catalog) on an S3-compatible object store "
            "(lake.object_store; endpoint and keys from the AWS_* environment). Empty: read "
            "GLIOMA_LAKE_URL when the run starts; unset too: the lake is <data_dir>/lake."
        ),
    )
    # The run writing through this resource: its versions are what its own steps read, and what its catalog
    # step commits (lake.store). Set per run by Dagster; outside a run the process is the writer.
    _run_id: str | None = PrivateAttr(default=None)
    _instance: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._run_id = context.run_id
        self._instance = context.instance

    def _run_succeeded(self, run_id: str) -> bool:
        """Versions written by a Dagster run are publishable once that run succeeded (never if it failed or died)."""
        if self._instance is None:
            return False
        run = self._instance.get_run_by_id(run_id)
        return run is not None and run.status == DagsterRunStatus.SUCCESS

    @property
    def resolved_lake_url(self) -> str | None:
        return self.lake_url or os.environ.get(LAKE_URL_ENV_VAR) or None

    @property
    def lake(self) -> Lake:
        return Lake(self.data_dir, writer=self._run_id, finished=self._run_succeeded, lake_url=self.resolved_lake_url)

    @property
    def root(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def catalog_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def registry_path(self) -> Path:
        return self.root / "model_registry.duckdb"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def reports_dir(self, release: str) -> Path:
        return self.root / "reports" / release


class GenePanelResource(ConfigurableResource):
    """Which projects and genes the raw layer asks GDC for (defaults: contracts/panels.py)."""

    projects: list[str] = Field(default_factory=lambda: list(GLIOMA_PROJECTS))
    ssm_genes: list[str] = Field(default_factory=lambda: list(SSM_PANEL_GENES))
    cnv_genes: list[str] = Field(default_factory=lambda: list(CNV_PANEL_GENES))


class ModelTrainingResource(ConfigurableResource):
    """Cross-validation effort. The defaults are the issue's 5 x 5 repeated stratified k-fold."""

    n_splits: int = 5
    n_repeats: int = 5
    survival_baselines: bool = Field(
        default=True, description="CoxPH, RSF and GBSA from scikit-survival in the same folds (leaderboard)"
    )
    classifier_baselines: bool = Field(
        default=True,
        description=(
            "models/typing_comparison holds every model family (late fusion, logistic regression, SVM, random forest, "
            "MLP) and LightGBM without expression or histology; False: the registry recipe only"
        ),
    )
    challenger_feature_sets: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "Try a different recipe: task -> feature list for the challengers trained by this run (default: the "
            "recorded feature lists). The challenger is judged against the champion on the same folds."
        ),
    )
