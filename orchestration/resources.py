"""Dagster resources: configuration of the outside world (GDC, the lake, gene panels)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from orchestration.gdc_client import LIVE_GDC_BASE_URL, GdcClient
from transforms.panels import CNV_PANEL_GENES, GLIOMA_PROJECTS, SSM_PANEL_GENES
from warehouse.lake import Lake


class GdcApiResource(ConfigurableResource):
    """The GDC REST API. The default is the live API; point `base_url` at the local stand-in offline
    (the Definitions read it from the GDC_BASE_URL environment variable)."""

    base_url: str = LIVE_GDC_BASE_URL
    token: str | None = Field(default=None, description="X-Auth-Token for controlled data; never logged")
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

    def client(self, logger: Any = None) -> GdcClient:
        return GdcClient(
            base_url=self.base_url,
            token=self.token or None,
            page_size=self.page_size,
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            max_retries=self.max_retries,
            backoff_factor=self.backoff_factor,
            logger=logger,
        )


class LakeResource(ConfigurableResource):
    """Where the lake, the warehouse catalog, model artifacts and reports live."""

    data_dir: str = "data"

    @property
    def lake(self) -> Lake:
        return Lake(self.data_dir)

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
    """Which projects and genes the raw layer asks GDC for (defaults: transforms/panels.py)."""

    projects: list[str] = Field(default_factory=lambda: list(GLIOMA_PROJECTS))
    ssm_genes: list[str] = Field(default_factory=lambda: list(SSM_PANEL_GENES))
    cnv_genes: list[str] = Field(default_factory=lambda: list(CNV_PANEL_GENES))


class ModelTrainingResource(ConfigurableResource):
    """Cross-validation effort. The defaults are the issue's 5 x 5 repeated stratified k-fold."""

    n_splits: int = 5
    n_repeats: int = 5
    survival_baselines: bool = Field(
        default=True, description="CoxPH, RSF and GBSA from scikit-survival in the same folds"
    )


def default_resources() -> dict[str, Any]:

    return {
        "gdc": GdcApiResource(
            base_url=EnvVar("GDC_BASE_URL").get_value(LIVE_GDC_BASE_URL) or LIVE_GDC_BASE_URL,
            # An EnvVar (not its value) so the token never shows in the UI's resource config.
            token=EnvVar("GDC_TOKEN") if os.environ.get("GDC_TOKEN") else None,
            page_size=int(EnvVar("GDC_PAGE_SIZE").get_value("1000") or 1000),
        ),
        "lake": LakeResource(data_dir=EnvVar("GLIOMA_DATA_DIR").get_value("data") or "data"),
        "gene_panels": GenePanelResource(),
        "model_training": ModelTrainingResource(),
    }
