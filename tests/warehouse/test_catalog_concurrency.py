"""Analysts read while a refresh publishes: a reader process loops over fresh read-only connections and
one long-lived connection during a real refresh of the next release. No read fails, no answer mixes
releases, new connections see the new release once it is published, and the long-lived connection keeps
reading the catalog it opened (documented in the README)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from assets.partitions import gdc_releases
from assets.resources import GdcApiResource, GenePanelResource, LakeResource, ModelTrainingResource
from orchestration.definitions import build_definitions

pytestmark = pytest.mark.slow

READER = r"""
import json, sys, time, duckdb
catalog, stop_file, out, kind = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
QUERIES = {
    "current": "select list(distinct release order by release) from harmonised.patients_current",
    "scores_current": "select list(distinct release order by release) from scores.grading_current",
    "all": "select list(distinct release order by release) from harmonised.patients",
    "published": "select list(release order by release) from ops.catalog_releases where status = 'published'",
}
def observe(connection):
    return {name: connection.execute(sql).fetchone()[0] for name, sql in QUERIES.items()}
import os
# One kind per process: within one process DuckDB hands a new connect() the database instance an open
# connection already holds, so fresh connections beside a long-lived one would see its (old) catalog.
long_lived = duckdb.connect(catalog, read_only=True) if kind == "long" else None
with open(out, "w") as log:
    while not os.path.exists(stop_file):
        if True:
            try:
                if kind == "fresh":
                    with duckdb.connect(catalog, read_only=True) as connection:
                        seen = observe(connection)
                else:
                    seen = observe(long_lived)
                log.write(json.dumps({"kind": kind, "t": time.time(), **seen}) + "\n")
            except Exception as error:
                log.write(json.dumps({"kind": kind, "t": time.time(), "error": repr(error)}) + "\n")
        log.flush()
        time.sleep(0.02)
"""


def test_reads_during_a_publish_never_fail_or_mix_releases(synthetic_two_release_root, one_release_catalog_copy):
    from sandbox.gdc_standin import GdcStandIn

    root, _, _ = synthetic_two_release_root
    # The first release refreshed and trained by the real jobs (tests/worlds.py), copied: this test publishes into it.
    tmp_path, first, second = one_release_catalog_copy
    server = GdcStandIn(root, port=0)
    server.start()
    instance = DagsterInstance.ephemeral()
    defs = build_definitions(
        {
            "gdc": GdcApiResource(base_url=server.base_url, backoff_factor=0.01),
            "lake": LakeResource(data_dir=str(tmp_path)),
            "gene_panels": GenePanelResource(),
            "model_training": ModelTrainingResource(
                n_splits=2, n_repeats=1, survival_baselines=False, classifier_baselines=False
            ),
        }
    )

    def run(job: str, release: str) -> None:
        if not instance.has_dynamic_partition(gdc_releases.name, release):
            instance.add_dynamic_partitions(gdc_releases.name, [release])
        assert defs.resolve_job_def(job).execute_in_process(partition_key=release, instance=instance).success

    catalog, stop, log = tmp_path / "warehouse.duckdb", tmp_path / "stop", tmp_path / "reads.jsonl"
    try:
        readers = [
            subprocess.Popen([sys.executable, "-c", READER, str(catalog), str(stop), str(log) + kind, kind])
            for kind in ("fresh", "long")
        ]
        time.sleep(1.0)
        server.set_release(second)
        run("refresh_gdc_release", second)  # publishes the catalog at its end
        published_at = time.time()
        time.sleep(1.5)
        stop.touch()
        for reader in readers:
            reader.wait(timeout=30)
    finally:
        server.stop()

    reads = [json.loads(line) for kind in ("fresh", "long") for line in Path(str(log) + kind).read_text().splitlines()]
    assert len(reads) > 50, len(reads)
    assert [r for r in reads if "error" in r] == []
    for r in reads:
        # One release per _current view, and every all-release view lists only published releases.
        assert len(r["current"]) == 1 and r["scores_current"] == r["current"], r
        assert set(r["all"]) <= set(r["published"]) and r["current"] == [max(r["published"], key=float)], r
    fresh_after = [r for r in reads if r["kind"] == "fresh" and r["t"] > published_at + 0.2]
    assert fresh_after and all(r["current"] == [second] for r in fresh_after)
    long_lived = [r for r in reads if r["kind"] == "long"]
    assert all(r["current"] == [first] for r in long_lived)  # it reads the catalog it opened
    with duckdb.connect(str(catalog), read_only=True) as connection:
        assert (
            connection.execute("select count(*) from ops.catalog_releases where status='published'").fetchone()[0] == 2
        )
