"""The raw inputs of the marker calls (transforms.markers): the case frame, documents fetched by row,
batched JSON decoding and the quarantine records every stage writes.

Case frame: one row per case of raw/gdc_cases with its profiling flags (`"ssm"` / `"cnv"` in
`available_variation_data`) and the case's `follow_ups[].molecular_tests[]` rows (the clinical MGMT source,
transforms.mgmt_calls). Whole-case problems (no case_id, duplicate documents, invalid JSON) are quarantined by
transforms.patients under table `raw/gdc_cases`; a case document whose marker fields cannot be decoded is
quarantined here under `TABLE_CASE_MARKER_FIELDS` and gets no marker row.

Occurrences of a case that is not in raw/gdc_cases (orphans), or of a case not profiled for their data type,
contradict the case records: `orphans_and_unprofiled` quarantines them for the ssm and cnv stages.

Memory: the raw inputs may be DataFrames or LazyFrames. Rows are tracked by their position in the raw input
(`RAW_ROW`), and a `document` is fetched by position (`RawDocuments`) only for the few rows that become
quarantine records or are decoded, so the documents (most of the bytes) are never carried through joins.
"""

from __future__ import annotations

import polars as pl

from contracts.schemas import QUARANTINE_SCHEMA

TABLE_CASES = "raw/gdc_cases"
# Rejections of *parts* of a case document carry their own table label: `table == "raw/gdc_cases"` in the
# harmonised quarantine means "the whole case was rejected" (transforms.patients, which reconciles raw cases
# = patients + quarantined cases on that label), and a bad MGMT test must not count as a rejected case.
TABLE_CASE_MARKER_FIELDS = "raw/gdc_cases (marker fields)"
TABLE_CASE_MOLECULAR_TESTS = "raw/gdc_cases (molecular tests)"
TABLE_SSM = "raw/gdc_ssm_occurrences"
TABLE_CNV = "raw/gdc_cnv_occurrences"
TABLE_BETAS = "raw/mgmt_probe_betas"

# Only the parts of the documents the calls need; everything is read as text (numbers too) so that a
# number-as-string in one document does not break the vectorised decode of all the others.
_CASE_DOCUMENT_DTYPE = pl.Struct(
    {
        "available_variation_data": pl.List(pl.String()),
        "follow_ups": pl.List(
            pl.Struct(
                {
                    "molecular_tests": pl.List(
                        pl.Struct({"gene_symbol": pl.String(), "test_result": pl.String(), "variant_type": pl.String()})
                    )
                }
            )
        ),
    }
)


Frame = pl.DataFrame | pl.LazyFrame
RAW_ROW = "_raw_row"  # position of a row in its raw input: the key its document is fetched by


# ------------------------------------------------------------------------------------------------------------
# quarantine records
# ------------------------------------------------------------------------------------------------------------


def as_text(expr: pl.Expr, missing: str = "<missing>") -> pl.Expr:
    return expr.cast(pl.String()).fill_null(missing)


def quarantine_rows(
    frame: pl.DataFrame,
    *,
    release: str,
    table: str,
    field: str,
    value: pl.Expr,
    reason: str,
    detail: pl.Expr,
    record: pl.Expr,
) -> pl.DataFrame:
    """Quarantine rows for every row of `frame` (expressions are evaluated on `frame`)."""
    if frame.height == 0:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return frame.select(
        pl.lit(release, pl.String()).alias("release"),
        pl.lit(table, pl.String()).alias("table"),
        pl.col("case_id").cast(pl.String()).alias("case_id"),
        pl.col("submitter_id").cast(pl.String()).alias("submitter_id"),
        pl.lit(field, pl.String()).alias("field"),
        value.cast(pl.String()).alias("value"),
        pl.lit(reason, pl.String()).alias("reason"),
        detail.alias("detail"),
        record.cast(pl.String()).alias("record"),
    )


# ------------------------------------------------------------------------------------------------------------
# rows and documents of a raw input
# ------------------------------------------------------------------------------------------------------------


def with_raw_row(frame: Frame, columns: tuple[str, ...] | list[str]) -> pl.DataFrame:
    """`columns` of a raw input plus each row's position in it (`_raw_row`), materialising nothing else."""
    return frame.lazy().with_row_index(RAW_ROW).select(RAW_ROW, *columns).collect()


