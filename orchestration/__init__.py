"""Dagster wiring only: the Definitions, jobs, schedules, sensors, executors and deployment (local, PostgreSQL,
Kubernetes), plus the `make demo` and `make ui` launchers."""
