"""Fixtures of the quality tests: the real dev bundle's raw tables, built once per session."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from _quality_frames import real_raw_tables


@pytest.fixture(scope="session")
def real_raw_frames(real_dev_bundle: Path) -> dict[str, pl.DataFrame]:
    return real_raw_tables(real_dev_bundle)
