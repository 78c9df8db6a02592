"""The analysts' catalog: the DuckDB file of views over committed lake versions, its analytics tables, the
generated data dictionary and the `glioma` CLI. Publishes atomically; never writes the lake."""
