"""The expression of a release as a patients x genes matrix, assembled from the long harmonised table's tiles
(128 patients x 1,024 genes per row group) one tile at a time.

Memory: one int64 count matrix and one float64 normalised matrix (700 x 60,660 x 8 bytes = 340 MB each) plus
one tile; the long table is never held whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class ExpressionMatrix:
    case_ids: list[str]
    gene_ids: list[str]
    gene_names: list[str]
    counts: np.ndarray  # patients x genes, unstranded counts
    log2_normalised: np.ndarray  # patients x genes, log2(count / size factor + 1)

    def rows(self, case_ids: Iterable[str]) -> np.ndarray:
        index = {case: row for row, case in enumerate(self.case_ids)}
        return np.array([index[case] for case in case_ids], dtype=np.int64)

    @property
    def patients(self) -> pl.DataFrame:
        """case_id of every patient row (String even when there is none)."""
        return pl.DataFrame({"case_id": self.case_ids}, schema={"case_id": pl.String})

    @property
    def gene_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"gene_id": self.gene_ids, "gene_name": self.gene_names},
            schema={"gene_id": pl.String, "gene_name": pl.String},
        )


def assemble(case_ids: list[str], genes: pl.DataFrame, tiles: Iterable[pl.DataFrame]) -> ExpressionMatrix:
    """`genes`: gene_id, gene_name in column order; each tile: case_id, gene_id, unstranded_count,
    log2_normalised_count. Every (patient, gene) cell must be filled exactly once."""
    patient_index = pl.DataFrame(
        {"case_id": case_ids, "row": np.arange(len(case_ids), dtype=np.int64)},
        schema={"case_id": pl.String, "row": pl.Int64},
    )
    gene_index = genes.select("gene_id").with_columns(column=pl.int_range(pl.len(), dtype=pl.Int64))
    counts = np.zeros((len(case_ids), genes.height), dtype=np.int64)
    normalised = np.zeros((len(case_ids), genes.height), dtype=np.float64)
    filled = 0
    for tile in tiles:
        located = tile.join(patient_index, on="case_id", how="inner").join(gene_index, on="gene_id", how="inner")
        rows, columns = located["row"].to_numpy(), located["column"].to_numpy()
        counts[rows, columns] = located["unstranded_count"].to_numpy()
        normalised[rows, columns] = located["log2_normalised_count"].to_numpy()
        filled += located.height
    if filled != counts.size:
        raise ValueError(
            f"harmonised/expression: {filled} cells for {len(case_ids)} patients x {genes.height} genes "
            f"({counts.size} expected)"
        )
    return ExpressionMatrix(case_ids, genes["gene_id"].to_list(), genes["gene_name"].to_list(), counts, normalised)
