"""The NCI GDC REST API client (live or the stand-in): status, paged searches, streamed and resumable downloads,
what to ask for (`gdc.queries`) and which failures are worth a retry (`gdc.errors`). No Dagster."""
