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

FAULT_GROUPS = 2


def pytest_unconfigure(config):
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """`make test` runs the suite on several pytest-xdist workers (`--dist loadgroup`): the tests of
    a module stay together so its lab starts once, except the fault matrix, which is the longest
    module and whose cases are independent: it is dealt to FAULT_GROUPS groups, each with a lab."""
    import pytest

    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module == "test_faults" and hasattr(item, "callspec"):
            group = f"{module}-{item.callspec.indices['case'] % FAULT_GROUPS}"
        else:
            group = module
        item.add_marker(pytest.mark.xdist_group(group))
