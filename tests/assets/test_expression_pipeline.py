"""Expression through the real jobs on the synthetic two-release world (tests/worlds.py: 400-gene files generated
by the stand-in on request, four broken on purpose): the quarantine names each bad file, files reconcile in both
releases, the second release re-parses only changed files, the release diff says which cases gained, lost or
changed expression, the catalog serves the tables and the CLI shows a patient's sample, and the planted biology
comes out of the lake."""

from __future__ import annotations

import io
import json

import duckdb
import polars as pl
import pytest

from contracts.tables import (
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_QUARANTINE,
    HARMONISED_RELEASE_CHANGES,
    RAW_EXPRESSION_FILE_QC,
)
from lake.store import Lake
from sandbox.synthetic.expression import EXPRESSION_SOURCES_FILE
from transforms.expression_files import DUPLICATE_GENE, NON_NUMERIC, TRUNCATED, WRONG_HEADER
from warehouse.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(two_release_catalog, synthetic_two_release_root):
    data_dir, first, second = two_release_catalog
    root = synthetic_two_release_root[0]
    return Lake(data_dir), data_dir, root, first, second


def _sources(root, release) -> pl.DataFrame:
    return pl.read_parquet(root / "releases" / release / EXPRESSION_SOURCES_FILE)


def test_each_bad_file_is_quarantined_by_file_case_line_and_value_and_the_rest_publishes(world):
    lake, _, root, first, _ = world
    sources = _sources(root, first)
    bad = sources.filter(pl.col("bad_kind").is_not_null())
    assert bad.height == 4
    quarantine = lake.read_table(HARMONISED_QUARANTINE, first).filter(pl.col("reason").str.starts_with("expression_"))
    expected_reason = {
        "truncated": TRUNCATED,
        "non_numeric_cell": NON_NUMERIC,
        "wrong_header": WRONG_HEADER,
        "duplicate_gene": DUPLICATE_GENE,
    }
    for row in bad.iter_rows(named=True):
        found = quarantine.filter(pl.col("record").str.contains(row["file_id"], literal=True))
        assert found.height == 1, row
        entry = found.row(0, named=True)
        assert entry["reason"] == expected_reason[row["bad_kind"]]
        assert entry["case_id"] == row["case_id"] and entry["field"].startswith("line ")
        assert row["file_id"] in entry["detail"] and row["submitter_id"] in entry["detail"]
        assert entry["value"] is not None or row["bad_kind"] == "truncated"
    samples = lake.read_table(HARMONISED_EXPRESSION_SAMPLES, first)
    assert samples.filter(pl.col("used")).height > 60  # the rest of the release is there


@pytest.mark.parametrize("which", [0, 1])
def test_files_reconcile_used_plus_set_aside_in_each_release(world, which):
    lake, _, root, *releases = world
    release = releases[which]
    sources = _sources(root, release)
    samples = lake.read_table(HARMONISED_EXPRESSION_SAMPLES, release)
    assert set(samples["file_id"]) == set(sources["file_id"])
    used = samples.filter(pl.col("used"))
    assert used["case_id"].n_unique() == used.height
    aside = samples.filter(~pl.col("used"))
    rejects = lake.read_table(HARMONISED_QUARANTINE, release).filter(pl.col("reason").str.starts_with("expression_"))
    assert rejects.height == aside.height
    # a second aliquot or a recurrent tumour never wins over the first primary aliquot
    chosen = used.join(sources.select("file_id", "sample_type", "aliquot_submitter_id"), on="file_id")
    assert set(chosen["sample_type"]) == {"Primary Tumor"}
    assert all("-01A-11R-" in a for a in chosen["aliquot_submitter_id"])


def test_the_second_release_reparses_only_new_or_changed_files(world):
    lake, _, root, first, second = world
    before, after = _sources(root, first), _sources(root, second)
    unchanged = after.join(before.select("file_id", "md5sum"), on=["file_id", "md5sum"], how="semi")
    assert 0 < unchanged.height < after.height
    qc_first = lake.read_table(RAW_EXPRESSION_FILE_QC, first).drop("release")
    qc_second = lake.read_table(RAW_EXPRESSION_FILE_QC, second).drop("release")
    same = qc_second.filter(pl.col("file_id").is_in(unchanged["file_id"].to_list())).sort("file_id")
    assert same.equals(qc_first.filter(pl.col("file_id").is_in(unchanged["file_id"].to_list())).sort("file_id"))


