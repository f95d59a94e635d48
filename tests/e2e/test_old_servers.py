"""What the DAGs do on a DS-era estate, end to end on the DS lab.

- The database the scripts and the catalog reads use is the configured one, whatever the
  connection's own `schema` (default database) says.
- A slave whose SMB server speaks SMB1 only (Windows Server 2003): preflight refuses it from the
  server's answer to the dialect negotiation (not by waiting out a timeout), naming the host,
  the dialect and what is needed, without retries.
- A slave on SQL Server 2000 / MSDE 2000 (no sys.* views): preflight refuses it with its version.
- A slave whose server runs with 'nested triggers' off: preflight refuses it by the option's name.
- A slave's database near its Express edition's cap: preflight warns (log and XCom) and the run goes on.
- Sensors (called directly, against the lab's servers): an error no wait heals (a login
  refused, an unknown host, a missing share) fails the poke at once with its message; a
  dropped connection is poked again.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from airflow.sdk.exceptions import AirflowFailException

from ds_replication.ds_host import DsHost
from ds_replication.sensors.wait_for_export import ExportFileSensor
from ds_replication.sensors.wait_for_import import ImportedJobsSensor
from tests.airflow_env import PYTHON, REPO, run_dag
from tests.e2e.conftest import _estate
from tests.lab import faults

SLAVE = "slave1"
SMB1_SLAVE = "slave2"  # its smbd speaks SMB1 only


@pytest.fixture(scope="module")
def old_estate(request):
    # the estate file never changes here: the nights share one dag.test() process (conftest.Estate)
    return _estate(request, slaves=2, identity=False, lab_options=("--smb1", SMB1_SLAVE), one_process=True)


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


def test_preflight_refuses_an_smb1_only_slave_from_its_dialect(old_estate):
    result = old_estate.run(SMB1_SLAVE)
    assert result["state"] == "failed", states(result)
    assert states(result)["preflight"] == "failed", states(result)
    assert result["tasks"]["preflight"]["try_number"] == 1, "retried, though waiting will not heal it"
    # refused on the server's answer (the message names the dialect it chose), not ended by a
    # timeout: neither the task's execution_timeout nor the SMB connection's own timeout
    assert "AirflowTaskTimeout" not in result["log"], result["log"][-4000:]
    assert "timed out" not in result["log"].lower(), result["log"][-4000:]
    port = old_estate.lab.info["hosts"][SMB1_SLAVE]["smb_port"]
    expected = (
        f"the SMB server 127.0.0.1:{port} of connection ds_{SMB1_SLAVE}_smb speaks only SMB1 "
        "(dialect NT LM 0.12, as Windows Server 2003 and older): this package needs SMB 2 or later"
    )
    assert expected in result["log"], result["log"][-4000:]


@pytest.fixture
def msde_2000_slave(old_estate):
    lab = old_estate.lab
    lab.server(SLAVE, "--version", "8.00.2039", "--edition", "Desktop Engine")
    yield SLAVE
    lab.server(SLAVE, "--version", "9.00.5000.00", "--edition", "Express Edition")


def test_preflight_refuses_sql_server_2000_with_its_version(old_estate, msde_2000_slave):
    before = old_estate.lab.scalar("master", "SELECT COUNT(*) AS n FROM event")
    result = old_estate.run(msde_2000_slave)
    assert result["state"] == "failed", states(result)
    assert states(result)["preflight"] == "failed", states(result)
    assert result["tasks"]["preflight"]["try_number"] == 1, "retried, though waiting will not heal it"
    expected = (
        f"the SQL Server of connection ds_{SLAVE}_mssql is version 8.00.2039 (Desktop Engine; 8.00 is SQL Server "
        "2000 / MSDE 2000): this package needs SQL Server 2005 (9.00) or later"
    )
    assert expected in result["log"], result["log"][-4000:]
    assert "Invalid object name" not in result["log"], "preflight went on to read sys.* views"
    assert old_estate.lab.scalar("master", "SELECT COUNT(*) AS n FROM event") == before


@pytest.fixture
def nested_triggers_off_slave(old_estate):
    old_estate.lab.server(SLAVE, "--nested-triggers", "0")
    yield SLAVE
    old_estate.lab.server(SLAVE, "--nested-triggers", "1")


def test_preflight_refuses_a_slave_with_nested_triggers_off(old_estate, nested_triggers_off_slave):
    """sp_configure 'nested triggers' 0: the DS deletes history through its trigger on event, so
    the capture triggers (nested) would not fire. Refused by name, before anything changes."""
    lab = old_estate.lab
    history = lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM event_schedule")
    result = old_estate.run(nested_triggers_off_slave)
    assert result["state"] == "failed", states(result)
    assert states(result)["preflight"] == "failed", states(result)
    assert result["tasks"]["preflight"]["try_number"] == 1, "retried, though waiting will not heal it"
    expected = "runs with the server option 'nested triggers' off (0)"
    assert expected in result["log"], result["log"][-4000:]
    assert "EXEC sp_configure 'nested triggers', 1; RECONFIGURE;" in result["log"]
    assert not lab.table_exists(SLAVE, "ds_replication_event_schedule_backup"), "the slave was changed"
    assert lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM event_schedule") == history


@pytest.fixture
def nearly_full_slave(old_estate):
    old_estate.lab.server(SLAVE, "--data-mb", "3900")  # SQL Server 2005 Express: a 4 GB cap
    yield SLAVE
    old_estate.lab.server(SLAVE, "--data-mb", "40")


def test_preflight_warns_when_the_database_is_near_its_editions_cap(old_estate, nearly_full_slave):
    result = old_estate.run(nearly_full_slave, {"dry_run": True})
    assert result["state"] == "success", (states(result), result["log"][-4000:])
    figures = result["xcom"]["preflight"]
    assert figures["database_mb"] == 3900 and figures["cap_mb"] == 4096, figures
    assert figures["sql_server"] == "9.00.5000 Express Edition", figures
    assert "holds 3900 MB of data, 95% of the 4096 MB cap of SQL Server 9.00.5000 Express Edition" in result["log"]


def test_preflight_reports_the_size_without_a_warning_far_from_the_cap(old_estate):
    result = old_estate.run(SLAVE, {"dry_run": True})
    assert result["state"] == "success", (states(result), result["log"][-4000:])
    assert 0 < result["xcom"]["preflight"]["database_mb"] < 100, result["xcom"]["preflight"]
    assert "of the 4096 MB cap" not in result["log"]


# --- sensors ---------------------------------------------------------------------------------


def lab_host(role: str, name: str, share: str = "express") -> DsHost:
    """A lab host under its default connection ids."""
    ids = {f"{kind}_conn_id": f"ds_{name}_{kind}" for kind in ("winrm", "mssql", "smb")}
    return DsHost(role, name, **ids, share=share, database="express", ds_path=r"C:\DS")


EXPORT_XCOM = {"folders": [{"name": "Drivers", "subfolders": False}], "files": ["dsrepl_x.bin"], "master_jobs": {}}


@pytest.fixture
def lab_connections(old_estate, monkeypatch):
    """The lab's connections in this process's environment; returns a function that changes one."""
    for key, value in old_estate.env.items():
        if key.startswith("AIRFLOW_CONN_"):
            monkeypatch.setenv(key, value)

    def change(conn_id: str, **changes) -> None:
        key = f"AIRFLOW_CONN_{conn_id.upper()}"
        monkeypatch.setenv(key, json.dumps({**json.loads(old_estate.env[key]), **changes}))

    return change


def poke_fails_at_once(sensor, context: dict, *expected: str) -> str:
    """One poke raises AirflowFailException: the sensor fails on this poke instead of poking again
    until its timeout (a timed-out connection would be poked again: lasting.py)."""
    with pytest.raises(AirflowFailException) as failure:
        sensor.poke(context)
    message = str(failure.value)
    assert all(text in message for text in expected), message
    assert "waiting will not heal" in message, message
    return message


# One poke of wait_for_backup in a process of its own, as Airflow runs every poke of a sensor in
# reschedule mode: pymssql 2.4.6 keeps the severity of a process's first failed login (its
# clr_err() assigns locals, not the module's globals), so the server's text of every later
# login failure in that process ("Login failed for user ...") is dropped. In this pytest worker
# an earlier test (test_clients' wrong password) may have failed a login already.
_POKE_IN_A_TASK_PROCESS = """
import json, sys
from airflow.sdk.exceptions import AirflowFailException
from ds_replication.ds_host import DsHost
from ds_replication.sensors.wait_for_backup import BackupCompleteSensor
name = sys.argv[1]
ids = {f"{kind}_conn_id": f"ds_{name}_{kind}" for kind in ("winrm", "mssql", "smb")}
slave = DsHost("slave", name, **ids, share="express", database="express", ds_path=r"C:\\DS")
sensor = BackupCompleteSensor(task_id="wait_for_backup", slave=slave)
try:
    outcome = {"done": sensor.poke({}), "error": None, "message": ""}
