"""Python ETL task steps behind one CLI, ``pytask``, that honours the polyetl task contract.

The contract (``docs/task-contract.md`` at the repository root) is what Airflow relies on:
JSON log lines, a result file for xcom, and exit codes that tell a retry from a lost cause.
This package implements its runtime part once; commands only do their own work.
"""

__version__ = "0.1.0"
TOOL = "pytask"
ENV_PREFIX = "PYTASK_"

__all__ = ["ENV_PREFIX", "TOOL", "__version__"]
