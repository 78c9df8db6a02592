"""Parsing GDC's augmented STAR counts files (transforms.expression_files): values exactly as written, per-file QC,
and each kind of bad file named by file, case, line, field and value."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from contracts.schemas import RAW_EXPRESSION_COUNTS_SCHEMA, STAR_COUNTS_COLUMNS
from sandbox.synthetic.expression import BAD_FILE_KINDS, ExpressionSource, expression_file_bytes
from transforms.expression_files import (
    BAD_GENE_ID,
    DUPLICATE_GENE,
    NEGATIVE_COUNT,
    NON_NUMERIC,
    NOT_TEXT,
    TRUNCATED,
    WRONG_CELL_COUNT,
    WRONG_HEADER,
    WRONG_SUMMARY_ROWS,
    parse_star_counts,
    raw_expression_files_table,
    unversioned_gene_id,
)

HEADER = "\t".join(STAR_COUNTS_COLUMNS)
GOOD = (
    "# gene-model: GENCODE v36\n"
    f"{HEADER}\n"
    "N_unmapped\t\t\t100\t100\t100\t\t\t\n"
    "N_multimapping\t\t\t200\t200\t200\t\t\t\n"
    "N_noFeature\t\t\t30\t400\t410\t\t\t\n"
    "N_ambiguous\t\t\t40\t5\t6\t\t\t\n"
    "ENSG00000000003.15\tTSPAN6\tprotein_coding\t1200\t600\t600\t600000.0000\t12.3456\t20.0001\n"
    "ENSG00000000005.6\tTNMD\tprotein_coding\t0\t0\t0\t0.0000\t0.0000\t0.0000\n"
    "ENSG00000002586.20_PAR_Y\tCD99\tprotein_coding\t800\t401\t399\t400000.0000\t8.2304\t13.3334\n"
)


def parse(text: str | bytes, case: str | None = "TCGA-06-0125"):
    data = text.encode() if isinstance(text, str) else text
    return parse_star_counts(data, release="45.0", file_id="file-1", md5="m" * 32, case=case)


def test_a_good_file_gives_every_cell_as_written_and_its_qc():
    parsed = parse(GOOD)
    assert parsed.problem is None
    assert dict(parsed.genes.schema) == RAW_EXPRESSION_COUNTS_SCHEMA
    assert parsed.genes["gene_id"].to_list() == ["ENSG00000000003.15", "ENSG00000000005.6", "ENSG00000002586.20_PAR_Y"]
    assert parsed.genes["unstranded"].to_list() == [1200, 0, 800]
    assert parsed.genes["stranded_second"].to_list() == [600, 0, 399]
    # exact decimals, as written (not floats near them)
    assert parsed.genes["fpkm_unstranded"].cast(pl.String).to_list() == ["12.3456", "0.0000", "8.2304"]
    assert parsed.genes["fpkm_uq_unstranded"].to_list() == [Decimal("20.0001"), Decimal("0"), Decimal("13.3334")]
    qc = parsed.qc
    assert qc["parsed"] and qc["gene_model"] == "GENCODE v36"
    assert (qc["n_unmapped_reads"], qc["n_multimapping_reads"], qc["n_nofeature_reads"], qc["n_ambiguous_reads"]) == (
        100,
        200,
        30,
        40,
    )
    assert qc["gene_rows"] == 3 and qc["library_size"] == 2000 and qc["genes_detected"] == 2 and qc["min_count"] == 0
    assert qc["tpm_sum"] == pytest.approx(1e6)


def test_the_gene_set_hash_depends_on_the_genes_and_their_order():
    lines = GOOD.splitlines(keepends=True)
    swapped = "".join(lines[:6] + [lines[7], lines[6], lines[8]])
    fewer = "".join(lines[:8])
    hashes = {parse(GOOD).qc["gene_set_hash"], parse(swapped).qc["gene_set_hash"], parse(fewer).qc["gene_set_hash"]}
    assert len(hashes) == 3
    assert parse(GOOD.replace("1200", "7")).qc["gene_set_hash"] == parse(GOOD).qc["gene_set_hash"]


def test_unversioned_gene_ids_keep_the_par_y_suffix():
    ids = pl.Series(["ENSG00000146648.18", "ENSG00000002586.20_PAR_Y"])
    assert pl.select(unversioned_gene_id(pl.lit(ids))).to_series().to_list() == [
        "ENSG00000146648",
        "ENSG00000002586_PAR_Y",
    ]


@pytest.mark.parametrize(
    ("broken", "reason", "line", "field", "value"),
    [
        (
            GOOD[:-12],
            TRUNCATED,
            9,
            "last line",
            "ENSG00000002586.20_PAR_Y\tCD99\tprotein_coding\t800\t401\t399\t400000.0000\t8.2",
        ),
        (GOOD.replace("\t1200\t", "\t12x0\t"), NON_NUMERIC, 7, "unstranded", "12x0"),
        (GOOD.replace("\t1200\t", "\t1200.5\t"), NON_NUMERIC, 7, "unstranded", "1200.5"),
        (GOOD.replace("\t12.3456\t", "\tNaN\t"), NON_NUMERIC, 7, "fpkm_unstranded", "NaN"),
        (GOOD.replace("\t0\t0\t0\t0.0000", "\t0\t-3\t3\t0.0000"), NEGATIVE_COUNT, 8, "stranded_first", "-3"),
        (GOOD.replace("tpm_unstranded", "tpm"), WRONG_HEADER, 2, "header", HEADER.replace("tpm_unstranded", "tpm")),
        (
            GOOD.replace("# gene-model: GENCODE v36", "gene-model GENCODE v36"),
            WRONG_HEADER,
            1,
            "gene-model line",
            "gene-model GENCODE v36",
        ),
        (GOOD.replace("ENSG00000000005.6", "ENSG00000000003.15"), DUPLICATE_GENE, 8, "gene_id", "ENSG00000000003.15"),
        (GOOD.replace("ENSG00000000005.6", "TNMD-1"), BAD_GENE_ID, 8, "gene_id", "TNMD-1"),
        (GOOD.replace("N_noFeature", "N_nofeature"), WRONG_SUMMARY_ROWS, 5, "gene_id", "N_nofeature"),
        (GOOD.replace("\t600\t600\t600000", "\t600\t600000"), WRONG_CELL_COUNT, 7, "row", None),
    ],
)
def test_a_bad_file_is_named_by_reason_line_field_and_value(broken, reason, line, field, value):
    parsed = parse(broken)
    qc = parsed.qc
    assert (qc["problem_reason"], qc["problem_line"], qc["problem_field"]) == (reason, line, field)
    if value is not None:
        assert qc["problem_value"] == value
    assert "file-1" in qc["problem_detail"] and "TCGA-06-0125" in qc["problem_detail"]
    assert f"line {line}" in qc["problem_detail"]
    assert not qc["parsed"] and parsed.genes.is_empty()


def test_bytes_that_are_not_text_are_named():
    data = GOOD.encode()
    qc = parse(data[:200] + b"\xff\xfe" + data[200:]).qc
    assert qc["problem_reason"] == NOT_TEXT and qc["problem_line"] == data[:200].count(b"\n") + 1


@pytest.mark.parametrize("kind", BAD_FILE_KINDS)
def test_every_bad_file_kind_of_the_generator_is_caught(kind):
    good = expression_file_bytes(ExpressionSource(3, 500, 17, True, False, 2, 0.0, "proneural"))
    assert parse(good).problem is None
    bad = expression_file_bytes(ExpressionSource(3, 500, 17, True, False, 2, 0.0, "proneural", kind))
    expected = {
        "truncated": TRUNCATED,
        "non_numeric_cell": NON_NUMERIC,
        "wrong_header": WRONG_HEADER,
        "duplicate_gene": DUPLICATE_GENE,
    }[kind]
    assert parse(bad).problem == expected


def test_a_generated_file_has_gdcs_shape_and_is_deterministic():
    source = ExpressionSource(3, 2000, 5, False, False, 4, 1.0, "mesenchymal")
    data = expression_file_bytes(source)
    assert data == expression_file_bytes(source)
    lines = data.decode().split("\n")
    assert lines[0] == "# gene-model: GENCODE v36" and lines[1] == HEADER
    assert [line.split("\t")[0] for line in lines[2:6]] == [
        "N_unmapped",
        "N_multimapping",
        "N_noFeature",
        "N_ambiguous",
    ]
    parsed = parse(data)
    assert parsed.qc["gene_rows"] == 2000 and parsed.genes["gene_id"].is_sorted()
    assert parsed.qc["tpm_sum"] == pytest.approx(1e6, rel=1e-4)
    assert (parsed.genes["stranded_first"] + parsed.genes["stranded_second"] == parsed.genes["unstranded"]).all()


def test_the_file_document_gives_case_sample_and_aliquot():
    document = {
        "file_id": "f1",
        "file_name": "f1.rna_seq.augmented_star_gene_counts.tsv",
        "md5sum": "a" * 32,
        "file_size": 10,
        "cases": [
            {
                "case_id": "c1",
                "submitter_id": "TCGA-06-0125",
                "project": {"project_id": "TCGA-GBM"},
                "samples": [
                    {
                        "submitter_id": "TCGA-06-0125-01A",
                        "sample_type": "Primary Tumor",
                        "portions": [{"analytes": [{"aliquots": [{"submitter_id": "TCGA-06-0125-01A-01R-1849-01"}]}]}],
                    }
                ],
            }
        ],
    }
    row = raw_expression_files_table([document, {"file_id": "f2"}], "45.0").to_dicts()
    assert row[0]["aliquot_submitter_id"] == "TCGA-06-0125-01A-01R-1849-01"
    assert (row[0]["case_id"], row[0]["sample_type"], row[0]["project_id"]) == ("c1", "Primary Tumor", "TCGA-GBM")
    assert row[1]["file_id"] == "f2" and row[1]["case_id"] is None and row[1]["aliquot_submitter_id"] is None
