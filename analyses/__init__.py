"""Expression analyses per release: differential expression (DESeq2's method), pathway enrichment, expression
subtypes and survival by gene. Pure: frames and matrices in, frames out; no Dagster, no I/O."""
