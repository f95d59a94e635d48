"""Who a session is, as the lab's SQL Server reports it (issue 17, S2 "say which captured rows came
from outside aximport"): APP_NAME(), HOST_NAME(), SUSER_SNAME() and @@SPID per session, also
inside a trigger, where they are the deleting session's.

SQL Server's documentation: "APP_NAME (Transact-SQL)" and "HOST_NAME (Transact-SQL)" return what
the client sent in its LOGIN7 packet (MS-TDS 2.2.6.4, AppName and HostName; an empty field gives
an empty string); "SUSER_SNAME (Transact-SQL)" without an argument is the session's login;
"@@SPID (Transact-SQL)" its session id. All four exist in SQL Server 2005. A trigger runs in the
session whose statement fired it ("CREATE TRIGGER": the trigger is part of the statement).
"""

from __future__ import annotations

import socket
from pathlib import Path

import pymssql
import pytest

from tests.lab import ax_tools, ds_schema, seed
from tests.lab.tds import TdsServer
from tests.lab.tsql import Engine, ResultSet

USER, PASSWORD = "lab", "Lab-Pass-1"
WHO = "SELECT APP_NAME() AS program, HOST_NAME() AS host, SUSER_SNAME() AS login, @@SPID AS spid"
LOG_TABLE = (
    "CREATE TABLE who_deleted (schedule_id int NOT NULL, program nvarchar(128) NULL, host nvarchar(128) NULL, "
    "login nvarchar(128) NULL, spid int NULL, deleted_at datetime NULL)"
)
LOG_TRIGGER = (
    "CREATE TRIGGER who_deletes ON event_schedule AFTER DELETE AS BEGIN SET NOCOUNT ON; "
    "INSERT INTO who_deleted (schedule_id, program, host, login, spid, deleted_at) "
    "SELECT d.schedule_id, APP_NAME(), HOST_NAME(), SUSER_SNAME(), @@SPID, GETDATE() FROM deleted AS d; END"
)


def rows(session, batch: str) -> list[tuple]:
    out = [o for o in session.execute(batch) if isinstance(o, ResultSet)]
    return [tuple(r) for o in out for r in o.rows]


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    path = tmp_path / "express.db"
    ds_schema.create_express(path)
    seed.seed_slave(path, 1)
    seed.seed_history(path, 20)
    return path


def test_each_session_reports_its_own_login7_fields(seeded):
    engine = Engine(str(seeded))
    console = engine.session(app_name="Altiris Deployment Console", host_name="ADMIN-PC", login="DOMAIN\\admin")
    bare = engine.session(app_name="", host_name="", login="lab")
    try:
        (c,) = rows(console, WHO)
        (b,) = rows(bare, WHO)
        assert c[:3] == ("Altiris Deployment Console", "ADMIN-PC", "DOMAIN\\admin")
        assert b[:3] == ("", "", "lab")  # an empty LOGIN7 field: an empty string, not NULL
        assert c[3] != b[3] and min(c[3], b[3]) >= 51  # user sessions are numbered from 51
        # CURRENT_USER is the database user, not the login: still refused, not read as SUSER_SNAME
        (error,) = list(console.execute("SELECT CURRENT_USER"))
        assert "unsupported" in str(error).lower()
    finally:
        console.close()
        bare.close()


def test_a_trigger_sees_the_deleting_session_not_the_one_that_made_it(seeded):
    engine = Engine(str(seeded))
    admin = engine.session(app_name="Microsoft SQL Server Management Studio", host_name="DBA", login="sa")
    console = engine.session(app_name="Altiris Deployment Console", host_name="ADMIN-PC", login="lab")
    try:
        rows(admin, LOG_TABLE)
        rows(admin, LOG_TRIGGER)
        rows(console, "DELETE FROM event_schedule WHERE schedule_id IN (SELECT TOP 2 schedule_id FROM event_schedule)")
        logged = rows(admin, "SELECT program, host, login, spid, deleted_at FROM who_deleted")
        assert len(logged) == 2
        assert {r[:4] for r in logged} == {("Altiris Deployment Console", "ADMIN-PC", "lab", console.spid)}
        assert all(r[4] is not None for r in logged)
    finally:
        admin.close()
        console.close()


def test_the_simulated_aximport_deletes_as_its_own_program_on_its_host(seeded, tmp_path):
    engine = Engine(str(seeded))
    admin = engine.session(app_name="ssms", host_name="DBA", login="sa")
    try:
        rows(admin, LOG_TABLE)
        rows(admin, LOG_TRIGGER)
        export = tmp_path / "global.bin"
        ok = ax_tools.axexport(str(seeded), "Global", True, export, lambda name, subject: False, "axexport")
        assert ok.exit_code == 0, ok
        result = ax_tools.aximport(str(seeded), export, True, lambda name, subject: False, "aximport", "SLAVE1")
        assert result.exit_code == 0, result
        first = set(rows(admin, "SELECT DISTINCT program, host, login FROM who_deleted"))
        assert first == {(ax_tools.AXIMPORT_PROGRAM, "SLAVE1", "SLAVE1\\lab")}
        # another program name, for a test that plays a different tool
        ax_tools.set_program(seeded, "axImport 6.9")
        rows(admin, "DELETE FROM who_deleted")
        seed.seed_history(seeded, 5)
        result = ax_tools.aximport(str(seeded), export, True, lambda name, subject: False, "aximport", "SLAVE1")
        assert result.exit_code == 0, result
        assert set(rows(admin, "SELECT DISTINCT program FROM who_deleted")) == {("axImport 6.9",)}
    finally:
        admin.close()


def test_over_tds_app_name_and_host_name_are_the_clients_login7_fields(seeded):
    server = TdsServer(Engine(str(seeded)), USER, PASSWORD)
    server.start()
    try:
        conn = pymssql.connect(server="127.0.0.1", port=str(server.port), user=USER, password=PASSWORD,
                               database="express", appname="Altiris Deployment Console", login_timeout=10)  # fmt: skip
        try:
            cursor = conn.cursor()
            cursor.execute(WHO)
            program, host, login, spid = cursor.fetchone()
        finally:
            conn.close()
    finally:
        server.stop()
    assert (program, login) == ("Altiris Deployment Console", USER)
    # FreeTDS sends the client machine's name as HostName
    assert host.lower() == socket.gethostname().split(".")[0].lower()[: len(host)] and host
    assert spid >= 51
