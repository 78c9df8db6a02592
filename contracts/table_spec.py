"""The declaration of one lake table (`TableSpec`) and the columns that mean the same in every table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class TableSpec:
    """One lake table. `partitioned`: one Parquet partition per GDC release; otherwise one dataset
    for all releases. `in_catalog`: exposed to analysts as `<layer>.<name>` (+ `_current`)."""

    layer: str
    name: str
    description: str
    schema: Mapping[str, pl.DataType]
    column_descriptions: Mapping[str, str] = field(default_factory=dict)
    partitioned: bool = True
    in_catalog: bool = True
    # `_current` picks the champion model's rows of the newest release (score tables), not just the release.
    current_by_champion: bool = False
    # A release is published once every gating table has it. Tables written after the release's scores
    # (by train_challengers) do not gate: a new release must not wait for the challengers.
    gates_release: bool = True
    # Written sorted by these columns in small row groups, so an analyst's lookup of one patient by them reads
    # one row group per file (Parquet min/max statistics) instead of the whole table.
    lookup_order: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.layer, self.name)

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def path(self) -> str:
        return f"{self.layer}/{self.name}"

    def describe(self, column: str) -> str:
        if column in self.column_descriptions:
            return self.column_descriptions[column]
        if column in SHARED_COLUMNS:
            return SHARED_COLUMNS[column]
        raise KeyError(f"{self.path}: column {column!r} has no description (declare it where the table is declared)")

    def columns(self) -> list[tuple[str, pl.DataType, str]]:
        return [(name, dtype, self.describe(name)) for name, dtype in self.schema.items()]


# Columns with one meaning in every table that has them.
SHARED_COLUMNS: dict[str, str] = {
    "release": "GDC data release label the row belongs to (e.g. 45.0)",
    "case_id": "GDC case UUID (one patient)",
    "submitter_id": "TCGA patient barcode (TCGA-xx-xxxx)",
    "project_id": "GDC project: TCGA-GBM or TCGA-LGG",
    "document": "the GDC API hit exactly as returned, JSON text (kept losslessly)",
    "file_id": "GDC file UUID",
    "md5sum": "md5 of the file as listed by GDC",
    "sample_submitter_id": "TCGA sample barcode of the profiled sample",
    "sample_type": "GDC sample type (e.g. Primary Tumor)",
    "platform": "methylation array platform (450k, 27k, EPIC)",
    "gene_symbols": "panel genes among the occurrence's consequences",
    "model_version": "registry model version that produced the row",
    "scored_at": "UTC time the row was scored",
    "explanation": "the three largest feature contributions, in words",
    "feature_set_version": "version of the recorded feature lists (fs<revision>-<hash>)",
    "task": "model task: grading_gbm_vs_lgg, grading_who_grade or survival_risk",
}
