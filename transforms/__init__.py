"""Pure polars functions from GDC documents to the raw, harmonised and feature tables: vocabularies, quarantine
rules, survival, molecular marker calls, WHO CNS5 class and release changes. No Dagster, no I/O."""
