"""The real dev cohort's RNA-seq (../shared/realdata/bundles/tcga_gbmlgg_dev_rna: 410 GDC STAR-counts files) through
the real refresh job: every value in the lake equals its file's cell, files reconcile, the checks pass, and the
biology the bundle's README lists comes out of the lake's own normalised values and IDH calls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import ttest_ind

from contracts.schemas import STAR_DECIMAL
from contracts.tables import (
    HARMONISED_EXPRESSION,
    HARMONISED_EXPRESSION_SAMPLES,
    HARMONISED_MOLECULAR_MARKERS,
    HARMONISED_QUARANTINE,
    RAW_EXPRESSION_COUNTS,
    RAW_EXPRESSION_FILE_QC,
    RAW_EXPRESSION_FILES,
)
from lake.store import Lake
from tests.conftest import REALDATA_DIR

pytestmark = pytest.mark.realdata
RELEASE = "45.0"
BUNDLE_RELEASE = REALDATA_DIR / "bundles" / "tcga_gbmlgg_dev_rna" / "releases" / RELEASE
INTEGER_COLUMNS = ("unstranded", "stranded_first", "stranded_second")
DECIMAL_COLUMNS = ("tpm_unstranded", "fpkm_unstranded", "fpkm_uq_unstranded")


@pytest.fixture(scope="module")
def lake(real_rna_lake: Path) -> Lake:
    # The refresh succeeded but published nothing (no champion scores yet): read what its run wrote.
    return Lake(real_rna_lake, finished=lambda writer: True)


def _files_in_bundle() -> dict[str, dict]:
    documents = {}
    for line in (BUNDLE_RELEASE / "files.jsonl").read_text().splitlines():
        document = json.loads(line)
        if document.get("data_type") == "Gene Expression Quantification":
            documents[document["file_id"]] = document
    return documents


def _cells_as_written(file_id: str) -> pl.DataFrame:
    """An independent reading of one file: split lines and cells, no CSV reader, numbers from their text."""
    lines = (BUNDLE_RELEASE / "data" / file_id).read_text().splitlines()
    rows = [line.split("\t") for line in lines[6:]]
    return pl.DataFrame(
        {
            "file_id": [file_id] * len(rows),
            "gene_id": [r[0] for r in rows],
            "gene_name": [r[1] for r in rows],
            "gene_type": [r[2] for r in rows],
            **{c: [int(r[3 + k]) for r in rows] for k, c in enumerate(INTEGER_COLUMNS)},
            **{c: [r[6 + k] for r in rows] for k, c in enumerate(DECIMAL_COLUMNS)},
        }
    ).with_columns(pl.col(DECIMAL_COLUMNS).cast(STAR_DECIMAL))  # the cell's text as an exact decimal


def test_all_410_files_are_in_raw_and_reconcile_with_used_and_set_aside(lake: Lake):
    documents = _files_in_bundle()
    assert len(documents) == 410
    raw = lake.read_table(RAW_EXPRESSION_FILES, RELEASE)
    assert set(raw["file_id"]) == set(documents)
    qc = lake.read_table(RAW_EXPRESSION_FILE_QC, RELEASE)
    assert qc["parsed"].all() and set(qc["gene_model"]) == {"GENCODE v36"} and set(qc["gene_rows"]) == {1542}
    samples = lake.read_table(HARMONISED_EXPRESSION_SAMPLES, RELEASE)
    used, aside = samples.filter(pl.col("used")), samples.filter(~pl.col("used"))
    assert used.height + aside.height == 410 and samples["file_id"].n_unique() == 410
    assert used["case_id"].n_unique() == used.height  # one sample per patient
    # A file is set aside only when its case was itself quarantined (the real cohort has one: a follow-up of -1 day).
    quarantine = lake.read_table(HARMONISED_QUARANTINE, RELEASE)
    rejected_cases = set(quarantine.filter(pl.col("table") == "raw/gdc_cases")["case_id"])
    assert set(aside["set_aside_reason"]) <= {"expression_case_not_in_patients"}
    assert set(aside["case_id"]) <= rejected_cases
    in_quarantine = quarantine.filter(pl.col("reason").str.starts_with("expression_"))
    assert in_quarantine.height == aside.height
    assert used.height >= 405


def test_every_value_in_the_lake_equals_its_files_cell(lake: Lake):
    written = pl.concat([_cells_as_written(file_id) for file_id in sorted(_files_in_bundle())])
    raw = lake.read_table(RAW_EXPRESSION_COUNTS, RELEASE).drop("release", "md5sum")
    assert raw.height == written.height == 410 * 1542
    key = ["file_id", "gene_id"]
    assert raw.sort(key).select(written.columns).equals(written.sort(key)), "raw/expression_counts differs from files"
    samples = lake.read_table(HARMONISED_EXPRESSION_SAMPLES, RELEASE).filter(pl.col("used"))
    harmonised = lake.read_table(HARMONISED_EXPRESSION, RELEASE)
    assert harmonised.height == samples.height * 1542
    expected = written.join(samples.select("file_id", "case_id", "size_factor"), on="file_id").select(
        "case_id",
        "gene_id",
        "gene_name",
        pl.col("unstranded").alias("unstranded_count"),
        pl.col("tpm_unstranded").alias("tpm"),
        pl.col("fpkm_uq_unstranded").alias("fpkm_uq"),
        (pl.col("unstranded") / pl.col("size_factor") + 1).log(2).alias("log2_normalised_count"),
    )
    got = harmonised.select(expected.columns).sort("case_id", "gene_id")
    expected = expected.sort("case_id", "gene_id")
    assert got.drop("log2_normalised_count").equals(expected.drop("log2_normalised_count"))
    np.testing.assert_allclose(got["log2_normalised_count"], expected["log2_normalised_count"], rtol=1e-12)


def test_size_factors_are_the_median_of_ratios_over_the_used_samples(lake: Lake):
    samples = lake.read_table(HARMONISED_EXPRESSION_SAMPLES, RELEASE).filter(pl.col("used"))
    counts = (
        lake.read_table(RAW_EXPRESSION_COUNTS, RELEASE)
        .filter(pl.col("file_id").is_in(samples["file_id"].to_list()))
        .pivot(on="file_id", index="gene_id", values="unstranded")
    )
    matrix = counts.drop("gene_id").to_numpy().astype(float)
    with np.errstate(divide="ignore"):
        log_counts = np.log(matrix)
    log_geo_mean = log_counts.mean(axis=1)
    keep = np.isfinite(log_geo_mean)
    expected = {
        file_id: float(np.exp(np.median(log_counts[keep, k] - log_geo_mean[keep])))
        for k, file_id in enumerate(counts.columns[1:])
    }
    got = dict(zip(samples["file_id"], samples["size_factor"], strict=True))
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("gene", "higher_in"),
    [("EGFR", "wildtype"), ("VEGFA", "wildtype"), ("CD44", "wildtype"), ("MET", "wildtype"), ("OLIG2", "mutant")],
)
def test_the_readmes_biology_comes_out_of_the_lakes_own_values_and_idh_calls(lake: Lake, gene: str, higher_in: str):
    """realdata README, 'What a correct pipeline should reproduce': on counts / median of ratios, VEGFA, CD44, MET
    and EGFR are higher in IDH-wild-type gliomas, OLIG2 in IDH-mutant ones (standardised differences 0.4-1.1)."""
    values = (
        lake.scan(HARMONISED_EXPRESSION.layer, HARMONISED_EXPRESSION.name, RELEASE)
        .filter(pl.col("gene_name") == gene)
        .select("case_id", "log2_normalised_count")
        .collect()
        .join(lake.read_table(HARMONISED_MOLECULAR_MARKERS, RELEASE).select("case_id", "idh_status"), on="case_id")
        .filter(pl.col("idh_status").is_not_null())
        .with_columns(
            (pl.col("log2_normalised_count") - pl.col("log2_normalised_count").mean())
            / pl.col("log2_normalised_count").std()
        )
    )
    wildtype = values.filter(pl.col("idh_status") == "wildtype")["log2_normalised_count"].to_numpy()
    mutant = values.filter(pl.col("idh_status") == "mutant")["log2_normalised_count"].to_numpy()
    assert len(wildtype) >= 80 and len(mutant) >= 250
    difference = wildtype.mean() - mutant.mean()
    sign = 1 if higher_in == "wildtype" else -1
    assert sign * difference > 0.4, f"{gene}: IDH-wildtype minus IDH-mutant = {difference:+.2f} SD"
    assert ttest_ind(wildtype, mutant, equal_var=False).pvalue < 1e-2  # Welch t; VEGFA is the weakest (p ~ 0.001)
