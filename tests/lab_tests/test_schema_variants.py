"""The schema variants of a host's `express` database (`up --schema NAME`), seeded, through
pymssql and the lab's TDS server: the catalog says what the variant is, and it behaves so."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path

import pymssql
import pytest

from tests.lab import control, ds_schema, seed
from tests.lab.tds import TdsServer
from tests.lab.tsql import Engine, firing
from tests.labctl import Lab

USER, PASSWORD = "dslab", "variant-test"


class Host:
    """One seeded slave database served over TDS (the lab host's SQL side, in this process)."""

    def __init__(self, root: Path, schema: str, identity: bool = False) -> None:
        self.db_path = root / f"{schema}.db"
        ds_schema.create_express(self.db_path, identity=identity, schema=schema)
        seed.seed_slave(self.db_path, 1)
        self.server = TdsServer(Engine(str(self.db_path)), USER, PASSWORD)
        self.server.start()

    def connect(self) -> pymssql.Connection:
        return pymssql.connect(server="127.0.0.1", port=str(self.server.port), user=USER, password=PASSWORD,
                               database="express", login_timeout=5, timeout=30, autocommit=True)  # fmt: skip

    def rows(self, batch: str) -> list[tuple]:
        with self.connect() as conn:
            cursor = conn.cursor()
            cursor.execute(batch)
            return cursor.fetchall() if cursor.description else []

    def error(self, batch: str) -> tuple[int, str]:
        with self.connect() as conn, pytest.raises(pymssql.Error) as caught:
            conn.cursor().execute(batch)
        number, message = caught.value.args[0], caught.value.args[1].decode()
        return number, message.split("DB-Lib error")[0].strip()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def host(request, tmp_path):
    schema, identity = request.param if isinstance(request.param, tuple) else (request.param, False)
    host = Host(tmp_path, schema, identity)
    yield host
    host.stop()


def index_keys(host: Host, table: str) -> list[tuple]:
    return host.rows(
        "SELECT i.index_id, i.name, i.is_unique, i.is_primary_key, c.name FROM sys.indexes AS i "
        "LEFT JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id "
        "LEFT JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id "
        f"WHERE i.object_id = OBJECT_ID(N'dbo.{table}') ORDER BY i.index_id, ic.key_ordinal"
    )


@pytest.mark.parametrize("host", ["default"], indirect=True)
def test_default_schema_catalog(host):
    assert index_keys(host, "event_schedule_info") == [
        (1, "PK_event_schedule_info", True, True, "schedule_id"),
        (1, "PK_event_schedule_info", True, True, "info_id"),
    ]
    assert host.rows("SELECT COUNT(*) FROM sys.foreign_keys") == [(0,)]
    assert host.rows("SELECT COUNT(*) FROM sys.columns WHERE is_computed = 1") == [(0,)]
    assert sorted(host.rows("SELECT name FROM sys.triggers")) == [("event_delete",), ("event_schedule_delete",)]
    assert host.rows("SELECT COUNT(*) FROM event_schedule_info WHERE message IS NULL") == [(0,)]


@pytest.mark.parametrize("host", ["info_unique_index"], indirect=True)
def test_info_unique_index(host):
    assert index_keys(host, "event_schedule_info") == [
        (0, None, False, False, None),
        (2, ds_schema.INFO_UNIQUE_INDEX, True, False, "schedule_id"),
        (2, ds_schema.INFO_UNIQUE_INDEX, True, False, "info_id"),
    ]
    assert host.rows("SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS "
                     "WHERE TABLE_NAME = 'event_schedule_info'") == [(0,)]  # fmt: skip
    schedule_id, info_id = host.rows("SELECT TOP 1 schedule_id, info_id FROM event_schedule_info ORDER BY 1, 2")[0]
    assert host.error(
        f"INSERT INTO event_schedule_info VALUES ({schedule_id}, {info_id}, 0, N'again', '2026-10-01')"
    ) == (
        2601,
        "Cannot insert duplicate key row in object 'dbo.event_schedule_info' with unique index "
        f"'{ds_schema.INFO_UNIQUE_INDEX}'. The duplicate key value is ({schedule_id}, {info_id}).",
    )


@pytest.mark.parametrize("host", ["info_no_key"], indirect=True)
def test_info_no_key_holds_duplicates_and_null_messages(host):
    assert index_keys(host, "event_schedule_info") == [(0, None, False, False, None)]
    total, nulls = host.rows("SELECT COUNT(*), SUM(CASE WHEN message IS NULL THEN 1 ELSE 0 END) "
                             "FROM event_schedule_info")[0]  # fmt: skip
    assert nulls == total // 3 and nulls > 0
    host.rows("INSERT INTO event_schedule_info SELECT TOP 1 * FROM event_schedule_info WHERE message IS NULL")
    assert host.rows("SELECT COUNT(*) FROM event_schedule_info") == [(total + 1,)]


@pytest.mark.parametrize("host", ["reused_keys"], indirect=True)
def test_reused_keys_come_back_after_a_delete(host):
    ids = [r[0] for r in host.rows("SELECT schedule_id FROM event_schedule ORDER BY 1")]
    assert ids == list(range(1, len(ids) + 1))  # the seed numbered them as the application: MAX + 1
    assert host.rows("SELECT COUNT(*) FROM sys.identity_columns") == [(0,)]
    host.rows(f"DELETE FROM event_schedule WHERE schedule_id = {ids[-1]}")
    with ds_schema.connect(host.db_path) as db:
        assert ds_schema.next_schedule_id(db) == ids[-1]  # the deleted row's key is given again


@pytest.mark.parametrize("host", ["rowversion_computed", ("rowversion_computed", True)], indirect=True)
def test_rowversion_and_computed_columns(host):
    columns = host.rows(
        "SELECT c.name, t.name, c.is_computed, c.is_nullable, c.max_length FROM sys.columns AS c "
        "JOIN sys.types AS t ON t.user_type_id = c.user_type_id "
        "WHERE c.object_id = OBJECT_ID('event_schedule') AND c.name IN ('row_version', 'duration_s') ORDER BY 1"
    )
    assert columns == [("duration_s", "int", True, True, 4), ("row_version", "timestamp", False, False, 8)]
    data = host.rows("SELECT schedule_id, duration_s, row_version FROM event_schedule")
    assert data and all(d == s % 1000 for s, d, _ in data)
    stamps = [v for _, _, v in data]
    assert all(isinstance(v, bytes) and len(v) == 8 for v in stamps) and len(set(stamps)) == len(stamps)
    computer, event = host.rows("SELECT TOP 1 computer_id, event_id FROM event_schedule")[0]
    key = "" if host.rows("SELECT COUNT(*) FROM sys.identity_columns")[0][0] else "schedule_id, "
    value = "" if key == "" else "7, "
    insert = f"INSERT INTO event_schedule ({key}computer_id, event_id, status, start_time{{}}) VALUES "
    assert (
        host.error(insert.format(", row_version") + f"({value}{computer}, {event}, N'x', '2026-11-01', 0x01)")[0] == 273
    )
    assert host.error(insert.format(", duration_s") + f"({value}{computer}, {event}, N'x', '2026-11-01', 1)")[0] == 271
    host.rows(insert.format("") + f"({value}{computer}, {event}, N'x', '2026-11-01')")
    newest = host.rows("SELECT TOP 1 CAST(row_version AS bigint) FROM event_schedule ORDER BY row_version DESC")
    assert newest[0][0] == max(int.from_bytes(v, "big") for v in stamps) + 1


@pytest.mark.parametrize("host", ["fk_computer"], indirect=True)
def test_fk_computer_refuses_orphan_history(host):
    fks = host.rows(
        "SELECT f.name, p.name, r.name FROM sys.foreign_keys AS f JOIN sys.tables AS p "
        "ON p.object_id = f.parent_object_id JOIN sys.tables AS r ON r.object_id = f.referenced_object_id"
    )
    assert fks == [(ds_schema.FK_COMPUTER.name, "event_schedule", "computer")]
    computer = host.rows("SELECT TOP 1 computer_id FROM event_schedule")[0][0]
    number, message = host.error(f"DELETE FROM computer WHERE computer_id = {computer}")
    assert number == 547 and "REFERENCE constraint" in message and "dbo.event_schedule" in message
    # A backup holds the computer's history; the history and then the computer go; the restore meets 547.
    host.rows(f"SELECT * INTO history_backup FROM event_schedule WHERE computer_id = {computer}")
    host.rows(f"DELETE FROM event_schedule WHERE computer_id = {computer}")
    host.rows(f"DELETE FROM computer WHERE computer_id = {computer}")
    number, message = host.error("INSERT INTO event_schedule SELECT * FROM history_backup")
    assert (number, message) == (
        547,
        f'The INSERT statement conflicted with the FOREIGN KEY constraint "{ds_schema.FK_COMPUTER.name}". The '
        'conflict occurred in database "express", table "dbo.computer", column \'computer_id\'.',
    )


@pytest.mark.parametrize("host", ["insert_trigger"], indirect=True)
def test_insert_trigger_writes_a_scheduled_row(host):
    assert ("event_schedule_insert",) in host.rows("SELECT name FROM sys.triggers")
    assert host.rows("SELECT COUNT(*) FROM event_schedule") == host.rows(
        "SELECT COUNT(*) FROM event_schedule_info WHERE info_id = 0 AND message = N'scheduled'"
    )
    computer, event = host.rows("SELECT TOP 1 computer_id, event_id FROM event_schedule")[0]
    host.rows(f"INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time) VALUES "
              f"(999, {computer}, {event}, N'x', '2026-11-02 10:00:00')")  # fmt: skip
    assert host.rows("SELECT info_id, status_code, message, CONVERT(nvarchar(23), logged_at, 121) "
                     "FROM event_schedule_info WHERE schedule_id = 999") == [
        (0, 0, "scheduled", "2026-11-02 10:00:00.000")
    ]  # fmt: skip


@pytest.mark.parametrize("host", ["info_no_key"], indirect=True)
def test_trigger_created_over_tds_keeps_null_messages_through_the_cascade(host):
    host.rows("SELECT * INTO backup_info FROM event_schedule_info WHERE 1 = 0")
    with host.connect() as conn:
        conn.cursor().execute(
            "CREATE TRIGGER [dbo].[keep_info] ON [dbo].[event_schedule_info] AFTER DELETE AS BEGIN SET NOCOUNT ON; "
            "DELETE b FROM [dbo].[backup_info] AS b WHERE EXISTS (SELECT 1 FROM deleted AS d WHERE "
            "d.[schedule_id] = b.[schedule_id] AND d.[info_id] = b.[info_id] AND EXISTS "
            "(SELECT d.[message] INTERSECT SELECT b.[message])); "
            "INSERT INTO [dbo].[backup_info] ([schedule_id], [info_id], [status_code], [message], [logged_at]) "
            "SELECT d.[schedule_id], d.[info_id], d.[status_code], d.[message], d.[logged_at] FROM deleted AS d; END"
        )
    before = sorted(host.rows("SELECT * FROM event_schedule_info"), key=repr)
    with ds_schema.connect(host.db_path) as db:  # as aximport deletes: event -> history -> details
        firing.run_delete(db, "event", "DELETE FROM event")
    assert host.rows("SELECT COUNT(*) FROM event_schedule_info") == [(0,)]
    assert sorted(host.rows("SELECT * FROM backup_info"), key=repr) == before


def test_up_records_the_schema_and_refuses_bad_choices(tmp_path):
    with pytest.raises(control.LabError, match="reused_keys"):
        control.up(tmp_path / "lab", 1, identity=True, schema="reused_keys")
    with pytest.raises(control.LabError, match="unknown schema"):
        control.up(tmp_path / "lab", 1, schema="nope")
    assert not (tmp_path / "lab").exists()  # refused before anything was made
    root = Path(tempfile.mkdtemp(prefix="ds-lab-variant-"))
    lab = Lab(root / "lab")
    try:
        lab.up(slaves=1, schema="fk_computer")
        assert {h["schema"] for h in lab.info["hosts"].values()} == {"fk_computer"}
        computer = lab.scalar("slave1", "SELECT TOP 1 computer_id AS c FROM event_schedule")
        with pytest.raises(RuntimeError, match="SQL error 547"):
            lab.sql("slave1", f"DELETE FROM computer WHERE computer_id = {computer}")
        lab.down()
        assert json.loads((lab.dir / "lab.stopped.json").read_text())["hosts"]["master"]["schema"] == "fk_computer"
    finally:
        if (lab.dir / "lab.json").exists():
            lab.down()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("host", ["ntext_history"], indirect=True)
def test_ntext_history_is_ntext_and_refuses_equality(host):
    """A DS of the SQL Server 2000 era: event_schedule_info.message is ntext (sys.columns type 99,
    max_length 16); `=` on it fails with Msg 402, a CAST to nvarchar(max) compares."""
    assert host.rows(
        "SELECT system_type_id, max_length FROM sys.columns "
        "WHERE object_id = OBJECT_ID(N'dbo.event_schedule_info') AND name = 'message'"
    ) == [(99, 16)]
    assert host.error("SELECT COUNT(*) FROM event_schedule_info AS a, event_schedule_info AS b "
                      "WHERE a.message = b.message") == (
        402, "The data types ntext and ntext are incompatible in the equal to operator.")  # fmt: skip
    same = host.rows("SELECT COUNT(*) FROM event_schedule_info AS a WHERE EXISTS (SELECT 1 FROM event_schedule_info "
                     "AS b WHERE CAST(a.message AS nvarchar(max)) = CAST(b.message AS nvarchar(max)))")  # fmt: skip
    assert same == host.rows("SELECT COUNT(*) FROM event_schedule_info WHERE message IS NOT NULL")
    assert isinstance(host.rows("SELECT TOP 1 message FROM event_schedule_info")[0][0], str)


@pytest.mark.parametrize("host", ["british_login"], indirect=True)
def test_british_login_reads_dates_year_day_month(host):
    """The SQL login's DEFAULT_LANGUAGE is British: @@LANGUAGE British, DATEFORMAT dmy, so
    'YYYY-MM-DD hh:mm:ss' is year-day-month (Msg 242 for day 29 as a month)."""
    assert host.rows("SELECT @@LANGUAGE") == [("British",)]
    assert host.rows("SELECT CAST('2026-11-03 02:00:00' AS datetime)") == [(dt.datetime(2026, 3, 11, 2, 0),)]
    out_of_range = "The conversion of a varchar data type to a datetime data type resulted in an out-of-range value."
    assert host.error("SELECT CAST('2026-11-29 02:00:00' AS datetime)") == (242, out_of_range)
    assert host.rows("SELECT CAST('2026-11-29T02:00:00' AS datetime)") == [(dt.datetime(2026, 11, 29, 2, 0),)]
