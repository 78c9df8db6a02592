"""Harmonised gene expression: which file is each patient's expression sample, DESeq2 size factors over the
release, and the long (case, sample, gene) table written tile by tile.

Rules, and why:
  * one sample per case: usable files only (parsed, the release's gene model and gene set, a harmonised patient),
    tumour samples by EXPRESSION_SAMPLE_TYPE_PREFERENCE (primary before recurrent), then the aliquot barcode,
    then the file id. Every other file is set aside with its reason, so files = used + set aside;
  * the release's gene model and gene set are those of most parsed files: a file with another GENCODE version is
    set aside and reported, never mixed in;
  * the value to compare cases on is log2(count / size factor + 1) with DESeq2's median-of-ratios size factor
    (Anders & Huber 2010) over the release's used samples: robust to a few very highly expressed genes, and the
    normalisation the differential expression of the same counts uses. TPM is normalised within the file and
    is not comparable between cases (realdata README);
  * memory: the harmonised table is built from blocks of CASES_PER_BLOCK patients at a time (one block's numbers in
    memory, ~0.4 GB at 128 x 60,660 genes, and one tile); the size factors need one pass over the used files' count
    column, holding two vectors of the gene count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from contracts.schemas import (
    EXPRESSION_SAMPLE_TYPE_PREFERENCE,
    HARMONISED_EXPRESSION_SAMPLES_SCHEMA,
    HARMONISED_EXPRESSION_SCHEMA,
    QUARANTINE_SCHEMA,
    STAR_SUMMARY_ROWS,
)
from transforms.expression_files import unversioned_gene_id

# A row group of harmonised/expression is a tile of up to CASES_PER_BLOCK patients x GENES_PER_TILE genes (131,072
# rows): one gene across N patients reads N / 128 row groups (5 at TCGA size, 79 at 10,000), one patient across
# 60,660 genes reads 60 of them.
CASES_PER_BLOCK = 128
GENES_PER_TILE = 1024

GENE_MODEL_DIFFERS = "expression_gene_model_differs"
GENE_SET_DIFFERS = "expression_gene_set_differs"
CASE_NOT_IN_PATIENTS = "expression_case_not_in_patients"
NON_TUMOUR_SAMPLE = "expression_non_tumour_sample"
OTHER_SAMPLE_OF_CASE = "expression_other_sample_of_case"
RAW_COUNTS_TABLE = "raw/expression_counts"
RAW_FILES_TABLE = "raw/gdc_expression_files"


@dataclass(frozen=True)
class ReleaseGenes:
    """The release's gene model and gene set (those of most parsed files), and the gene order of its tiles."""

    gene_model: str | None
    gene_set_hash: str | None


def release_genes(qc: pl.DataFrame) -> ReleaseGenes:
    parsed = qc.filter(pl.col("parsed"))
    if parsed.is_empty():
        return ReleaseGenes(None, None)
    # Most files; ties broken by the value so the choice does not depend on file order.
    model = parsed.group_by("gene_model").len().sort(["len", "gene_model"], descending=[True, False])["gene_model"][0]
    same_model = parsed.filter(pl.col("gene_model") == model)
    gene_set = same_model.group_by("gene_set_hash").len().sort(["len", "gene_set_hash"], descending=[True, False])
    return ReleaseGenes(model, gene_set["gene_set_hash"][0])