class RawDocuments:
    """The `document` of a raw input's rows, fetched by position (`_raw_row`) only for the rows that need it."""

    def __init__(self, raw: Frame) -> None:
        self.raw = raw

    def of(self, rows: pl.Series) -> pl.DataFrame:
        """(_raw_row, document) for the distinct positions `rows`."""
        rows = rows.unique().sort()
        if isinstance(self.raw, pl.DataFrame):
            return pl.DataFrame({RAW_ROW: rows, "document": self.raw.get_column("document").gather(rows)})
        return (
            self.raw.select("document")
            .with_row_index(RAW_ROW)
            .filter(pl.col(RAW_ROW).is_in(rows.implode()))
            .collect(engine="streaming")
        )

    def attach(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` (with `_raw_row`) with each row's raw `document` added, row order kept."""
        if frame.height == 0:
            return frame.with_columns(pl.lit(None, pl.String()).alias("document"))
        return frame.join(self.of(frame.get_column(RAW_ROW)), on=RAW_ROW, how="left", maintain_order="left")


def decode_json(
    frame: pl.DataFrame, column: str, dtype: pl.DataType, batch_rows: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
    """Decode a JSON column vectorised, `batch_rows` at a time (transforms.markers.DECODE_BATCH_ROWS); see
    _decode_json_slice.

    Returns (good rows, bad rows, decoded values of the good rows), each in the order of `frame`."""
    if frame.height <= batch_rows:
        return _decode_json_slice(frame, column, dtype)
    parts = [
        _decode_json_slice(frame.slice(start, batch_rows), column, dtype)
        for start in range(0, frame.height, batch_rows)
    ]
    return (
        pl.concat([good for good, _, _ in parts]),
        pl.concat([bad for _, bad, _ in parts]),
        pl.concat([decoded for _, _, decoded in parts]),
    )


def _decode_json_slice(
    frame: pl.DataFrame, column: str, dtype: pl.DataType
) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
    """Decode a JSON column vectorised; on failure bisect to isolate the undecodable rows.

    Returns (good rows, bad rows, decoded values of the good rows). The bisection only runs when a
    decode fails, so the common path is one vectorised call."""

    def decode(part: pl.DataFrame) -> pl.Series:
        return part.get_column(column).str.json_decode(dtype)

    try:
        return frame, frame.clear(), decode(frame)
    except pl.exceptions.PolarsError:
        pass
    bad_index: list[int] = []
    stack = [(0, frame.height)]
    while stack:
        start, stop = stack.pop()
        try:
            decode(frame.slice(start, stop - start))
        except pl.exceptions.PolarsError:
            if stop - start == 1:
                bad_index.append(start)
            else:
                middle = (start + stop) // 2
                stack.extend([(start, middle), (middle, stop)])
    mask = pl.Series(range(frame.height)).is_in(bad_index)
    good = frame.filter(~mask)
    return good, frame.filter(mask), decode(good)


def orphans_and_unprofiled(
    occurrences: pl.DataFrame,
    cases: pl.DataFrame,
    documents: RawDocuments,
    *,
    profiled_column: str,
    kind: str,
    id_column: str,
    release: str,
    table: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split occurrences (with `_raw_row`, without documents) into (usable rows joined with the case's profiling
    flag, quarantine)."""
    joined = occurrences.join(cases.select("case_id", profiled_column), on="case_id", how="left").with_columns(
        pl.col("case_id").is_in(cases["case_id"].implode()).alias("_known_case")
    )
    orphans = documents.attach(joined.filter(~pl.col("_known_case").fill_null(False)))
    # The case's variation data types only name what an unprofiled occurrence's case has: joined for those rows.
    unprofiled = documents.attach(
        joined.filter(pl.col("_known_case").fill_null(False) & ~pl.col(profiled_column).fill_null(False)).join(
            cases.select("case_id", "available_variation_data"), on="case_id", how="left", maintain_order="left"
        )
    )
    quarantine = pl.concat(
        [
            quarantine_rows(
                orphans,
                release=release,
                table=table,
                field="case.case_id",
                value=pl.col("case_id"),
                reason="orphan_occurrence",
                detail=pl.format(
                    "{} occurrence {} names case {} ({}) which is not in raw/gdc_cases for this release",
                    pl.lit(kind),
                    as_text(pl.col(id_column)),
                    as_text(pl.col("case_id")),
                    as_text(pl.col("submitter_id")),
                ),
                record=pl.col("document"),
            ),
            quarantine_rows(
                unprofiled,
                release=release,
                table=table,
                field="case.available_variation_data",
                value=pl.col("available_variation_data").list.join(",").fill_null("<missing>"),
                reason="occurrence_for_unprofiled_case",
                detail=pl.format(
                    "{} occurrence {} for case {} ({}) whose available_variation_data [{}] lacks '{}'; not used",
                    pl.lit(kind),
                    as_text(pl.col(id_column)),
                    as_text(pl.col("case_id")),
                    as_text(pl.col("submitter_id")),
                    pl.col("available_variation_data").list.join(",").fill_null(""),
                    pl.lit(kind),
                ),
                record=pl.col("document"),
            ),
        ]
    )
    usable = joined.filter(pl.col("_known_case").fill_null(False) & pl.col(profiled_column).fill_null(False))
    return usable.drop("_known_case", profiled_column), quarantine


# ------------------------------------------------------------------------------------------------------------
# cases
# ------------------------------------------------------------------------------------------------------------


def case_frame(
    raw_cases: Frame, release: str, decode_batch_rows: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(one row per case with profiling flags, MGMT molecular-test rows with `_raw_row`, quarantine)."""
    # Case-level rejections (no case_id, conflicting duplicate documents, invalid JSON) belong to
    # transforms.patients, which quarantines them exactly once per case; here a row without case_id cannot
    # get a marker row and a duplicated case uses its first document.
    quarantine: list[pl.DataFrame] = []
    cases = (
        raw_cases.lazy()
        .with_row_index(RAW_ROW)
        .select(RAW_ROW, "case_id", "submitter_id", "project_id", "document")
        .filter(pl.col("case_id").is_not_null())
        .unique(subset="case_id", keep="first", maintain_order=True)
        .collect()
    )

    good, bad, decoded = decode_json(cases, "document", _CASE_DOCUMENT_DTYPE, decode_batch_rows)
    quarantine.append(
        quarantine_rows(
            bad,
            release=release,
            table=TABLE_CASE_MARKER_FIELDS,
            field="document",
            value=pl.col("document").str.slice(0, 200),
            reason="undecodable_case_document",
            detail=pl.format(
                "case {} ({}): document is not JSON of the expected shape; profiling and molecular tests unknown",
                pl.col("case_id"),
                as_text(pl.col("submitter_id")),
            ),
            record=pl.col("document"),
        )
    )
    good = good.drop("document").with_columns(
        decoded.struct.field("available_variation_data").alias("available_variation_data"),
        decoded.struct.field("follow_ups").alias("follow_ups"),
    )
    del decoded
    good = good.with_columns(
        pl.col("available_variation_data").list.contains("ssm").fill_null(False).alias("ssm_profiled"),
        pl.col("available_variation_data").list.contains("cnv").fill_null(False).alias("cnv_profiled"),
    )
    # The tests carry their case's raw row, not its document (which only a quarantined test needs).
    tests = (
        good.select("case_id", "submitter_id", RAW_ROW, "follow_ups")
        .explode("follow_ups")
        .select("case_id", "submitter_id", RAW_ROW, pl.col("follow_ups").struct.field("molecular_tests"))
        .explode("molecular_tests")
        .filter(pl.col("molecular_tests").is_not_null())
        .unnest("molecular_tests")
    )
    # An undecodable case document is quarantined and gets no markers row: its profiling is unknown, and a row
    # of nulls would pass for a case whose flags were read (the markers suite requires them not null).
    case_columns = ["case_id", "submitter_id", "project_id", "available_variation_data", "ssm_profiled", "cnv_profiled"]
    # Keep raw_cases order for the output (stable, readable diffs between runs).
    order = cases.select("case_id").with_row_index("_order")
    case_frame = good.select(case_columns).join(order, on="case_id").sort("_order").drop("_order")
    return case_frame, tests, pl.concat(quarantine)
