"""Shared pytest fixtures: where the real TCGA data lives, and the GDC stand-in on a free port. The pipeline
worlds are in tests/worlds.py."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# The pipeline worlds (built once per session, copied where a test mutates one) live in tests/worlds.py.
pytest_plugins = ["tests.worlds"]


def shared_dir() -> Path:
    """`../shared` beside the clone (CI always has it), or GLIOMA_SHARED_DIR."""
    return Path(os.environ.get("GLIOMA_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


# `make test` hands test files to the xdist workers longest first (longest-processing-time scheduling), so the
# short files fill the gaps at the end instead of a long one running alone: the files below in this order (measured
# in a full run, 2026-12-06), then the others with most tests first (what xdist does by default). Needs
# --no-loadscope-reorder, so xdist keeps this order. The builders of the pipeline worlds come early (PostgreSQL: the
# synthetic catalogs; real expression data; faults: the reliability world) and the real typing test, which only
# reads the real expression world, late enough to find it built.
LONGEST_FIRST: tuple[str, ...] = (
    "tests/orchestration/test_postgres_deployment.py",
    "tests/assets/test_expression_real_data.py",
    "tests/lake/test_object_store_lake.py",
    "tests/reliability/test_faults.py",
    "tests/orchestration/test_ui_guard.py",
    "tests/orchestration/test_release_lifecycle.py",
    "tests/reliability/test_kills.py",
    "tests/orchestration/test_ui_browser.py",
    "tests/orchestration/test_operations.py",
    "tests/orchestration/test_pipeline_end_to_end.py",
    "tests/reliability/test_analysts_read_truth.py",
    "tests/warehouse/test_manifest_repair.py",
    "tests/models/test_molecular_typing.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    tests_per_file = Counter(item.nodeid.split("::")[0] for item in items)
    rank = {path: position for position, path in enumerate(LONGEST_FIRST)}

    def position(item) -> tuple[int, int]:
        path = item.nodeid.split("::")[0]
        return (rank.get(path, len(LONGEST_FIRST)), -tests_per_file[path])

    items.sort(key=position)  # stable: a file's tests keep their order


REALDATA_DIR = shared_dir() / "realdata"
REAL_DEV_BUNDLE = REALDATA_DIR / "bundles" / "tcga_gbmlgg_dev"


@pytest.fixture(autouse=True)
def _no_disposed_dagster_instance_left_current() -> None:
    """Dagster keeps the defs-state storage of the instance entered last in a ContextVar (set in
    `DagsterInstance.__enter__`). An instance entered twice leaves its storage there after it is disposed and its
    temporary directory deleted, and a later test's un-entered `DagsterInstance.ephemeral()` then reads that deleted
    database ("unable to open database file"). Every test starts with none; a test that enters an instance sets it."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)


@pytest.fixture(scope="session")
def realdata_dir() -> Path:
    if not (REALDATA_DIR / "README.md").exists():
        pytest.skip(
            f"real TCGA data not found at {REALDATA_DIR}: it ships beside the repository as ../shared/realdata "
            "(set GLIOMA_SHARED_DIR to point elsewhere)"
        )
    return REALDATA_DIR


@pytest.fixture(scope="session")
def real_dev_bundle(realdata_dir: Path) -> Path:
    return realdata_dir / "bundles" / "tcga_gbmlgg_dev"


@pytest.fixture
def gdc_standin_factory() -> Iterator:
    """Start a GDC stand-in on a free 127.0.0.1 port for a bundle root; stopped after the test.

    Usage: `server = gdc_standin_factory(bundle_root)`; `server.base_url`, `server.faults.inject(...)`.
    """
    from sandbox.gdc_standin import GdcStandIn

    started = []

    def start(bundle_root: Path, **kwargs):
        server = GdcStandIn(bundle_root, port=0, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAS_CHROMIUM = Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1600,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
