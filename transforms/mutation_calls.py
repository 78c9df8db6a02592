"""Mutation calls per case (a stage of transforms.markers): raw/gdc_ssm_occurrences -> mutated panel genes,
IDH hotspot, TERT promoter.

Every rule and threshold is a named constant below, with its source.
  * A gene of `SSM_PANEL_GENES` is `mutant` when the case has an ssm occurrence with at least one consequence
    *on a transcript of that gene* whose `consequence_type` is in `NON_SILENT_CODING_CONSEQUENCES`. GDC returns
    every transcript of an ssm, including transcripts of other, overlapping genes and non-coding transcripts
    (GDC_API_FACTS 3.1, trap 8), so the gene is read from each consequence, never from the occurrence filter.
  * `wildtype` when the case was profiled (`"ssm"` in `available_variation_data`) and has no such occurrence;
    null when not profiled (GDC_BUNDLE.md: "a case without ssm has unknown status"). Applied when
    transforms.markers joins the calls.
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

An ssm's `document` JSON is decoded once per distinct ssm (its consequences), not once per occurrence.
"""

from __future__ import annotations

import polars as pl

from contracts.panels import SSM_PANEL_GENES
from transforms.marker_inputs import (
    RAW_ROW,
    TABLE_SSM,
    Frame,
    RawDocuments,
    as_text,
    decode_json,
    orphans_and_unprofiled,
    quarantine_rows,
    with_raw_row,
)

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

# Only the parts of the ssm document the calls need, read as text (see marker_inputs).
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


def mutation_calls(
    raw_ssm: Frame, cases: pl.DataFrame, release: str, decode_batch_rows: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per profiled case with evidence: mutated genes, IDH hotspots, TERT promoter flag."""
    occurrences = with_raw_row(raw_ssm, ("ssm_occurrence_id", "case_id", "submitter_id", "ssm_id"))
    documents = RawDocuments(raw_ssm)
    usable, quarantine = orphans_and_unprofiled(
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
        usable.unique(subset="_ssm_key", keep="first", maintain_order=True).select("_ssm_key", RAW_ROW)
    ).select("_ssm_key", "document")
    good_docs, bad_docs, decoded = decode_json(representatives, "document", _SSM_DOCUMENT_DTYPE, decode_batch_rows)
    del representatives
    bad = documents.attach(usable.filter(pl.col("_ssm_key").is_in(bad_docs["_ssm_key"].implode())))
    parts = [
        quarantine,
        quarantine_rows(
            bad,
            release=release,
            table=TABLE_SSM,
            field="document",
            value=pl.col("document").str.slice(0, 200),
            reason="undecodable_ssm_document",
            detail=pl.format(
                "ssm occurrence {} of case {} ({}): the document of ssm {} is not JSON of the expected shape",
                as_text(pl.col("ssm_occurrence_id")),
                pl.col("case_id"),
                as_text(pl.col("submitter_id")),
                as_text(pl.col("ssm_id")),
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
        quarantine_rows(
            no_consequence,
            release=release,
            table=TABLE_SSM,
            field="ssm.consequence",
            value=pl.lit(None, pl.String()),
            reason="ssm_without_consequence",
            detail=pl.format(
                "ssm occurrence {} of case {} ({}) has no consequence, so no gene can be attributed",
                as_text(pl.col("ssm_occurrence_id")),
                pl.col("case_id"),
                as_text(pl.col("submitter_id")),
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