except Exception as error:
    outcome = {"done": None, "error": type(error).__name__, "message": str(error)}
print("POKE " + json.dumps(outcome, default=str))
"""


def test_a_sql_sensor_fails_at_once_when_its_login_is_refused(old_estate, lab_connections):
    conn_id = f"ds_{SLAVE}_mssql"
    extra = json.loads(old_estate.env[f"AIRFLOW_CONN_{conn_id.upper()}"])["extra"]
    # The server's refusal is what is waited for: the estate's 5-s login timeout, meant to make a
    # dead server show quickly, could end the login first on a loaded machine, and a login timed
    # out is poked again (lasting.py), as it should be. Bounded, and no wait when the answer comes.
    lab_connections(conn_id, password="not-the-password", extra={**extra, "login_timeout": 120})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    proc = subprocess.run(
        [PYTHON, "-c", _POKE_IN_A_TASK_PROCESS, SLAVE], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("POKE ")]
    assert lines, (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    outcome = json.loads(lines[-1][len("POKE ") :])
    message = outcome["message"]
    assert outcome["error"] == AirflowFailException.__name__, outcome
    assert "Login failed" in message and f"ds_{SLAVE}_mssql" in message, message
    # one poke raised AirflowFailException: the sensor fails now instead of poking again
    assert "waiting will not heal" in message, outcome
    assert "not-the-password" not in message and old_estate.lab.info["password"] not in message


def test_a_sql_sensor_fails_at_once_on_an_unknown_host(lab_connections):
    lab_connections(f"ds_{SLAVE}_mssql", host="no-such-host.invalid")
    sensor = ImportedJobsSensor(task_id="wait_for_import", slave=lab_host("slave", SLAVE), export=EXPORT_XCOM)
    poke_fails_at_once(sensor, {}, "no-such-host.invalid")


def test_a_share_sensor_fails_at_once_on_a_share_that_does_not_exist(lab_connections):
    sensor = ExportFileSensor(
        task_id="wait_for_export", master=lab_host("master", "master", share="no_such_share"), export=EXPORT_XCOM
    )
    poke_fails_at_once(sensor, {}, "no_such_share")


def test_a_sql_sensor_pokes_again_after_a_dropped_connection(old_estate, lab_connections):
    old_estate.lab.fault(SLAVE, "sql_drop", match="GROUP BY folder_id")
    sensor = ImportedJobsSensor(task_id="wait_for_import", slave=lab_host("slave", SLAVE), export=EXPORT_XCOM)
    try:
        assert sensor.poke({}) is False
    finally:
        fired = not faults.armed(old_estate.lab.dir, SLAVE)
        faults.clear(old_estate.lab.dir, SLAVE)
    assert fired, "the sql_drop fault did not fire"
