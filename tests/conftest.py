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


# The order `make test` hands test files to its xdist workers (with --no-loadscope-reorder; otherwise files with most
# tests first). Every pipeline world is built once, by the first test that asks, while any other test that needs
# it waits on a lock doing nothing. So the first files are one builder per world, started together: the PostgreSQL
# deployment (one-release world; a single test of several minutes, mostly waiting on its step processes, that
# would otherwise start last and run alone), the real RNA world, the two-release world, then the reliability world
# (after one plain file, which the PostgreSQL worker takes as its second). The files that only read a world go
# last, the longest first, when their world is long built.
START_FIRST: tuple[str, ...] = (
    "tests/orchestration/test_postgres_deployment.py",
    "tests/assets/test_expression_real_data.py",
    "tests/warehouse/test_catalog_views.py",
    "tests/gdc/test_gdc_client.py",
    "tests/reliability/test_faults.py",
)
START_LAST: tuple[str, ...] = (
    "tests/lake/test_object_store_lake.py",
    "tests/reliability/test_kills.py",
    "tests/warehouse/test_cli.py",
    "tests/reliability/test_api_schema_changes.py",
    "tests/reliability/test_analysts_read_truth.py",
    "tests/reliability/test_fuzzed_documents.py",
    "tests/models/test_molecular_typing.py",
    "tests/assets/test_expression_analyses_real_data.py",
    "tests/assets/test_expression_analyses_reuse.py",
    "tests/assets/test_expression_pipeline.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    tests_per_file = Counter(item.nodeid.split("::")[0] for item in items)

    def position(item) -> tuple[int, int, int]:
        path = item.nodeid.split("::")[0]
        if path in START_FIRST:
            return (0, START_FIRST.index(path), 0)
        if path in START_LAST:
            return (2, START_LAST.index(path), 0)
        return (1, 0, -tests_per_file[path])

    items.sort(key=position)  # stable: a file's tests keep their order


REALDATA_DIR = shared_dir() / "realdata"
REAL_DEV_BUNDLE = REALDATA_DIR / "bundles" / "tcga_gbmlgg_dev"


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
