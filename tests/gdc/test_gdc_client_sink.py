"""Searches streamed page by page into a Parquet partition: identical to the in-memory result, also
when the search has to start over (server ignoring sort, release switch), and nothing published on failure."""

from __future__ import annotations

import json

import pytest

from contracts.schemas import RAW_CASES_SCHEMA
from gdc.client import GdcClient, GdcError
from lake.store import Lake
from transforms.raw_tables import raw_cases_table

FILTERS = {"op": "in", "content": {"field": "project.project_id", "value": ["TCGA-GBM", "TCGA-LGG"]}}


def _search(client: GdcClient, lake: Lake, release: str):
    sink = lake.sink("raw", "gdc_cases", release, RAW_CASES_SCHEMA, lambda hits: raw_cases_table(hits, release))
    try:
        result = client.search_all(
            "cases", filters=FILTERS, expand=["project"], sort="case_id:asc", page_size=100, sink=sink
        )
        written = sink.commit()
    except BaseException:
        sink.abort()
        raise
    return result, written


@pytest.mark.realdata
@pytest.mark.parametrize("fault", [None, "unsorted_paging"])
def test_streamed_search_equals_the_bundle_even_when_paging_is_repaired(
    real_dev_bundle, gdc_standin_factory, tmp_path, fault
):
    server = gdc_standin_factory(real_dev_bundle)
    if fault:
        server.faults.inject(fault, endpoint="/cases", times=None)
    lake = Lake(tmp_path)
    with GdcClient(base_url=server.base_url, backoff_factor=0.01) as client:
        result, written = _search(client, lake, "45.0")
    assert result.hits == []  # the sink took them
    assert written.rows == result.total == 777
    table = lake.read("raw", "gdc_cases", "45.0")
    expected = {json.loads(line)["case_id"] for line in open(real_dev_bundle / "releases" / "45.0" / "cases.jsonl")}
    assert set(table["case_id"]) == expected and table["case_id"].n_unique() == 777
    assert list(tmp_path.rglob("*.tmp")) == []


def test_a_release_switch_mid_search_restarts_the_sink_on_the_new_release(
    synthetic_two_release_root, gdc_standin_factory, tmp_path
):
    root, first, second = synthetic_two_release_root
    server = gdc_standin_factory(root)
    server.set_release(first)
    server.faults.inject("release_switch", endpoint="/cases", times=1, after=0, to_release=second)
    lake = Lake(tmp_path)
    with GdcClient(base_url=server.base_url, backoff_factor=0.01) as client:
        result, written = _search(client, lake, "latest")
    assert result.release == second
    cases = lake.read("raw", "gdc_cases", "latest")
    second_ids = {json.loads(line)["case_id"] for line in open(root / "releases" / second / "cases.jsonl")}
    assert set(cases["case_id"]) == second_ids and cases.height == written.rows == len(second_ids)


def test_an_unrecoverable_failure_publishes_nothing(synthetic_two_release_root, gdc_standin_factory, tmp_path):
    root, first, _ = synthetic_two_release_root
    server = gdc_standin_factory(root)
    server.set_release(first)
    server.faults.inject("http_503", endpoint="/cases", times=None, after=1)  # page 2 onwards fails
    lake = Lake(tmp_path)
    with GdcClient(base_url=server.base_url, backoff_factor=0.01, max_retries=1) as client:
        with pytest.raises(GdcError, match="page 2"):
            _search(client, lake, first)
    assert not lake.exists("raw", "gdc_cases", first)
    assert list(tmp_path.rglob("*.tmp")) == []
