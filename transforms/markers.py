"""Molecular marker calls per case: raw GDC occurrences and MGMT probe betas -> `harmonised/molecular_markers`.

Every rule and threshold used for a call is a named constant in this block, with its source.

Mutations (raw/gdc_ssm_occurrences)
  * A gene of `SSM_PANEL_GENES` is `mutant` when the case has an ssm occurrence with at least one consequence
    *on a transcript of that gene* whose `consequence_type` is in `NON_SILENT_CODING_CONSEQUENCES`. GDC returns
    every transcript of an ssm, including transcripts of other, overlapping genes and non-coding transcripts
    (GDC_API_FACTS 3.1, trap 8), so the gene is read from each consequence, never from the occurrence filter.
  * `wildtype` when the case was profiled (`"ssm"` in `available_variation_data`) and has no such occurrence;
    null when not profiled (GDC_BUNDLE.md: "a case without ssm has unknown status").
  * An occurrence for a case whose `available_variation_data` lacks `"ssm"` contradicts the case record: it is
    quarantined and not used (so `mutant`/`wildtype` are only ever called on profiled cases).
  * `idh_status` follows the WHO CNS5 definition (Louis et al., Neuro-Oncology 23:1231, 2021): `mutant` only for
    an IDH1 codon 132 or IDH2 codon 172 missense change (`IDH_HOTSPOT_CODONS`). A non-hotspot IDH1/IDH2
    mutation makes `mutation_idh1`/`mutation_idh2` `mutant` but `idh_status` stays `wildtype` — such variants
    are not IDH-mutant for WHO. `idh_hotspot` names the change(s), e.g. `IDH1 R132H`.
  * `atrx_status`, `tp53_status` are `mutation_atrx`, `mutation_tp53`.
  * `tert_status` is the TERT *promoter* status: `mutant` when a profiled case has an occurrence with a TERT
    consequence inside `TERT_PROMOTER_REGION_GRCH38` (hotspots C228T chr5:1,295,113 / C250T chr5:1,295,135);
    otherwise null, never `wildtype`: GDC ssm calls come from exome capture, which does not cover the promoter,
    so the absence of an occurrence is not evidence of a wild-type promoter. (`mutation_tert` is the generic
    coding-mutation column and follows the rule above.)

Copy number (raw/gdc_cnv_occurrences; gene-level, only changed genes have an occurrence)
  * Direction of an occurrence: `cnv_change_5_category` in `CNV_LOSS_CATEGORIES` / `CNV_GAIN_CATEGORIES`
    (GDC_BUNDLE.md vocabulary); if the 5-category is missing, `cnv_change` (`Gain`/`Loss`). Unknown or
    contradictory categories are quarantined.
  * Arm / chromosome calls by majority of the panel's marker genes (`contracts.panels.CNV_MARKER_GENES`; GDC
    gives no arm-level call — GDC_API_FACTS 4.2): for a cnv-profiled case every panel gene counts as profiled
    (unchanged genes simply have no occurrence), so the denominator is the number of panel genes on the arm.
    `codeletion_1p19q`: >= `ARM_CALL_MIN_FRACTION` of 1p genes lost AND of 19q genes lost;
    `chr7_gain_chr10_loss`: >= `ARM_CALL_MIN_FRACTION` of chromosome-7 genes gained AND of chromosome-10 genes
    lost (cIMPACT-NOW update 3: whole chromosome 7 gain with whole chromosome 10 loss).
  * `egfr_amplified`: an `Amplification` occurrence on EGFR; `cdkn2a_homozygous_deletion`: a
    `Homozygous Deletion` occurrence on CDKN2A.
  * Not cnv-profiled -> all four null; profiled without an occurrence -> False. Occurrences of unprofiled
    cases are quarantined, as for ssm.

MGMT promoter methylation
  * MGMT-STP27 (Bady et al., Acta Neuropathol 124:547, 2012) per methylation file:
    logit = 4.3215 + 0.5271*M(cg12434587) + 0.9265*M(cg12981137), M = log2(beta / (1 - beta)),
    p = 1 / (1 + exp(-logit)), methylated when p > 0.358. Betas are clipped into
    [`BETA_CLIP_EPSILON`, 1 - `BETA_CLIP_EPSILON`] so M stays finite (SeSAMe files carry 6 decimals, so 0 and 1
    can appear by rounding). A probe that is `NA` or absent from the file gives a null probability for the file.
    Betas outside [0, 1] (or NaN), and a probe listed twice in one file with different betas, are quarantined
    and treated as absent. Rows of other probes are ignored (not errors: the raw table may carry more probes).
  * Per case, the file used is the first in this order: files with a probability before files without, then
    sample type by `TUMOUR_SAMPLE_TYPE_PRIORITY` (primary tumour before recurrence — the diagnostic sample
    the WHO grade and survival refer to), then platform by `METHYLATION_PLATFORM_PRIORITY`, then file id.
    Files of non-tumour samples (e.g. `Solid Tissue Normal`) are never used: they say nothing about the
    tumour's promoter.
  * Clinical source: `follow_ups[].molecular_tests[]` with `gene_symbol` MGMT and a methylation variant type
    (`MGMT_METHYLATION_VARIANT_TYPES`, or none given); `test_result` mapped by `MGMT_TEST_RESULT_METHYLATED`
    (the molecular-test vocabulary lives here). Unknown results, and cases whose tests contradict each
    other, are quarantined and give no clinical call.
  * `MGMT_SOURCE_PRECEDENCE`: the methylation array (a quantitative, validated model on the same probes for
    every case) wins over the clinical test (assay and cut-off unknown). `mgmt_source` names the source of the
    final call; `mgmt_sources_disagree` is True/False when both sources gave a call, null otherwise.

Quarantine (`MolecularMarkers.quarantine`, QUARANTINE_SCHEMA): orphan occurrences/files (case not in
raw/gdc_cases), occurrences of unprofiled cases, unknown/contradictory cnv categories, out-of-range or
conflicting betas, unknown or contradicting MGMT test results, case documents whose marker fields cannot be
decoded. Whole-case problems (no case_id, duplicate documents, invalid JSON) are quarantined by
transforms.patients under table `raw/gdc_cases`; records here about parts of a case use the labels
`TABLE_CASE_MARKER_FIELDS` / `TABLE_CASE_MOLECULAR_TESTS` so they never count as rejected cases.

Vectorised polars throughout (synthetic cohorts carry ~2M cnv occurrence rows): no Python loops over rows;
`document` JSON is parsed with `str.json_decode` and explicit dtypes, only for the case documents
(profiling, molecular tests) and once per distinct ssm (consequences) — cnv calls need only the raw key columns.

Memory: the raw inputs may be DataFrames or LazyFrames (the asset passes `pl.scan_parquet` of the lake files).
Only the columns a call needs are materialised; the occurrences' `document` JSON (most of the bytes: ~0.7 GB
of cnv documents at 100k cases) is never carried through the joins and filters. Rows are tracked by their
position in the raw input (`_raw_row`), and a document is fetched, by position, only for the few rows that
become quarantine records (or, for ssm, the one representative occurrence per variant that is decoded).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from contracts.panels import CNV_MARKER_GENES, MGMT_STP27_PROBES, SSM_PANEL_GENES, cnv_genes_on
from contracts.schemas import MOLECULAR_MARKERS_SCHEMA, MUTATION_COLUMNS, QUARANTINE_SCHEMA

# --- mutations ------------------------------------------------------------------------------------------
# Sequence Ontology terms (as used by Ensembl VEP, the annotator behind GDC `consequence_type`) that alter the
# protein: the VEP HIGH and MODERATE impact coding terms, i.e. the MAF non-silent Variant_Classifications
# (Missense, Nonsense, Frame_Shift, In_Frame, Splice_Site, Translation_Start_Site, Nonstop). Synonymous,
# UTR, intronic, up/downstream and non-coding-transcript consequences do not count.
NON_SILENT_CODING_CONSEQUENCES: frozenset[str] = frozenset(
    {
        "missense_variant",
        "stop_gained",
        "stop_lost",
        "start_lost",
        "frameshift_variant",
        "inframe_insertion",
        "inframe_deletion",
        "protein_altering_variant",
        "splice_acceptor_variant",
        "splice_donor_variant",
        "transcript_ablation",
        "incomplete_terminal_codon_variant",
    }
)

# WHO CNS5 (Louis et al. 2021) IDH mutation = IDH1 codon 132 or IDH2 codon 172 (R132H/C/G/S/L, R172K/M/W/S/G).
IDH_HOTSPOT_CODONS: dict[str, int] = {"IDH1": 132, "IDH2": 172}
_AMINO_ACIDS_EXCEPT_ARG = "ACDEFGHIKLMNPQSTVWY"  # R132R would be synonymous

# TERT core promoter upstream of the TSS (TERT is on the minus strand; gene end = TSS at chr5:1,295,068,
# GRCh38): 500 bp window holding the C228T (chr5:1,295,113) and C250T (chr5:1,295,135) hotspots
# (Killela et al., PNAS 110:6021, 2013; coordinates lifted to GRCh38).
TERT_PROMOTER_REGION_GRCH38: tuple[str, int, int] = ("5", 1_295_069, 1_295_568)

# --- copy number ----------------------------------------------------------------------------------------
CNV_LOSS_CATEGORIES: tuple[str, ...] = ("Loss", "Heterozygous Deletion", "Homozygous Deletion")
CNV_GAIN_CATEGORIES: tuple[str, ...] = ("Gain", "Amplification")
CNV_CHANGES: tuple[str, ...] = ("Gain", "Loss")
CNV_AMPLIFICATION = "Amplification"
CNV_HOMOZYGOUS_DELETION = "Homozygous Deletion"
# Arm-level call threshold: fraction of an arm's marker genes that must carry the change (GDC_API_FACTS 4.2:
# co-deletion when both arms are >= ~80-90 % lost; the same fraction is used for whole-chromosome 7/10).
ARM_CALL_MIN_FRACTION = 0.8
GENES_1P: tuple[str, ...] = cnv_genes_on("1", "p")
GENES_19Q: tuple[str, ...] = cnv_genes_on("19", "q")
GENES_CHR7: tuple[str, ...] = cnv_genes_on("7")
GENES_CHR10: tuple[str, ...] = cnv_genes_on("10")
# One bit per marker gene (the panel has fewer than 64 genes) for the per-case gene sets below.
_CNV_GENE_BIT: dict[str, int] = {g.symbol: 1 << index for index, g in enumerate(CNV_MARKER_GENES)}
if len(_CNV_GENE_BIT) > 64:
    raise ValueError("CNV marker panel outgrew the 64-bit gene set of _copy_number_calls")

# --- MGMT -----------------------------------------------------------------------------------------------
# MGMT-STP27, Bady et al. 2012 (coefficients of the published logistic model).
STP27_INTERCEPT = 4.3215
STP27_COEFFICIENT_M1 = 0.5271  # cg12434587
STP27_COEFFICIENT_M2 = 0.9265  # cg12981137
STP27_METHYLATED_ABOVE = 0.358  # p > 0.358 -> methylated
STP27_PROBE_M1, STP27_PROBE_M2 = MGMT_STP27_PROBES
BETA_CLIP_EPSILON = 1e-6  # the resolution of a 6-decimal SeSAMe beta

# Sample types usable for a tumour call, best first (GDC sample_type vocabulary).
TUMOUR_SAMPLE_TYPE_PRIORITY: tuple[str, ...] = ("Primary Tumor", "Recurrent Tumor", "Additional - New Primary")
# Newer arrays first (more probes QC'd per CpG); STP27 was built and validated on 27k and 450k data.
METHYLATION_PLATFORM_PRIORITY: tuple[str, ...] = (
    "Illumina Methylation Epic",
    "Illumina Human Methylation 450",
    "Illumina Human Methylation 27",
)

# Molecular-test vocabulary (GDC `follow_ups.molecular_tests`): test_result (lower-cased) -> methylated?
MGMT_TEST_RESULT_METHYLATED: dict[str, bool] = {
    "positive": True,
    "methylated": True,
    "hypermethylated": True,
    "negative": False,
    "unmethylated": False,
    "not methylated": False,
}
# test_result values that mean "no result" (null call, not an error).
MOLECULAR_TEST_NO_RESULT: frozenset[str] = frozenset(
    {"unknown", "not reported", "equivocal", "inconclusive", "test value reported", "not applicable", "pending"}
)
MGMT_METHYLATION_VARIANT_TYPES: frozenset[str] = frozenset({"methylation", "hypermethylation"})

MGMT_SOURCE_STP27 = "methylation_stp27"
MGMT_SOURCE_CLINICAL = "clinical_molecular_test"
MGMT_SOURCE_PRECEDENCE: tuple[str, ...] = (MGMT_SOURCE_STP27, MGMT_SOURCE_CLINICAL)


TABLE_CASES = "raw/gdc_cases"
# Rejections of *parts* of a case document carry their own table label: `table == "raw/gdc_cases"` in the
# harmonised quarantine means "the whole case was rejected" (transforms.patients, which reconciles raw cases
# = patients + quarantined cases on that label), and a bad MGMT test must not count as a rejected case.
TABLE_CASE_MARKER_FIELDS = "raw/gdc_cases (marker fields)"
TABLE_CASE_MOLECULAR_TESTS = "raw/gdc_cases (molecular tests)"
TABLE_SSM = "raw/gdc_ssm_occurrences"
TABLE_CNV = "raw/gdc_cnv_occurrences"
TABLE_BETAS = "raw/mgmt_probe_betas"
_CNV_COLUMNS = (
    "cnv_occurrence_id",
    "case_id",
    "submitter_id",
    "gene_symbols",
    "cnv_change",
    "cnv_change_5_category",
    "document",
)
_BETA_COLUMNS = ("file_id", "case_id", "submitter_id", "sample_type", "platform", "probe_id", "beta")

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
_SSM_DOCUMENT_DTYPE = pl.Struct(
    {
        "ssm": pl.Struct(
            {
                "chromosome": pl.String(),
                "start_position": pl.String(),
                "consequence": pl.List(
                    pl.Struct(
                        {
                            "transcript": pl.Struct(
                                {
                                    "aa_change": pl.String(),
                                    "consequence_type": pl.String(),
                                    "gene": pl.Struct({"symbol": pl.String()}),
                                }
                            )
                        }
                    )
                ),
            }
        )
    }
)


Frame = pl.DataFrame | pl.LazyFrame
_RAW_ROW = "_raw_row"  # position of a row in its raw input: the key its document is fetched by


@dataclass(frozen=True)
class MolecularMarkers:
    markers: pl.DataFrame  # harmonised/molecular_markers, one row per case of raw/gdc_cases
    quarantine: pl.DataFrame  # QUARANTINE_SCHEMA: rejected occurrence, beta and case-test records


# ------------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------------


def _text(expr: pl.Expr, missing: str = "<missing>") -> pl.Expr:
    return expr.cast(pl.String()).fill_null(missing)


def _quarantine(
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


def _columns(frame: Frame) -> list[str]:
    return frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns


def _require_columns(frame: Frame, columns: tuple[str, ...], table: str) -> None:
    names = _columns(frame)
    missing = [column for column in columns if column not in names]
    if missing:
        raise ValueError(f"{table}: missing column(s) {missing}; got {names}")


def _require_release(frame: Frame, release: str, table: str) -> None:
    """Mixing releases is a wiring error, not bad data: fail loudly."""
    if "release" in _columns(frame):
        others = (
            frame.lazy().select("release").filter(pl.col("release") != release).unique().collect()["release"].to_list()
        )
        if others:
            raise ValueError(f"{table}: rows of release(s) {sorted(others)} passed for release {release!r}")


def _with_raw_row(frame: Frame, columns: tuple[str, ...] | list[str]) -> pl.DataFrame:
    """`columns` of a raw input plus each row's position in it (`_raw_row`), materialising nothing else."""
    return frame.lazy().with_row_index(_RAW_ROW).select(_RAW_ROW, *columns).collect()


