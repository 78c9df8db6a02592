"""The lake: versioned Parquet partitions per table and release, the manifest that commits them, the local or
S3 object store underneath, atomic files and named crash points. No Dagster, no analysts' views."""