def test_the_release_diff_says_which_cases_gained_lost_or_changed_expression(world):
    lake, _, root, first, second = world
    changes = lake.read_table(HARMONISED_RELEASE_CHANGES, second).filter(
        pl.col("table") == "harmonised/expression_samples"
    )
    samples = {r: lake.read_table(HARMONISED_EXPRESSION_SAMPLES, r).filter(pl.col("used")) for r in (first, second)}
    before = dict(zip(samples[first]["case_id"], samples[first]["file_id"], strict=True))
    after = dict(zip(samples[second]["case_id"], samples[second]["file_id"], strict=True))
    added = set(changes.filter(pl.col("change") == "added")["case_id"])
    removed = set(changes.filter(pl.col("change") == "removed")["case_id"])
    changed = set(changes.filter((pl.col("change") == "changed") & (pl.col("field") == "file_id"))["case_id"])
    assert added == set(after) - set(before)
    assert removed == set(before) - set(after)
    assert changed == {case for case in set(before) & set(after) if before[case] != after[case]}
    assert added or removed or changed


def test_the_catalog_serves_expression_and_a_wide_gene_view_is_one_query(world):
    _, data_dir, _, _, second = world
    # the README's wide query, as an analyst runs it: through the read-only `glioma sql`
    wide_sql = (
        "pivot (select submitter_id, gene_name, log2_normalised_count from harmonised.expression_current "
        "where gene_name in ('EGFR', 'OLIG2', 'VEGFA')) on gene_name in ('EGFR', 'OLIG2', 'VEGFA') "
        "using first(log2_normalised_count) order by submitter_id"
    )
    out, err = io.StringIO(), io.StringIO()
    assert (
        main(["--catalog", str(data_dir / "warehouse.duckdb"), "sql", "--csv", wide_sql], stdout=out, stderr=err) == 0
    )
    wide = pl.read_csv(io.StringIO(out.getvalue()))
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as db:
        release = db.execute("select distinct release from harmonised.expression_current").fetchall()
        assert release == [(second,)]
        used = db.execute("select count(*) from harmonised.expression_samples_current where used").fetchone()[0]
        assert wide.columns == ["submitter_id", "EGFR", "OLIG2", "VEGFA"] and wide.height == used
        comment = db.execute(
            "select comment from duckdb_views() where schema_name = 'harmonised' and view_name = 'expression_current'"
        ).fetchone()[0]
        assert comment and "log2" in comment


def test_glioma_patient_shows_the_patients_expression_sample(world):
    _, data_dir, _, _, second = world
    lake = world[0]
    used = lake.read_table(HARMONISED_EXPRESSION_SAMPLES, second).filter(pl.col("used")).row(0, named=True)
    out, err = io.StringIO(), io.StringIO()
    catalog = str(data_dir / "warehouse.duckdb")
    assert main(["--catalog", catalog, "patient", used["submitter_id"]], stdout=out, stderr=err) == 0
    card = out.getvalue()
    assert "Gene expression" in card and used["sample_submitter_id"] in card and used["file_id"] in card
    out = io.StringIO()
    assert main(["--catalog", catalog, "patient", "--json", used["submitter_id"]], stdout=out, stderr=err) == 0
    samples = json.loads(out.getvalue())["expression_samples"]
    assert [s["file_id"] for s in samples if s["used"]] == [used["file_id"]]


def test_the_planted_biology_comes_out_of_the_lakes_values_and_idh_calls(world):
    """sandbox.synthetic.expression plants EGFR higher in IDH-wildtype tumours and OLIG2 in IDH-mutant ones."""
    lake, _, _, first, _ = world
    values = (
        lake.scan(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, first)
        .filter(pl.col("gene_name").is_in(["EGFR", "OLIG2"]))
        .collect()
        .join(
            lake.scan("harmonised", "molecular_markers", first).select("case_id", "idh_status").collect(), on="case_id"
        )
        .group_by("gene_name", "idh_status")
        .agg(pl.col("log2_normalised_count").mean().alias("mean"), pl.len())
    )
    mean = {(r["gene_name"], r["idh_status"]): r["mean"] for r in values.iter_rows(named=True)}
    assert mean[("EGFR", "wildtype")] - mean[("EGFR", "mutant")] > 1.0
    assert mean[("OLIG2", "mutant")] - mean[("OLIG2", "wildtype")] > 0.6
