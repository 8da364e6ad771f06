"""Airflow-facing pieces of the CVP pipeline: hooks, the deferrable record sensor and its trigger,
and the task bodies the DAGs call. The domain itself lives in the `cvp` package."""
