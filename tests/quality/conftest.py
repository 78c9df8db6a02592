"""Fixtures of the quality tests: the real dev bundle's raw tables, built once per session."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from _quality_frames import real_raw_tables


@pytest.fixture(scope="session")
def real_raw_frames(realdata_dir: Path) -> dict[str, pl.DataFrame]:
    # The dev bundle with its RNA-seq files: the same cases, documents and methylation files, plus expression.
    return real_raw_tables(realdata_dir / "bundles" / "tcga_gbmlgg_dev_rna")