def expression_samples(files: pl.DataFrame, qc: pl.DataFrame, patient_case_ids: Sequence[str]) -> pl.DataFrame:
    """One row per expression file (HARMONISED_EXPRESSION_SAMPLES_SCHEMA, size_factor still null): used or set aside."""
    genes = release_genes(qc)
    patients = pl.DataFrame({"case_id": list(patient_case_ids)}, schema={"case_id": pl.String}).unique()
    total_reads = pl.col("library_size") + pl.sum_horizontal([pl.col(f"{r.lower()}_reads") for r in STAR_SUMMARY_ROWS])
    preference = {sample_type: rank for rank, sample_type in enumerate(EXPRESSION_SAMPLE_TYPE_PREFERENCE)}
    frame = (
        files.select(
            "release",
            "file_id",
            "md5sum",
            "case_id",
            "submitter_id",
            "project_id",
            "sample_submitter_id",
            "sample_type",
            "aliquot_submitter_id",
        )
        .join(qc.drop("release", "md5sum"), on="file_id", how="left")
        .join(patients.with_columns(pl.lit(True).alias("case_in_patients")), on="case_id", how="left")
        .with_columns(
            pl.col("case_in_patients").fill_null(False),
            # A typed literal: the release may have no gene set yet (None), and then nothing matches it.
            (pl.col("gene_set_hash") == pl.lit(genes.gene_set_hash, dtype=pl.String))
            .fill_null(False)
            .alias("gene_set_matches_release"),
            *[(pl.col(f"{r.lower()}_reads") / total_reads).alias(f"{r.lower()}_share") for r in STAR_SUMMARY_ROWS],
            pl.col("sample_type").replace_strict(preference, default=None, return_dtype=pl.Int32).alias("_preference"),
        )
    )
    unusable = (
        pl.when(~pl.col("parsed").fill_null(False))
        .then(pl.col("problem_reason").fill_null("expression_file_not_parsed"))
        .when(pl.col("gene_model") != pl.lit(genes.gene_model, dtype=pl.String))
        .then(pl.lit(GENE_MODEL_DIFFERS))
        .when(~pl.col("gene_set_matches_release"))
        .then(pl.lit(GENE_SET_DIFFERS))
        .when(~pl.col("case_in_patients"))
        .then(pl.lit(CASE_NOT_IN_PATIENTS))
        .when(pl.col("_preference").is_null())
        .then(pl.lit(NON_TUMOUR_SAMPLE))
    )
    frame = frame.with_columns(unusable.alias("set_aside_reason"))
    order = ["_preference", "aliquot_submitter_id", "sample_submitter_id", "file_id"]
    ranked = (
        frame.filter(pl.col("set_aside_reason").is_null())
        .sort(order, nulls_last=True)
        .with_columns((pl.int_range(pl.len()).over("case_id") == 0).alias("_first"))
        .select("file_id", "_first")
    )
    frame = (
        frame.join(ranked, on="file_id", how="left")
        .with_columns(
            pl.when(pl.col("set_aside_reason").is_null() & ~pl.col("_first").fill_null(False))
            .then(pl.lit(OTHER_SAMPLE_OF_CASE))
            .otherwise(pl.col("set_aside_reason"))
            .alias("set_aside_reason")
        )
        .with_columns(pl.col("set_aside_reason").is_null().alias("used"), pl.lit(None, pl.Float64).alias("size_factor"))
    )
    return frame.select([pl.col(c).cast(t) for c, t in HARMONISED_EXPRESSION_SAMPLES_SCHEMA.items()]).sort(
        ["submitter_id", "used", "file_id"], descending=[False, True, False], nulls_last=True
    )


