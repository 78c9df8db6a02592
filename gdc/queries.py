"""What the platform asks GDC for: the fields of each entity and the filters of each search, in GDC's
filter language (GDC_API_FACTS.md section 2). Pure values and functions: the raw assets pass them to the client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# What the raw layer asks GDC for. Field lists are explicit (not `expand`) for occurrences so the
# payload stays small; case documents take whole expand groups so new clinical fields come along.
CASE_FIELDS = (
    "case_id",
    "submitter_id",
    "state",
    "disease_type",
    "primary_site",
    "index_date",
    "updated_datetime",
    "available_variation_data",
)
CASE_EXPAND = (
    "project",
    "demographic",
    "diagnoses",
    "diagnoses.treatments",
    "follow_ups",
    "follow_ups.molecular_tests",
)
SSM_OCCURRENCE_FIELDS = (
    "ssm_occurrence_id",
    "case.case_id",
    "case.submitter_id",
    "case.project.project_id",
    "case.available_variation_data",
    "ssm.ssm_id",
    "ssm.chromosome",
    "ssm.start_position",
    "ssm.end_position",
    "ssm.reference_allele",
    "ssm.tumor_allele",
    "ssm.genomic_dna_change",
    "ssm.mutation_type",
    "ssm.mutation_subtype",
    "ssm.ncbi_build",
    "ssm.consequence.transcript.transcript_id",
    "ssm.consequence.transcript.is_canonical",
    "ssm.consequence.transcript.aa_change",
    "ssm.consequence.transcript.consequence_type",
    "ssm.consequence.transcript.annotation.vep_impact",
    "ssm.consequence.transcript.gene.symbol",
    "ssm.consequence.transcript.gene.gene_id",
)
CNV_OCCURRENCE_FIELDS = (
    "cnv_occurrence_id",
    "case.case_id",
    "case.submitter_id",
    "case.project.project_id",
    "case.available_variation_data",
    "cnv.cnv_id",
    "cnv.chromosome",
    "cnv.start_position",
    "cnv.end_position",
    "cnv.cnv_change",
    "cnv.cnv_change_5_category",
    "cnv.gene_level_cn",
    "cnv.ncbi_build",
    "cnv.consequence.gene.symbol",
    "cnv.consequence.gene.gene_id",
)
METHYLATION_FILE_FIELDS = (
    "file_id",
    "file_name",
    "data_category",
    "data_type",
    "data_format",
    "experimental_strategy",
    "platform",
    "access",
    "state",
    "version",
    "md5sum",
    "file_size",
    "created_datetime",
    "updated_datetime",
    "analysis.workflow_type",
    "cases.case_id",
    "cases.submitter_id",
    "cases.project.project_id",
    "cases.samples.sample_id",
    "cases.samples.submitter_id",
    "cases.samples.sample_type",
)
METHYLATION_FILTER_VALUES = {
    "data_category": "DNA Methylation",
    "data_type": "Methylation Beta Value",
    "analysis.workflow_type": "SeSAMe Methylation Beta Estimation",
    "access": "open",
}

# GDC_API_FACTS.md 4.4: the augmented STAR counts files (one per aliquot) of RNA-seq.
EXPRESSION_FILE_FIELDS = (
    *(field for field in METHYLATION_FILE_FIELDS if field != "platform"),
    "platform",
    "cases.samples.portions.analytes.aliquots.submitter_id",
)
EXPRESSION_FILTER_VALUES = {
    "data_category": "Transcriptome Profiling",
    "data_type": "Gene Expression Quantification",
    "analysis.workflow_type": "STAR - Counts",
    "access": "open",
}


def in_filter(field: str, values: Sequence[str]) -> dict[str, Any]:
    return {"op": "in", "content": {"field": field, "value": list(values)}}


def and_filter(*leaves: dict[str, Any]) -> dict[str, Any]:
    return {"op": "and", "content": list(leaves)}


def case_filters(projects: Sequence[str]) -> dict[str, Any]:
    return in_filter("project.project_id", projects)


def ssm_occurrence_filters(projects: Sequence[str], genes: Sequence[str]) -> dict[str, Any]:
    return and_filter(
        in_filter("case.project.project_id", projects),
        in_filter("ssm.consequence.transcript.gene.symbol", genes),
    )


def cnv_occurrence_filters(projects: Sequence[str], genes: Sequence[str]) -> dict[str, Any]:
    return and_filter(in_filter("case.project.project_id", projects), in_filter("cnv.consequence.gene.symbol", genes))


def methylation_file_filters(projects: Sequence[str]) -> dict[str, Any]:
    leaves = [in_filter(field, [value]) for field, value in METHYLATION_FILTER_VALUES.items()]
    return and_filter(in_filter("cases.project.project_id", projects), *leaves)


def expression_file_filters(projects: Sequence[str]) -> dict[str, Any]:
    leaves = [in_filter(field, [value]) for field, value in EXPRESSION_FILTER_VALUES.items()]
    return and_filter(in_filter("cases.project.project_id", projects), *leaves)
