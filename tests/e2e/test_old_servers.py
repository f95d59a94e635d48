"""What the DAGs do on a DS-era estate, end to end on the DS lab.

- The database the scripts and the catalog reads use is the configured one, whatever the
  connection's own `schema` (default database) says.
"""

from __future__ import annotations

import json

import pytest

from tests.airflow_env import run_dag
from tests.e2e.conftest import _estate

SLAVE = "slave1"


@pytest.fixture(scope="module")
def old_estate(request):
    return _estate(request, slaves=1, identity=False)


def with_connection(env: dict[str, str], conn_id: str, **changes) -> dict[str, str]:
    """`env` with Airflow connection `conn_id` changed."""
    key = f"AIRFLOW_CONN_{conn_id.upper()}"
    return {**env, key: json.dumps({**json.loads(env[key]), **changes})}


def states(result: dict) -> dict[str, str]:
    return {task: ti["state"] for task, ti in sorted(result["tasks"].items())}


def test_the_configured_database_is_used_whatever_the_connections_schema(old_estate):
    env = old_estate.env
    for host in ("master", SLAVE):  # a default database the server does not even hold
        env = with_connection(env, f"ds_{host}_mssql", schema="not_the_ds_database")
    result = run_dag(env, f"replicate_{SLAVE}")
    assert result["state"] == "success", (states(result), result["log"][-4000:])
    assert set(states(result).values()) == {"success"}, states(result)
