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


# `make test` hands test files to the xdist workers with most tests first (what xdist does by default) except these:
# long files with few tests, which would otherwise start last and run alone at the end (the PostgreSQL deployment
# test: one test of several minutes, mostly waiting on its step processes). Needs --no-loadscope-reorder, so xdist
# keeps this order. (Also tried: one builder per pipeline world first and the files that only read a world last,
# so no worker waits on a world's lock: 15 min 53 s against 15 min 10-30 s for this order; not kept.)
START_FIRST: tuple[str, ...] = ("tests/orchestration/test_postgres_deployment.py",)


def pytest_collection_modifyitems(config, items) -> None:
    tests_per_file = Counter(item.nodeid.split("::")[0] for item in items)

    def position(item) -> tuple[bool, int]:
        path = item.nodeid.split("::")[0]
        return (path not in START_FIRST, -tests_per_file[path])

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
