"""Every test process gets a private, throw-away AIRFLOW_HOME before Airflow is imported."""

from __future__ import annotations

import os
import shutil
import tempfile

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="ds-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__PARALLELISM"] = "4"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ.pop("DS_REPLICATION_CONFIG", None)


def pytest_unconfigure(config):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