class _RawDocuments:
    """The `document` of a raw input's rows, fetched by position (`_raw_row`) only for the rows that need it."""

    def __init__(self, raw: Frame) -> None:
        self.raw = raw

    def of(self, rows: pl.Series) -> pl.DataFrame:
        """(_raw_row, document) for the distinct positions `rows`."""
        rows = rows.unique().sort()
        if isinstance(self.raw, pl.DataFrame):
            return pl.DataFrame({_RAW_ROW: rows, "document": self.raw.get_column("document").gather(rows)})
        return (
            self.raw.select("document")
            .with_row_index(_RAW_ROW)
            .filter(pl.col(_RAW_ROW).is_in(rows.implode()))
            .collect(engine="streaming")
        )

    def attach(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` (with `_raw_row`) with each row's raw `document` added, row order kept."""
        if frame.height == 0:
            return frame.with_columns(pl.lit(None, pl.String()).alias("document"))
        return frame.join(self.of(frame.get_column(_RAW_ROW)), on=_RAW_ROW, how="left", maintain_order="left")


# Rows decoded per `str.json_decode` call: the decoder's working memory is several times the JSON text it
# is given (~1 GB for 100k case documents at once), so long columns are decoded in slices and concatenated.
DECODE_BATCH_ROWS = 10_000


def _decode_json(frame: pl.DataFrame, column: str, dtype: pl.DataType) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
    """Decode a JSON column vectorised, `DECODE_BATCH_ROWS` at a time; see _decode_json_slice.

    Returns (good rows, bad rows, decoded values of the good rows), each in the order of `frame`."""
    if frame.height <= DECODE_BATCH_ROWS:
        return _decode_json_slice(frame, column, dtype)
    parts = [
        _decode_json_slice(frame.slice(start, DECODE_BATCH_ROWS), column, dtype)
        for start in range(0, frame.height, DECODE_BATCH_ROWS)
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


def _orphans_and_unprofiled(
    occurrences: pl.DataFrame,
    cases: pl.DataFrame,
    documents: _RawDocuments,
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
            _quarantine(
                orphans,
                release=release,
                table=table,
                field="case.case_id",
                value=pl.col("case_id"),
                reason="orphan_occurrence",
                detail=pl.format(
                    "{} occurrence {} names case {} ({}) which is not in raw/gdc_cases for this release",
                    pl.lit(kind),
                    _text(pl.col(id_column)),
                    _text(pl.col("case_id")),
                    _text(pl.col("submitter_id")),
                ),
                record=pl.col("document"),
            ),
            _quarantine(
                unprofiled,
                release=release,
                table=table,
                field="case.available_variation_data",
                value=pl.col("available_variation_data").list.join(",").fill_null("<missing>"),
                reason="occurrence_for_unprofiled_case",
                detail=pl.format(
                    "{} occurrence {} for case {} ({}) whose available_variation_data [{}] lacks '{}'; not used",
                    pl.lit(kind),
                    _text(pl.col(id_column)),
                    _text(pl.col("case_id")),
                    _text(pl.col("submitter_id")),
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


def _case_frame(raw_cases: Frame, release: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(one row per case with profiling flags, MGMT molecular-test rows with `_raw_row`, quarantine)."""
    # Case-level rejections (no case_id, conflicting duplicate documents, invalid JSON) belong to
    # transforms.patients, which quarantines them exactly once per case; here a row without case_id cannot
    # get a marker row and a duplicated case uses its first document.
    quarantine: list[pl.DataFrame] = []
    cases = (
        raw_cases.lazy()
        .with_row_index(_RAW_ROW)
        .select(_RAW_ROW, "case_id", "submitter_id", "project_id", "document")
        .filter(pl.col("case_id").is_not_null())
        .unique(subset="case_id", keep="first", maintain_order=True)
        .collect()
    )

    good, bad, decoded = _decode_json(cases, "document", _CASE_DOCUMENT_DTYPE)
    quarantine.append(
        _quarantine(
            bad,
            release=release,
            table=TABLE_CASE_MARKER_FIELDS,
            field="document",
            value=pl.col("document").str.slice(0, 200),
            reason="undecodable_case_document",
            detail=pl.format(
                "case {} ({}): document is not JSON of the expected shape; profiling and molecular tests unknown",
                pl.col("case_id"),
                _text(pl.col("submitter_id")),
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
        good.select("case_id", "submitter_id", _RAW_ROW, "follow_ups")
        .explode("follow_ups")
        .select("case_id", "submitter_id", _RAW_ROW, pl.col("follow_ups").struct.field("molecular_tests"))
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


# ------------------------------------------------------------------------------------------------------------
# mutations
# ------------------------------------------------------------------------------------------------------------


def _mutation_calls(raw_ssm: Frame, cases: pl.DataFrame, release: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per profiled case with evidence: mutated genes, IDH hotspots, TERT promoter flag."""
    occurrences = _with_raw_row(raw_ssm, ("ssm_occurrence_id", "case_id", "submitter_id", "ssm_id"))
    documents = _RawDocuments(raw_ssm)
    usable, quarantine = _orphans_and_unprofiled(
        occurrences,
        cases,
        documents,
        profiled_column="ssm_profiled",
        kind="ssm",
        id_column="ssm_occurrence_id",
        release=release,
        table=TABLE_SSM,
    )
    # An ssm (the variant) is one GDC entity embedded unchanged in every occurrence of it, so its JSON is
    # decoded once per ssm_id — a few thousand variants instead of every occurrence (JSON decoding dominates
    # the run time on large cohorts). Occurrences without ssm_id are decoded on their own.
    usable = usable.with_row_index("_row").with_columns(
        pl.coalesce(pl.col("ssm_id"), pl.concat_str(pl.lit("row:"), pl.col("_row").cast(pl.String))).alias("_ssm_key")
    )
    representatives = documents.attach(
        usable.unique(subset="_ssm_key", keep="first", maintain_order=True).select("_ssm_key", _RAW_ROW)
    ).select("_ssm_key", "document")
    good_docs, bad_docs, decoded = _decode_json(representatives, "document", _SSM_DOCUMENT_DTYPE)
    del representatives
    bad = documents.attach(usable.filter(pl.col("_ssm_key").is_in(bad_docs["_ssm_key"].implode())))
    parts = [
        quarantine,
        _quarantine(
            bad,
            release=release,
            table=TABLE_SSM,
            field="document",
            value=pl.col("document").str.slice(0, 200),
            reason="undecodable_ssm_document",
            detail=pl.format(
                "ssm occurrence {} of case {} ({}): the document of ssm {} is not JSON of the expected shape",
                _text(pl.col("ssm_occurrence_id")),
                pl.col("case_id"),
                _text(pl.col("submitter_id")),
                _text(pl.col("ssm_id")),
            ),
            record=pl.col("document"),
        ),
    ]
    variants = good_docs.select("_ssm_key", decoded.struct.field("ssm").alias("_ssm")).select(
        "_ssm_key",
        pl.col("_ssm").struct.field("consequence").alias("consequence"),
        pl.col("_ssm").struct.field("chromosome").str.strip_prefix("chr").alias("chromosome"),
        pl.col("_ssm")
        .struct.field("start_position")
        .cast(pl.Float64, strict=False)
        .cast(pl.Int64, strict=False)
        .alias("start_position"),
    )
    ssm = usable.join(variants, on="_ssm_key", how="inner")
    no_consequence = documents.attach(ssm.filter(pl.col("consequence").list.len().fill_null(0) == 0))
    parts.append(
        _quarantine(
            no_consequence,
            release=release,
            table=TABLE_SSM,
            field="ssm.consequence",
            value=pl.lit(None, pl.String()),
            reason="ssm_without_consequence",
            detail=pl.format(
                "ssm occurrence {} of case {} ({}) has no consequence, so no gene can be attributed",
                _text(pl.col("ssm_occurrence_id")),
                pl.col("case_id"),
                _text(pl.col("submitter_id")),
            ),
            record=pl.col("document"),
        )
    )
    transcript = pl.col("consequence").struct.field("transcript")
    consequences = (
        ssm.filter(pl.col("consequence").list.len().fill_null(0) > 0)
        .select("case_id", "chromosome", "start_position", "consequence")
        .explode("consequence")
        .select(
            "case_id",
            "chromosome",
            "start_position",
            transcript.struct.field("gene").struct.field("symbol").alias("gene"),
            transcript.struct.field("consequence_type").alias("consequence_type"),
            transcript.struct.field("aa_change").str.strip_prefix("p.").alias("aa_change"),
        )
        .filter(pl.col("gene").is_in(list(SSM_PANEL_GENES)))
    )
    # VEP may join several terms with "&" on one transcript: any non-silent term counts.
    non_silent = (
        pl.col("consequence_type")
        .str.split("&")
        .list.eval(pl.element().is_in(sorted(NON_SILENT_CODING_CONSEQUENCES)))
        .list.any()
        .fill_null(False)
    )
    hotspot = pl.lit(False)
    for gene, codon in IDH_HOTSPOT_CODONS.items():
        hotspot = hotspot | (
            (pl.col("gene") == gene)
            & pl.col("consequence_type").str.contains("missense_variant").fill_null(False)
            & pl.col("aa_change").str.contains(f"^R{codon}[{_AMINO_ACIDS_EXCEPT_ARG}]$").fill_null(False)
        )
    chromosome, start, end = TERT_PROMOTER_REGION_GRCH38
    tert_promoter = (
        (pl.col("gene") == "TERT")
        & (pl.col("chromosome") == chromosome)
        & pl.col("start_position").is_between(start, end).fill_null(False)
    )
    calls = consequences.group_by("case_id").agg(
        pl.col("gene").filter(non_silent).unique().alias("mutated_genes"),
        pl.format("{} {}", pl.col("gene"), pl.col("aa_change"))
        .filter(hotspot)
        .unique()
        .sort()
        .str.join("; ")
        .alias("idh_hotspot"),
        tert_promoter.any().alias("tert_promoter_mutated"),
    )
    return calls, pl.concat(parts)


# ------------------------------------------------------------------------------------------------------------
# copy number
# ------------------------------------------------------------------------------------------------------------


def _copy_number_calls(raw_cnv: Frame, cases: pl.DataFrame, release: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    occurrences = _with_raw_row(raw_cnv, [column for column in _CNV_COLUMNS if column != "document"])
    documents = _RawDocuments(raw_cnv)
    usable, quarantine = _orphans_and_unprofiled(
        occurrences,
        cases,
        documents,
        profiled_column="cnv_profiled",
        kind="cnv",
        id_column="cnv_occurrence_id",
        release=release,
        table=TABLE_CNV,
    )
    category = pl.col("cnv_change_5_category")
    change = pl.col("cnv_change")
    unknown_category = category.is_not_null() & ~category.is_in(list(CNV_GAIN_CATEGORIES + CNV_LOSS_CATEGORIES))
    unknown_change = change.is_not_null() & ~change.is_in(list(CNV_CHANGES))
    missing_both = category.is_null() & change.is_null()
    contradictory = (
        ~unknown_category
        & ~unknown_change
        & category.is_not_null()
        & change.is_not_null()
        & (
            (category.is_in(list(CNV_GAIN_CATEGORIES)) & (change == "Loss"))
            | (category.is_in(list(CNV_LOSS_CATEGORIES)) & (change == "Gain"))
        )
    )
    checks = [
        (
            unknown_category,
            "cnv.cnv_change_5_category",
            category,
            "unknown_cnv_category",
            "cnv occurrence {} of case {} ({}): cnv_change_5_category {} is not one of "
            + ", ".join(CNV_GAIN_CATEGORIES + CNV_LOSS_CATEGORIES),
        ),
        (
            unknown_change & ~unknown_category,
            "cnv.cnv_change",
            change,
            "unknown_cnv_change",
            "cnv occurrence {} of case {} ({}): cnv_change {} is not Gain or Loss",
        ),
        (
            missing_both,
            "cnv.cnv_change_5_category",
            category,
            "missing_cnv_change",
            "cnv occurrence {} of case {} ({}): neither cnv_change_5_category nor cnv_change is given ({})",
        ),
        (
            contradictory,
            "cnv.cnv_change",
            pl.format("{} / {}", change, category),
            "contradictory_cnv_change",
            "cnv occurrence {} of case {} ({}): cnv_change and cnv_change_5_category disagree ({})",
        ),
    ]
    parts = [quarantine]
    rejected = pl.lit(False)
    for condition, field, value, reason, template in checks:
        parts.append(
            _quarantine(
                documents.attach(usable.filter(condition)),
                release=release,
                table=TABLE_CNV,
                field=field,
                value=value,
                reason=reason,
                detail=pl.format(
                    template,
                    _text(pl.col("cnv_occurrence_id")),
                    pl.col("case_id"),
                    _text(pl.col("submitter_id")),
                    _text(value.cast(pl.String())),
                ),
                record=pl.col("document"),
            )
        )
        rejected = rejected | condition
    valid = usable.filter(~rejected)
    lost = category.is_in(list(CNV_LOSS_CATEGORIES)) | (category.is_null() & (change == "Loss"))
    gained = category.is_in(list(CNV_GAIN_CATEGORIES)) | (category.is_null() & (change == "Gain"))
    # A gene counts once however many occurrences it has: each marker gene is one bit of a per-case set
    # (bitwise OR over the case's occurrences, then a popcount per arm). One group_by on case_id, plain
    # aggregations — a (case, gene) group_by on ~2M rows costs several times more.
    gene_bit = pl.col("gene").replace_strict(_CNV_GENE_BIT, default=None, return_dtype=pl.UInt64).alias("gene_bit")

    def genes_with(event: pl.Expr, genes: tuple[str, ...]) -> pl.Expr:
        arm_mask = sum(_CNV_GENE_BIT[g] for g in genes)
        return pl.when(event).then(pl.col("gene_bit") & arm_mask).otherwise(0).cast(pl.UInt64)

    is_lost, is_gained = pl.col("lost").fill_null(False), pl.col("gained").fill_null(False)
    counted = (
        valid.select("case_id", "gene_symbols", lost.alias("lost"), gained.alias("gained"), category.alias("category"))
        .explode("gene_symbols")
        .rename({"gene_symbols": "gene"})
        .with_columns(gene_bit)
        .filter(pl.col("gene_bit").is_not_null())
        .select(
            "case_id",
            genes_with(is_lost, GENES_1P).alias("lost_1p"),
            genes_with(is_lost, GENES_19Q).alias("lost_19q"),
            genes_with(is_gained, GENES_CHR7).alias("gained_7"),
            genes_with(is_lost, GENES_CHR10).alias("lost_10"),
            ((pl.col("category") == CNV_AMPLIFICATION) & (pl.col("gene") == "EGFR"))
            .fill_null(False)
            .alias("egfr_amplified"),
            ((pl.col("category") == CNV_HOMOZYGOUS_DELETION) & (pl.col("gene") == "CDKN2A"))
            .fill_null(False)
            .alias("cdkn2a_homozygous_deletion"),
        )
        .group_by("case_id")
        .agg(
            pl.col("lost_1p", "lost_19q", "gained_7", "lost_10").bitwise_or(),
            pl.col("egfr_amplified", "cdkn2a_homozygous_deletion").any(),
        )
    )

    def arm_call(genes_bits: str, genes: tuple[str, ...]) -> pl.Expr:
        return pl.col(genes_bits).bitwise_count_ones() / len(genes) >= ARM_CALL_MIN_FRACTION

    calls = counted.select(
        "case_id",
        (arm_call("lost_1p", GENES_1P) & arm_call("lost_19q", GENES_19Q)).alias("codeletion_1p19q"),
        (arm_call("gained_7", GENES_CHR7) & arm_call("lost_10", GENES_CHR10)).alias("chr7_gain_chr10_loss"),
        "egfr_amplified",
        "cdkn2a_homozygous_deletion",
    )
    return calls, pl.concat(parts)


# ------------------------------------------------------------------------------------------------------------
# MGMT
# ------------------------------------------------------------------------------------------------------------


def stp27_probability(beta_m1: pl.Expr, beta_m2: pl.Expr) -> pl.Expr:
    """MGMT-STP27 probability of promoter methylation from the betas of cg12434587 (M1) and cg12981137 (M2)."""

    def m_value(beta: pl.Expr) -> pl.Expr:
        clipped = beta.clip(BETA_CLIP_EPSILON, 1.0 - BETA_CLIP_EPSILON)
        return (clipped / (1.0 - clipped)).log(2.0)

    logit = STP27_INTERCEPT + STP27_COEFFICIENT_M1 * m_value(beta_m1) + STP27_COEFFICIENT_M2 * m_value(beta_m2)
    return 1.0 / (1.0 + (-logit).exp())


def _stp27_calls(raw_betas: Frame, cases: pl.DataFrame, release: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    raw_betas = raw_betas.collect() if isinstance(raw_betas, pl.LazyFrame) else raw_betas  # small: no documents
    # The whole raw row, as JSON, is the quarantine record of a beta row.
    betas = raw_betas.select(*_BETA_COLUMNS, pl.struct(raw_betas.columns).struct.json_encode().alias("_record"))
    parts: list[pl.DataFrame] = []
    known = pl.col("case_id").is_in(cases["case_id"].implode()).fill_null(False)
    parts.append(
        _quarantine(
            betas.filter(~known),
            release=release,
            table=TABLE_BETAS,
            field="case_id",
            value=pl.col("case_id"),
            reason="orphan_methylation_file",
            detail=pl.format(
                "methylation file {} names case {} ({}) which is not in raw/gdc_cases for this release",
                _text(pl.col("file_id")),
                _text(pl.col("case_id")),
                _text(pl.col("submitter_id")),
            ),
            record=pl.col("_record"),
        )
    )
    beta = pl.col("beta")
    out_of_range = beta.is_not_null() & (beta.is_nan() | (beta < 0.0) | (beta > 1.0))
    parts.append(
        _quarantine(
            betas.filter(known & out_of_range),
            release=release,
            table=TABLE_BETAS,
            field="beta",
            value=pl.col("beta"),
            reason="beta_out_of_range",
            detail=pl.format(
                "methylation file {} of case {} ({}): probe {} has beta {}, outside [0, 1]; treated as missing",
                _text(pl.col("file_id")),
                pl.col("case_id"),
                _text(pl.col("submitter_id")),
                _text(pl.col("probe_id")),
                _text(pl.col("beta")),
            ),
            record=pl.col("_record"),
        )
    )
    probes = betas.filter(known & pl.col("probe_id").is_in(list(MGMT_STP27_PROBES))).with_columns(
        pl.when(out_of_range).then(None).otherwise(pl.col("beta")).alias("beta")
    )
    # The same probe listed twice in one file with different betas cannot be resolved: quarantine, use null.
    conflicting = probes.filter(pl.col("beta").n_unique().over("file_id", "probe_id") > 1)
    parts.append(
        _quarantine(
            conflicting,
            release=release,
            table=TABLE_BETAS,
            field="beta",
            value=pl.col("beta"),
            reason="conflicting_probe_beta",
            detail=pl.format(
                "methylation file {} of case {} ({}): probe {} has several different betas; probe treated as missing",
                _text(pl.col("file_id")),
                pl.col("case_id"),
                _text(pl.col("submitter_id")),
                _text(pl.col("probe_id")),
            ),
            record=pl.col("_record"),
        )
    )
    probes = probes.with_columns(
        pl.when(beta.n_unique().over("file_id", "probe_id") > 1).then(None).otherwise(beta).alias("beta")
    )
    files = probes.group_by("file_id").agg(
        pl.col("case_id").first(),
        pl.col("sample_type").first(),
        pl.col("platform").first(),
        pl.col("beta").filter(pl.col("probe_id") == STP27_PROBE_M1).first().alias("beta_m1"),
        pl.col("beta").filter(pl.col("probe_id") == STP27_PROBE_M2).first().alias("beta_m2"),
    )
    files = files.with_columns(stp27_probability(pl.col("beta_m1"), pl.col("beta_m2")).alias("mgmt_stp27_probability"))
    sample_rank = pl.col("sample_type").replace_strict(
        {t: i for i, t in enumerate(TUMOUR_SAMPLE_TYPE_PRIORITY)}, default=None, return_dtype=pl.Int32
    )
    platform_rank = pl.col("platform").replace_strict(
        {p: i for i, p in enumerate(METHYLATION_PLATFORM_PRIORITY)},
        default=len(METHYLATION_PLATFORM_PRIORITY),
        return_dtype=pl.Int32,
    )
    chosen = (
        files.with_columns(sample_rank.alias("_sample_rank"), platform_rank.alias("_platform_rank"))
        .filter(pl.col("_sample_rank").is_not_null())
        .sort(
            pl.col("mgmt_stp27_probability").is_null(),
            "_sample_rank",
            "_platform_rank",
            "file_id",
        )
        .group_by("case_id", maintain_order=True)
        .first()
        .select("case_id", "mgmt_stp27_probability")
    )
    return chosen, pl.concat(parts)


def _clinical_mgmt_calls(
    tests: pl.DataFrame, documents: _RawDocuments, release: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    mgmt = tests.filter(
        (pl.col("gene_symbol").str.to_uppercase() == "MGMT")
        & (
            pl.col("variant_type").is_null()
            | pl.col("variant_type").str.to_lowercase().is_in(sorted(MGMT_METHYLATION_VARIANT_TYPES))
        )
    ).with_columns(pl.col("test_result").str.strip_chars().str.to_lowercase().alias("_result"))
    mgmt = mgmt.with_columns(
        pl.col("_result")
        .replace_strict(MGMT_TEST_RESULT_METHYLATED, default=None, return_dtype=pl.Boolean)
        .alias("methylated")
    )
    unknown = mgmt.filter(
        pl.col("_result").is_not_null()
        & ~pl.col("_result").is_in(list(MGMT_TEST_RESULT_METHYLATED))
        & ~pl.col("_result").is_in(sorted(MOLECULAR_TEST_NO_RESULT))
    )
    parts = [
        _quarantine(
            documents.attach(unknown),
            release=release,
            table=TABLE_CASE_MOLECULAR_TESTS,
            field="follow_ups.molecular_tests.test_result",
            value=pl.col("test_result"),
            reason="unknown_mgmt_test_result",
            detail=pl.format(
                "case {} ({}): MGMT molecular test result {} is not in the MGMT test vocabulary; "
                "no clinical call from it",
                pl.col("case_id"),
                _text(pl.col("submitter_id")),
                _text(pl.col("test_result")),
            ),
            record=pl.col("document"),
        )
    ]
    per_case = (
        mgmt.filter(pl.col("methylated").is_not_null())
        .group_by("case_id")
        .agg(
            pl.col("submitter_id").first(),
            pl.col(_RAW_ROW).first(),
            pl.col("methylated").n_unique().alias("_n_distinct"),
            pl.col("methylated").first().alias("clinical_methylated"),
            pl.col("test_result").unique().sort().str.join(", ").alias("_results"),
        )
    )
    conflicting = documents.attach(per_case.filter(pl.col("_n_distinct") > 1))
    parts.append(
        _quarantine(
            conflicting,
            release=release,
            table=TABLE_CASE_MOLECULAR_TESTS,
            field="follow_ups.molecular_tests.test_result",
            value=pl.col("_results"),
            reason="conflicting_mgmt_tests",
            detail=pl.format(
                "case {} ({}): MGMT molecular tests disagree ({}); no clinical call",
                pl.col("case_id"),
                _text(pl.col("submitter_id")),
                pl.col("_results"),
            ),
            record=pl.col("document"),
        )
    )
    calls = per_case.filter(pl.col("_n_distinct") == 1).select("case_id", "clinical_methylated")
    return calls, pl.concat(parts)


# ------------------------------------------------------------------------------------------------------------
# public
# ------------------------------------------------------------------------------------------------------------


def call_molecular_markers(
    raw_cases: Frame,
    raw_ssm: Frame,
    raw_cnv: Frame,
    raw_mgmt_betas: Frame,
    *,
    release: str,
) -> MolecularMarkers:
    """One `harmonised/molecular_markers` row per decodable case of `raw_cases`, plus the rejected raw records.

    Each raw input is a DataFrame or a LazyFrame (e.g. `pl.scan_parquet` of the lake file: only the columns
    and documents the calls need are then read)."""
    _require_columns(raw_cases, ("case_id", "submitter_id", "project_id", "document"), TABLE_CASES)
    _require_columns(raw_ssm, ("ssm_occurrence_id", "case_id", "submitter_id", "ssm_id", "document"), TABLE_SSM)
    _require_columns(
        raw_cnv,
        _CNV_COLUMNS,
        TABLE_CNV,
    )
    _require_columns(raw_mgmt_betas, _BETA_COLUMNS, TABLE_BETAS)
    inputs = ((raw_cases, TABLE_CASES), (raw_ssm, TABLE_SSM), (raw_cnv, TABLE_CNV), (raw_mgmt_betas, TABLE_BETAS))
    for frame, table in inputs:
        _require_release(frame, release, table)

    cases, tests, case_quarantine = _case_frame(raw_cases, release)
    mutations, ssm_quarantine = _mutation_calls(raw_ssm, cases, release)
    copy_number, cnv_quarantine = _copy_number_calls(raw_cnv, cases, release)
    stp27, beta_quarantine = _stp27_calls(raw_mgmt_betas, cases, release)
    clinical, clinical_quarantine = _clinical_mgmt_calls(tests, _RawDocuments(raw_cases), release)

    frame = (
        cases.join(mutations, on="case_id", how="left")
        .join(copy_number, on="case_id", how="left")
        .join(stp27, on="case_id", how="left")
        .join(clinical, on="case_id", how="left")
    )
    ssm_profiled = pl.col("ssm_profiled").fill_null(False)
    cnv_profiled = pl.col("cnv_profiled").fill_null(False)

    def gene_status(gene: str) -> pl.Expr:
        return (
            pl.when(~ssm_profiled)
            .then(None)
            .when(pl.col("mutated_genes").list.contains(gene).fill_null(False))
            .then(pl.lit("mutant"))
            .otherwise(pl.lit("wildtype"))
        )

    def cnv_call(column: str) -> pl.Expr:
        return pl.when(cnv_profiled).then(pl.col(column).fill_null(False)).otherwise(None).alias(column)

    stp27_methylated = pl.col("mgmt_stp27_probability") > STP27_METHYLATED_ABOVE
    has_hotspot = pl.col("idh_hotspot").fill_null("") != ""
    mgmt_calls = {MGMT_SOURCE_STP27: stp27_methylated, MGMT_SOURCE_CLINICAL: pl.col("clinical_methylated")}
    mgmt_source = pl.lit(None, pl.String())
    for source in reversed(MGMT_SOURCE_PRECEDENCE):  # built inside-out so the first source wins
        mgmt_source = pl.when(mgmt_calls[source].is_not_null()).then(pl.lit(source)).otherwise(mgmt_source)
    frame = frame.with_columns(
        pl.lit(release, pl.String()).alias("release"),
        *[gene_status(gene).alias(column) for gene, column in MUTATION_COLUMNS.items()],
        pl.when(~ssm_profiled)
        .then(None)
        .when(has_hotspot)
        .then(pl.lit("mutant"))
        .otherwise(pl.lit("wildtype"))
        .alias("idh_status"),
        pl.when(ssm_profiled & has_hotspot).then(pl.col("idh_hotspot")).alias("idh_hotspot"),
        gene_status("ATRX").alias("atrx_status"),
        gene_status("TP53").alias("tp53_status"),
        pl.when(ssm_profiled & pl.col("tert_promoter_mutated").fill_null(False))
        .then(pl.lit("mutant"))
        .alias("tert_status"),
        cnv_call("codeletion_1p19q"),
        cnv_call("chr7_gain_chr10_loss"),
        cnv_call("egfr_amplified"),
        cnv_call("cdkn2a_homozygous_deletion"),
        pl.coalesce([mgmt_calls[source] for source in MGMT_SOURCE_PRECEDENCE]).alias("mgmt_promoter_methylated"),
        mgmt_source.alias("mgmt_source"),
        pl.when(stp27_methylated.is_not_null() & pl.col("clinical_methylated").is_not_null())
        .then(stp27_methylated != pl.col("clinical_methylated"))
        .alias("mgmt_sources_disagree"),
    )
    markers = frame.select([pl.col(name).cast(dtype) for name, dtype in MOLECULAR_MARKERS_SCHEMA.items()])
    quarantine = pl.concat(
        [
            q.select([pl.col(name).cast(dtype) for name, dtype in QUARANTINE_SCHEMA.items()])
            for q in (case_quarantine, ssm_quarantine, cnv_quarantine, beta_quarantine, clinical_quarantine)
        ]
    )
    return MolecularMarkers(markers=markers, quarantine=quarantine)
