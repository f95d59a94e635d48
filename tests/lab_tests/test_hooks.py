"""The hooks and DsHost against the lab's servers: real TDS, WS-Man and SMB 2, the lab's
connections. test_connection says yes to a server that answers and names the problem of
one that does not; DsHost.reach is preflight's check."""

from __future__ import annotations

import json
import os
import socket

import pytest

from ds_replication.ds_host import DsHost
from ds_replication.hooks.database import DsDatabaseHook, query
from ds_replication.hooks.share import DsShareHook
from ds_replication.hooks.shell import DsShellHook
from tests.lab.cmdexe import DS_PATH
from tests.labctl import lab_in_environ


@pytest.fixture(scope="module")
def lab():
    with lab_in_environ("hooks", seed=False) as lab:
        yield lab


def changed(monkeypatch, conn_id: str, **fields) -> str:
    """Connection `conn_id` with `fields` changed (extra: merged)."""
    key = f"AIRFLOW_CONN_{conn_id.upper()}"
    conn = json.loads(os.environ[key])
    extra = {**conn.get("extra", {}), **fields.pop("extra", {})}
    monkeypatch.setenv(key, json.dumps({**conn, **fields, "extra": extra}))
    return conn_id


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_each_hook_connects_to_a_lab_host(lab):
    assert DsDatabaseHook("ds_slave1_mssql", "express").test_connection() == (True, "connected to database express")
    ok, version = DsShellHook("ds_slave1_winrm").test_connection()
    assert ok and "Windows" in version, version
    ok, listing = DsShareHook("ds_slave1_smb", "express").test_connection()
    assert ok and listing.startswith("share express: "), listing


def test_the_database_hook_opens_the_configured_database_not_the_connections_schema(lab, monkeypatch):
    from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook

    conn_id = changed(monkeypatch, "ds_slave1_mssql", schema="not_the_ds_database")
    # 18456 is SQL Server's "Login failed"; under load FreeTDS may pass on the number without its text
    with pytest.raises(Exception, match=r"Login failed|18456"):
        MsSqlHook(mssql_conn_id=conn_id).get_conn()  # the provider's own: a database the server does not hold
    with DsDatabaseHook(conn_id, "express").connect() as conn:
        assert query(conn, "SELECT COUNT(*) AS n FROM event_folder") == [{"n": 0}]  # an unseeded DS


def test_test_connection_names_what_failed(lab, monkeypatch):
    port = closed_port()
    mssql = changed(monkeypatch, "ds_slave1_mssql", port=port)
    ok, message = DsDatabaseHook(mssql, "express").test_connection()
    assert not ok and "Connection refused" in message, message
    winrm = changed(monkeypatch, "ds_slave1_winrm", extra={"endpoint": f"http://127.0.0.1:{port}/wsman"})
    ok, message = DsShellHook(winrm).test_connection()
    assert not ok and str(port) in message and "refused" in message, message
    ok, message = DsShareHook("ds_slave1_smb", "no_such_share").test_connection()
    assert not ok and "no_such_share" in message, message
    password = lab.info["password"]
    assert password not in message


def test_a_host_is_reached_as_preflight_reaches_it(lab, monkeypatch):
    slave = DsHost(
        "slave", "slave1", "ds_slave1_winrm", "ds_slave1_mssql", "ds_slave1_smb", "express", "express", DS_PATH
    )
    server = slave.reach()
    assert server is not None and server.version
    changed(monkeypatch, "ds_slave1_mssql", port=None)
    with pytest.raises(
        Exception, match=r"slave not reachable: SQL \(ds_slave1_mssql\): connection ds_slave1_mssql: port"
    ):
        slave.reach()
