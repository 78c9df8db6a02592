"""Harmonised expression (transforms.expression): the sample rule, the set-aside reasons, DESeq2 size factors
against R's DESeq2, and the tiled long table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from contracts.schemas import HARMONISED_EXPRESSION_SCHEMA, RAW_EXPRESSION_FILES_SCHEMA
from transforms.expression import (
    CASE_NOT_IN_PATIENTS,
    GENE_MODEL_DIFFERS,
    GENE_SET_DIFFERS,
    NON_TUMOUR_SAMPLE,
    OTHER_SAMPLE_OF_CASE,
    SizeFactors,
    build_expression,
    expression_rejects,
    expression_samples,
    reconcile_expression_files,
)
from transforms.expression_files import parse_star_counts

REFERENCE = Path(__file__).parent / "reference"
GENES = [("ENSG00000000003.15", "TSPAN6"), ("ENSG00000000005.6", "TNMD"), ("ENSG00000146648.18", "EGFR")]


def star_file(counts: list[int], model: str = "GENCODE v36", genes=GENES) -> bytes:
    header = "gene_id\tgene_name\tgene_type\tunstranded\tstranded_first\tstranded_second\ttpm_unstranded\t"
    header += "fpkm_unstranded\tfpkm_uq_unstranded"
    lines = [f"# gene-model: {model}", header]
    lines += [
        f"{name}\t\t\t10\t10\t10\t\t\t" for name in ("N_unmapped", "N_multimapping", "N_noFeature", "N_ambiguous")
    ]
    total = sum(counts) or 1
    for (gene_id, name), count in zip(genes, counts, strict=False):
        tpm = count / total * 1e6
        lines.append(
            f"{gene_id}\t{name}\tprotein_coding\t{count}\t{count // 2}\t{count - count // 2}\t{tpm:.4f}\t1.0\t2.0"
        )
    return ("\n".join(lines) + "\n").encode()


def document_row(file_id, case_id, barcode, sample_type="Primary Tumor", sample="01A", aliquot="01A-11R-A001-07"):
    return {
        "release": "45.0",
        "file_id": file_id,
        "file_name": f"{file_id}.rna_seq.augmented_star_gene_counts.tsv",
        "md5sum": "0" * 32,
        "file_size": 100,
        "case_id": case_id,
        "submitter_id": barcode,
        "project_id": "TCGA-LGG",
        "sample_submitter_id": f"{barcode}-{sample}",
        "sample_type": sample_type,
        "aliquot_submitter_id": f"{barcode}-{aliquot}",
        "document": f'{{"file_id": "{file_id}"}}',
    }


def world(files: list[tuple[dict, bytes]]):
    frame = pl.DataFrame([row for row, _ in files], schema=RAW_EXPRESSION_FILES_SCHEMA)
    parsed = {
        row["file_id"]: parse_star_counts(data, release="45.0", file_id=row["file_id"], md5="0" * 32)
        for row, data in files
    }
    qc = pl.DataFrame([p.qc for p in parsed.values()])
    return frame, qc, parsed


def test_one_sample_per_case_primary_before_recurrent_then_aliquot_and_every_other_file_says_why():
    good = star_file([100, 0, 300])
    files = [
        (document_row("f-recurrent", "c1", "TCGA-AA-0001", "Recurrent Tumor", "02A", "02A-11R-A001-07"), good),
        (document_row("f-primary-21", "c1", "TCGA-AA-0001", aliquot="01A-21R-A001-07"), good),
        (document_row("f-primary-11", "c1", "TCGA-AA-0001", aliquot="01A-11R-A001-07"), good),
        (document_row("f-normal", "c2", "TCGA-AA-0002", "Solid Tissue Normal", "11A", "11A-01R-A001-07"), good),
        (document_row("f-recurrent-only", "c3", "TCGA-AA-0003", "Recurrent Tumor", "02A", "02A-11R-A001-07"), good),
        (document_row("f-gencode", "c4", "TCGA-AA-0004"), star_file([1, 2, 3], model="GENCODE v22")),
        (document_row("f-fewer-genes", "c5", "TCGA-AA-0005"), star_file([1, 2], genes=GENES[:2])),
        (document_row("f-no-patient", "c6", "TCGA-AA-0006"), good),
        (document_row("f-broken", "c7", "TCGA-AA-0007"), good.replace(b"\t300\t", b"\tx\t")),
    ]
    raw, qc, _ = world(files)
    samples = expression_samples(raw, qc, ["c1", "c2", "c3", "c4", "c5", "c7"])
    reasons = dict(zip(samples["file_id"], samples["set_aside_reason"], strict=True))
    assert reasons == {
        "f-primary-11": None,
        "f-primary-21": OTHER_SAMPLE_OF_CASE,
        "f-recurrent": OTHER_SAMPLE_OF_CASE,
        "f-normal": NON_TUMOUR_SAMPLE,
        "f-recurrent-only": None,  # a recurrent tumour is the case's sample when there is no primary
        "f-gencode": GENE_MODEL_DIFFERS,
        "f-fewer-genes": GENE_SET_DIFFERS,
        "f-no-patient": CASE_NOT_IN_PATIENTS,
        "f-broken": "expression_non_numeric_cell",
    }
    rejects = expression_rejects(samples, raw, qc)
    assert sorted(rejects["reason"]) == sorted(r for r in reasons.values() if r)
    broken = rejects.filter(pl.col("reason") == "expression_non_numeric_cell").row(0, named=True)
    assert (broken["table"], broken["field"], broken["value"]) == ("raw/expression_counts", "line 9: unstranded", "x")
    assert "f-broken" in broken["detail"] and "line 9" in broken["detail"]
    other = rejects.filter(pl.col("value") == "TCGA-AA-0001-01A-21R-A001-07").row(0, named=True)
    assert "TCGA-AA-0001-01A-11R-A001-07" in other["detail"]  # names the sample used instead
    counts = reconcile_expression_files(raw, samples, rejects)
    assert counts["reconciles"] and (counts["raw_files"], counts["used"], counts["set_aside"]) == (9, 2, 7)
    assert not reconcile_expression_files(raw, samples, rejects.head(3))["reconciles"]


def _reference(name: str) -> tuple[np.ndarray, np.ndarray]:
    counts = pl.read_csv(REFERENCE / f"counts_{name}.csv")
    expected = pl.read_csv(REFERENCE / f"size_factors_{name}.csv")
    return counts.drop("gene").to_numpy(), expected["size_factor"].to_numpy()


@pytest.mark.parametrize(("name", "method"), [("ratio", "median_of_ratios"), ("sparse", "poscounts")])
def test_size_factors_equal_r_deseq2(name, method):
    """Reference: DESeq2 1.38.3 estimateSizeFactorsForMatrix (tests/transforms/reference/deseq2_size_factors.R)."""
    counts, expected = _reference(name)
    factors = SizeFactors(counts.shape[0])
    for sample in counts.T:
        factors.add(sample)
    factors.finish()
    assert factors.method == method
    got = np.array([factors.size_factor(sample) for sample in counts.T])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_the_long_table_in_tiles_holds_every_value_and_normalises_by_the_size_factor():
    rng = np.random.default_rng(5)
    names = ["EGFR", "OLIG2", "VEGFA", "AAA1", "ZZZ9", "MGMT", "CD44"]
    genes = [(f"ENSG{k:011d}.1", name) for k, name in enumerate(names)]
    files, counts_by_case = [], {}
    for case in range(5):
        counts = rng.integers(1, 5000, len(genes)).tolist()
        counts_by_case[f"TCGA-AA-{case:04d}"] = counts
        files.append((document_row(f"f{case}", f"c{case}", f"TCGA-AA-{case:04d}"), star_file(counts, genes=genes)))
    raw, qc, parsed = world(files)
    samples = expression_samples(raw, qc, [f"c{case}" for case in range(5)])
    reference = parsed["f0"].genes.select("gene_id", "gene_name", "gene_type")

    def read_counts(file_ids, columns):
        return {f: parsed[f].genes.select(list(columns)) for f in file_ids}

    tiles: list[pl.DataFrame] = []
    samples, method = build_expression(
        samples, reference, read_counts, tiles.append, cases_per_block=2, genes_per_tile=3
    )
    assert method == "median_of_ratios"
    assert len(tiles) == 3 * 3  # 3 blocks of patients (2, 2, 1) x 3 gene tiles (3, 3, 1 genes)
    table = pl.concat(tiles)
    assert dict(table.schema) == HARMONISED_EXPRESSION_SCHEMA and table.height == 5 * len(genes)
    for tile in tiles:  # each tile holds a narrow range of gene names: the statistics skip the others
        assert tile["gene_name"].n_unique() <= 3
    factor = dict(zip(samples["submitter_id"], samples["size_factor"], strict=True))
    for row in table.iter_rows(named=True):
        count = counts_by_case[row["submitter_id"]][names.index(row["gene_name"])]
        assert row["unstranded_count"] == count
        assert row["log2_normalised_count"] == pytest.approx(np.log2(count / factor[row["submitter_id"]] + 1))
        assert row["gene_id_unversioned"] == row["gene_id"].split(".")[0]