def expression_rejects(samples: pl.DataFrame, files: pl.DataFrame, qc: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows (QUARANTINE_SCHEMA) for every set-aside file, naming file, case, line and value."""
    aside = samples.filter(~pl.col("used")).select("release", "file_id", "case_id", "submitter_id", "set_aside_reason")
    if aside.is_empty():
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    used = samples.filter(pl.col("used")).select(
        "case_id",
        pl.format(
            "{} (aliquot {})", pl.col("sample_submitter_id"), pl.col("aliquot_submitter_id").fill_null("?")
        ).alias("_used_sample"),
    )
    detail_of_problem = pl.col("problem_detail")
    frame = (
        aside.join(
            qc.select("file_id", "problem_line", "problem_field", "problem_value", "problem_detail", "gene_model"),
            on="file_id",
            how="left",
        )
        .join(
            files.select("file_id", "sample_submitter_id", "sample_type", "aliquot_submitter_id", "document"),
            on="file_id",
            how="left",
        )
        .join(used, on="case_id", how="left")
    )
    file_and_case = pl.format(
        "expression file {} (case {}, sample {}, aliquot {})",
        pl.col("file_id"),
        pl.col("submitter_id").fill_null("?"),
        pl.col("sample_submitter_id").fill_null("?"),
        pl.col("aliquot_submitter_id").fill_null("?"),
    )
    reason = pl.col("set_aside_reason")
    detail = (
        pl.when(detail_of_problem.is_not_null())
        .then(detail_of_problem)
        .when(reason == OTHER_SAMPLE_OF_CASE)
        .then(
            pl.format(
                "{} set aside: the case's expression sample is {} (primary tumour before recurrent, then "
                "aliquot barcode)",
                file_and_case,
                pl.col("_used_sample"),
            )
        )
        .when(reason == GENE_MODEL_DIFFERS)
        .then(pl.format("{} set aside: gene model {} differs from the release's", file_and_case, pl.col("gene_model")))
        .when(reason == GENE_SET_DIFFERS)
        .then(pl.format("{} set aside: its genes differ from the release's gene set", file_and_case))
        .when(reason == CASE_NOT_IN_PATIENTS)
        .then(
            pl.format(
                "{} set aside: case {} is not a harmonised patient of the release",
                file_and_case,
                pl.col("case_id").fill_null("null"),
            )
        )
        .otherwise(
            pl.format(
                "{} set aside: sample type {} is not a tumour sample",
                file_and_case,
                pl.col("sample_type").fill_null("null"),
            )
        )
    )
    field = (
        pl.when(pl.col("problem_line").is_not_null())
        .then(pl.format("line {}: {}", pl.col("problem_line"), pl.col("problem_field")))
        .when(reason == GENE_MODEL_DIFFERS)
        .then(pl.lit("line 1: gene-model"))
        .when(reason == CASE_NOT_IN_PATIENTS)
        .then(pl.lit("cases.case_id"))
        .when(reason == GENE_SET_DIFFERS)
        .then(pl.lit("gene_id"))
        .when(reason == OTHER_SAMPLE_OF_CASE)
        .then(pl.lit("cases.samples.portions.analytes.aliquots.submitter_id"))
        .otherwise(pl.lit("cases.samples.sample_type"))
    )
    value = (
        pl.when(pl.col("problem_line").is_not_null())
        .then(pl.col("problem_value"))
        .when(reason == GENE_MODEL_DIFFERS)
        .then(pl.col("gene_model"))
        .when(reason == CASE_NOT_IN_PATIENTS)
        .then(pl.col("case_id"))
        .when(reason == GENE_SET_DIFFERS)
        .then(pl.lit(None, pl.String))
        .when(reason == OTHER_SAMPLE_OF_CASE)
        .then(pl.col("aliquot_submitter_id"))
        .otherwise(pl.col("sample_type"))
    )
    table = (
        pl.when(pl.col("problem_line").is_not_null()).then(pl.lit(RAW_COUNTS_TABLE)).otherwise(pl.lit(RAW_FILES_TABLE))
    )
    return frame.select(
        pl.col("release"),
        table.alias("table"),
        pl.col("case_id"),
        pl.col("submitter_id"),
        field.alias("field"),
        value.alias("value"),
        reason.alias("reason"),
        detail.alias("detail"),
        pl.col("document").alias("record"),
    ).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]


# What identifies a case's expression in the release diff (harmonised/release_changes): a new file id or md5 is
# new data for the case.
EXPRESSION_SAMPLE_IDENTITY: tuple[str, ...] = ("sample_submitter_id", "file_id", "md5sum")


def expression_sample_of_case(samples: pl.DataFrame) -> pl.DataFrame:
    """One row per case with expression: its used sample's identity (for the release diff)."""
    return samples.filter(pl.col("used")).select("case_id", *EXPRESSION_SAMPLE_IDENTITY)


class SizeFactors:
    """DESeq2's median-of-ratios size factors (`estimateSizeFactorsForMatrix`), fed one sample at a time.

    log geometric mean of gene g = mean over samples of log(count); genes with a zero in any sample are left out
    (DESeq2's default). size factor of a sample = exp(median over the kept genes of log(count) - log geo mean).
    When no gene is positive in every sample (many sparse samples), DESeq2's `poscounts` rule is used instead
    (log(0) counted as 0 in the mean; genes zero everywhere left out). Memory: two vectors of genes.
    """

    def __init__(self, n_genes: int) -> None:
        self.n_samples = 0
        self.log_sum = np.zeros(n_genes)
        self.positive = np.zeros(n_genes, dtype=np.int64)
        self.method: str | None = None
        self._log_geo_mean: np.ndarray | None = None

    def add(self, counts: np.ndarray) -> None:
        positive = counts > 0
        self.log_sum[positive] += np.log(counts[positive])
        self.positive += positive
        self.n_samples += 1

    def finish(self) -> None:
        everywhere = self.positive == self.n_samples
        if everywhere.any():
            self.method = "median_of_ratios"
            mean = np.full(self.log_sum.shape, -np.inf)
            mean[everywhere] = self.log_sum[everywhere] / self.n_samples
        else:
            # DESeq2 estimateSizeFactorsForMatrix(type = "poscounts"): log(0) counted as 0, all-zero genes left out.
            self.method = "poscounts"
            mean = np.where(self.positive > 0, self.log_sum / max(self.n_samples, 1), -np.inf)
        self._log_geo_mean = mean

    def size_factor(self, counts: np.ndarray) -> float:
        if self._log_geo_mean is None:
            raise RuntimeError("SizeFactors.finish() first")
        usable = np.isfinite(self._log_geo_mean) & (counts > 0)
        if not usable.any():
            return float("nan")
        return float(np.exp(np.median(np.log(counts[usable]) - self._log_geo_mean[usable])))


def gene_order(reference: pl.DataFrame) -> pl.DataFrame:
    """The release's genes (reference: gene_id, gene_name, gene_type in file order) with `gene_position` (row in the
    file) and `gene_rank`: ordered by name, then id. Analysts look genes up by name, so each tile holds a narrow
    range of names and the Parquet statistics skip the others."""
    return (
        reference.select("gene_id", "gene_name", "gene_type")
        .with_row_index("gene_position")
        .sort(["gene_name", "gene_id"], nulls_last=True)
        .with_row_index("gene_rank")
        .with_columns(
            pl.col("gene_position").cast(pl.Int32),
            pl.col("gene_rank").cast(pl.Int32),
            unversioned_gene_id(pl.col("gene_id")).alias("gene_id_unversioned"),
        )
    )


def harmonise_block(
    values: dict[str, pl.DataFrame], samples: pl.DataFrame, genes: pl.DataFrame, genes_per_tile: int = GENES_PER_TILE
) -> Iterator[pl.DataFrame]:
    """The harmonised rows of one block of patients, tile by tile. `values`: file id -> its unstranded,
    tpm_unstranded and fpkm_uq_unstranded columns in the release's gene order; `samples`: the block's used rows of
    expression_samples with size factors; `genes`: gene_order(). Each file's rows are put in gene-rank order once
    (a gather, no sort), and a tile is the same slice of every file: memory is the block's numbers plus one tile.
    Within a tile rows go patient by patient; the row group's statistics are what lets a reader skip it."""
    by_rank = genes.sort("gene_rank")
    rank_order = by_rank["gene_position"]
    gene_columns = by_rank.select("gene_id", "gene_id_unversioned", "gene_name", "gene_type")
    ordered = []
    for row in samples.iter_rows(named=True):
        numbers = values.pop(row["file_id"])[rank_order]  # the unordered copy is freed as soon as it is gathered
        ordered.append(
            (
                row,
                numbers.select(
                    pl.col("unstranded").alias("unstranded_count"),
                    pl.col("tpm_unstranded").alias("tpm"),
                    pl.col("fpkm_uq_unstranded").alias("fpkm_uq"),
                    (pl.col("unstranded") / row["size_factor"])
                    .log1p()
                    .truediv(np.log(2))
                    .alias("log2_normalised_count"),
                ),
            )
        )
    if not ordered:
        return
    cases = samples.select("release", "case_id", "submitter_id", "sample_submitter_id")
    for start in range(0, gene_columns.height, genes_per_tile):
        tile_genes = gene_columns.slice(start, genes_per_tile)
        width = tile_genes.height
        numbers = pl.concat([values_in_rank.slice(start, genes_per_tile) for _, values_in_rank in ordered])
        # whole-column gathers, not a frame per patient: patient k's rows are k * width ... (k + 1) * width - 1
        patient_of_row = np.repeat(np.arange(len(ordered)), width)
        gene_of_row = np.tile(np.arange(width), len(ordered))
        yield pl.concat([cases[patient_of_row], tile_genes[gene_of_row], numbers], how="horizontal").select(
            list(HARMONISED_EXPRESSION_SCHEMA)
        )


def blocks(samples: pl.DataFrame, cases_per_block: int = CASES_PER_BLOCK) -> list[pl.DataFrame]:
    """The used samples in patient-barcode order, cut into blocks of `cases_per_block`."""
    used = samples.filter(pl.col("used")).sort(["submitter_id", "case_id"])
    return [used.slice(start, cases_per_block) for start in range(0, used.height, cases_per_block)]


_VALUE_COLUMNS = ["unstranded", "tpm_unstranded", "fpkm_uq_unstranded"]


def build_expression(
    samples: pl.DataFrame,
    reference: pl.DataFrame,
    read_counts: Callable[[Sequence[str], Sequence[str]], dict[str, pl.DataFrame]],
    write_tile: Callable[[pl.DataFrame], None],
    *,
    cases_per_block: int = CASES_PER_BLOCK,
    genes_per_tile: int = GENES_PER_TILE,
) -> tuple[pl.DataFrame, str | None]:
    """Size factors, then the harmonised table tile by tile.

    `read_counts(file_ids, columns)` returns {file id: those columns of its raw/expression_counts rows, in file
    order}; a used file's genes are the release's gene set in order (its gene_set_hash says so), checked here by
    count. `reference`: gene_id, gene_name, gene_type of the release gene set in file order. `write_tile` receives
    each tile. Returns the samples with size factors, and the size-factor method.
    """
    used = samples.filter(pl.col("used"))
    if used.is_empty():
        return samples, None
    n_genes = reference.height

    def checked(file_ids: Sequence[str], columns: list[str]) -> dict[str, pl.DataFrame]:
        found = read_counts(file_ids, columns)
        for file_id in file_ids:
            if file_id not in found or found[file_id].height != n_genes:
                rows = found[file_id].height if file_id in found else 0
                raise ValueError(
                    f"expression file {file_id}: {rows} gene rows in raw, the release's gene set has {n_genes}"
                )
        return found

    # Pass 1: the reference of the size factors (one count column per file; three gene vectors in memory).
    factors = SizeFactors(n_genes)
    file_ids = used["file_id"].to_list()
    for start in range(0, len(file_ids), cases_per_block):
        for rows in checked(file_ids[start : start + cases_per_block], ["unstranded"]).values():
            factors.add(rows["unstranded"].to_numpy())
    factors.finish()
    # Pass 2: a block of patients at a time: its size factors, then its tiles.
    genes = gene_order(reference)
    size_factor: dict[str, float] = {}
    for block in blocks(samples, cases_per_block):
        values = checked(block["file_id"].to_list(), _VALUE_COLUMNS)
        for file_id, rows in values.items():
            size_factor[file_id] = factors.size_factor(rows["unstranded"].to_numpy())
        block = block.with_columns(
            pl.col("file_id").replace_strict(size_factor, default=None, return_dtype=pl.Float64).alias("size_factor")
        )
        for tile in harmonise_block(values, block, genes, genes_per_tile):
            write_tile(tile)
    samples = samples.with_columns(
        pl.col("file_id").replace_strict(size_factor, default=None, return_dtype=pl.Float64).alias("size_factor")
    )
    return samples, factors.method


def built_from(samples: pl.DataFrame, code_version: str) -> str:
    """What harmonised/expression of a release is computed from: the used files (id, md5) with their patients and
    samples, and the code. Equal between two releases -> the table is the same but for `release`, and is copied."""
    identity = (
        samples.filter(pl.col("used"))
        .select("file_id", "md5sum", "case_id", "submitter_id", "sample_submitter_id")
        .sort("file_id")
    )
    digest = hashlib.sha256(code_version.encode())
    digest.update(identity.write_csv().encode())
    return digest.hexdigest()[:32]


def reconcile_expression_files(files: pl.DataFrame, samples: pl.DataFrame, rejects: pl.DataFrame) -> dict:
    """raw expression files = used + set aside, and every set-aside file is in the quarantine (by file id in its
    record's document). Returns the counts and `reconciles`."""
    raw_ids = set(files["file_id"].drop_nulls().to_list())
    used = set(samples.filter(pl.col("used"))["file_id"].to_list())
    aside = set(samples.filter(~pl.col("used"))["file_id"].to_list())
    quarantined = set(
        rejects["record"].str.json_path_match("$.file_id").drop_nulls().to_list() if rejects.height else []
    )
    missing = sorted(raw_ids - used - aside)
    unknown = sorted((used | aside) - raw_ids)
    not_quarantined = sorted(aside - quarantined)
    return {
        "raw_files": len(raw_ids),
        "used": len(used),
        "set_aside": len(aside),
        "quarantined_files": len(quarantined & aside),
        "reconciles": not missing and not unknown and not not_quarantined and not (used & aside),
        "files_in_neither": missing[:20],
        "files_not_in_raw": unknown[:20],
        "set_aside_not_quarantined": not_quarantined[:20],
    }
