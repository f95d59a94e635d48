"""Each hook refuses a connection that lacks a field it needs, naming the connection and the
field, before any network I/O (the hosts here do not exist)."""

from __future__ import annotations

import json

import pytest

from ds_replication.hooks import ConnectionFieldError
from ds_replication.hooks.database import DsDatabaseHook
from ds_replication.hooks.share import DEFAULT_TIMEOUT_SECONDS, DsShareHook
from ds_replication.hooks.shell import DsShellHook

SECRET = "s3cret-never-shown"


@pytest.fixture
def connection(monkeypatch):
    """Set Airflow connection `conn_id` from its fields; returns the id."""

    def make(conn_id: str, **fields) -> str:
        fields = {"host": "ds-nowhere.invalid", "login": "svc", "password": SECRET, **fields}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))
        return conn_id

    return make


def refused(call, conn_id: str, field: str) -> str:
    with pytest.raises(ConnectionFieldError) as failure:
        call()
    message = str(failure.value)
    assert message.startswith(f"connection {conn_id}: {field} "), message
    assert SECRET not in message
    return message


# --- SQL Server -------------------------------------------------------------------------


def test_database_hook_needs_the_port(connection):
    conn_id = connection("ds_a_mssql", conn_type="mssql")
    message = refused(DsDatabaseHook(conn_id, "express").get_conn, conn_id, "port")
    assert "must be set" in message


def test_database_hook_needs_the_host(connection):
    conn_id = connection("ds_a_mssql", conn_type="mssql", host="", port=1433)
    refused(DsDatabaseHook(conn_id, "express").get_conn, conn_id, "host")


def test_database_hook_takes_a_connection_with_host_and_port(connection):
    DsDatabaseHook(connection("ds_a_mssql", conn_type="mssql", port=1433), "express").check_fields()


def test_database_hook_test_connection_reports_the_field(connection):
    conn_id = connection("ds_a_mssql", conn_type="mssql")
    ok, message = DsDatabaseHook(conn_id, "express").test_connection()
    assert not ok and message.startswith(f"connection {conn_id}: port"), message


# --- WinRM --------------------------------------------------------------------------------

ENDPOINT = "https://ds-nowhere.invalid:5986/wsman"


@pytest.mark.parametrize("endpoint", [None, "", "ds-nowhere.invalid:5986", "ftp://ds-nowhere.invalid/wsman"])
def test_shell_hook_needs_the_endpoint_url(connection, endpoint):
    extra = {"transport": "ntlm"} | ({} if endpoint is None else {"endpoint": endpoint})
    conn_id = connection("ds_a_winrm", conn_type="winrm", extra=extra)
    refused(DsShellHook(conn_id).get_conn, conn_id, "extra 'endpoint'")


@pytest.mark.parametrize("transport", [None, "plaintext", "kerberos"])
def test_shell_hook_needs_the_ntlm_transport(connection, transport):
    extra = {"endpoint": ENDPOINT} | ({} if transport is None else {"transport": transport})
    conn_id = connection("ds_a_winrm", conn_type="winrm", extra=extra)
    message = refused(DsShellHook(conn_id).get_conn, conn_id, "extra 'transport'")
    assert "['ntlm']" in message


def test_shell_hook_takes_endpoint_and_ntlm(connection):
    conn_id = connection("ds_a_winrm", conn_type="winrm", extra={"endpoint": ENDPOINT, "transport": "ntlm"})
    protocol = DsShellHook(conn_id).get_conn()  # builds the client only: no request yet
    assert protocol.transport.endpoint == ENDPOINT


# --- SMB ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["soon", 0, -5, None])
def test_share_hook_refuses_a_bad_timeout_extra(connection, bad):
    conn_id = connection("ds_a_smb", conn_type="samba", port=445, extra={"timeout": bad})
    refused(lambda: DsShareHook(conn_id, "express"), conn_id, "extra 'timeout'")


def test_share_hook_timeout_defaults_and_reads_the_extra(connection):
    plain = connection("ds_a_smb", conn_type="samba", port=445)
    assert DsShareHook(plain, "express").timeout == DEFAULT_TIMEOUT_SECONDS
    slow = connection("ds_b_smb", conn_type="samba", port=445, extra={"timeout": "90"})
    assert DsShareHook(slow, "express").timeout == 90.0


def test_share_hook_needs_the_host(connection):
    conn_id = connection("ds_a_smb", conn_type="samba", host="", port=445)
    refused(lambda: DsShareHook(conn_id, "express"), conn_id, "host")
