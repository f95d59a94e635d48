"""Who deleted each captured history row, and a capture that ends with the night (issue 17, S2 of
the real-server review: "every delete while the triggers are armed is restored, including the DS
console's own deletes, and the triggers stay armed for a day after a failed night").

The capture trigger stamps each row it copies with the deleting session as SQL Server reports it
(APP_NAME(), HOST_NAME(), SUSER_SNAME(), @@SPID, GETDATE(): the lab's, tests/lab/tsql/who.py,
from the TDS LOGIN7 packet as SQL Server's docs say); the report learns aximport's program from
the rows deleted in its window on the slave's host and names every other session's rows. Here
the DS console is played twice: over TDS from this machine (pymssql's `appname`), and on the
slave itself by the lab's aximport run under the console's program name (ax_tools.set_program).
Then cleanup's end of the capture: disarmed once tasklist shows no aximport, left armed while
one runs (fault `aximport_slow`) or while WinRM cannot say (fault `winrm_500`); the rows it held
are put back by the next night.
"""

from __future__ import annotations

import html
import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pymssql
import pytest
import winrm

from ds_replication import capture_end, capture_sessions, held_history, history
from ds_replication.catalog import HISTORY_PARENTS
from ds_replication.ds_host import DsHost
from ds_replication.hooks.database import DsDatabaseHook
from ds_replication.notifications.mail import SlaveAlertNotifier
from ds_replication.operators.restore_history import RestoreHistoryOperator
from ds_replication.operators.verify_history import FIGURES_XCOM_KEY, VerifyHistoryOperator
from tests.lab import ax_tools, faults
from tests.lab.cmdexe import DS_PATH
from tests.labctl import Lab, lab_in_environ

SLAVE = "slave1"
DATABASE = "express"
CONSOLE = "Altiris Deployment Console"
FILES = iter(range(1, 1000))


@pytest.fixture(scope="module")
def lab():
    with lab_in_environ("capture-sessions") as lab:
        yield lab


@pytest.fixture(autouse=True)
def fresh(lab: Lab):
    """No fault, no capture, no backup and aximport's own program name left by a test."""
    yield
    for host in lab.info["hosts"]:
        faults.clear(lab.dir, host)
    ax_tools.set_program(lab.info["hosts"][SLAVE]["db_path"], ax_tools.AXIMPORT_PROGRAM)
    slave = slave_host()
    slave.wait_for_no_import(60)
    with slave.connect() as conn:
        history.disarm_capture(conn, DATABASE)
        history.restore(conn, DATABASE, restore_changed_jobs=True)
        history.verify(conn, DATABASE)


def slave_host() -> DsHost:
    return DsHost("slave", SLAVE, f"ds_{SLAVE}_winrm", f"ds_{SLAVE}_mssql", f"ds_{SLAVE}_smb", DATABASE, DATABASE,
                  DS_PATH)  # fmt: skip


def master_file(lab: Lab, folder: str) -> str:
    """The master's `folder` tree exported and copied onto the slave's share, as copy_to_slave leaves it."""
    name = f"dsrepl_sessions_{next(FILES)}.bin"
    shares = {h: Path(i["share_dir"]) for h, i in lab.info["hosts"].items()}
    out = lab.shell("master", f'axexport /f "{folder}" /s {name}')
    assert out.returncode == 0, out
    shutil.copy(shares["master"] / name, shares[SLAVE] / name)
    return name


def aximport(lab: Lab, name: str) -> None:
    out = lab.shell(SLAVE, f"aximport {name} /o")
    assert out.returncode == 0, out


def history_of(lab: Lab, folder: str) -> int:
    return int(lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM event_schedule AS s INNER JOIN event AS e ON e.event_id = "
                          "s.event_id INNER JOIN event_folder AS f ON f.folder_id = e.folder_id "
                          f"WHERE f.name = N'{folder}'"))  # fmt: skip


def console_connect(lab: Lab) -> Any:
    """The DS console's own connection to the slave's SQL Server, from this machine."""
    info = lab.info
    return pymssql.connect(server="127.0.0.1", port=str(info["hosts"][SLAVE]["sql_port"]), user=info["user"],
                           password=info["password"], database=DATABASE, appname=CONSOLE, autocommit=True,
                           login_timeout=10)  # fmt: skip


def console_deletes_history(lab: Lab, folder: str, rows: int) -> list[int]:
    """The console clears `rows` history rows (and their detail rows) of a job of `folder`."""
    ids = [int(r["schedule_id"]) for r in lab.sql(
        SLAVE, f"SELECT TOP {rows} s.schedule_id FROM event_schedule AS s INNER JOIN event AS e ON e.event_id = "
        "s.event_id INNER JOIN event_folder AS f ON f.folder_id = e.folder_id WHERE f.name = N'" + folder + "' "
        "ORDER BY s.schedule_id")]  # fmt: skip
    assert len(ids) == rows
    conn = console_connect(lab)
    try:
        cursor = conn.cursor()
        listed = ", ".join(map(str, ids))
        cursor.execute(f"DELETE FROM event_schedule_info WHERE schedule_id IN ({listed})")
        cursor.execute(f"DELETE FROM event_schedule WHERE schedule_id IN ({listed})")
    finally:
        conn.close()
    return ids


def arm(slave: DsHost) -> None:
    """What import_jobs does before aximport: arm the capture, open aximport's window."""
    host = slave.computer_name(60)
    with slave.connect() as conn:
        history.backup(conn, DATABASE)
        history.arm_capture(conn, DATABASE)
        capture_sessions.open_window(conn, DATABASE, host)


def test_the_report_names_the_rows_other_sessions_deleted_and_every_row_comes_back(lab):
    slave = slave_host()
    assert slave.computer_name(60) == SLAVE.upper()  # %COMPUTERNAME%: the HOST_NAME() of its programs
    global_file, drivers_file = master_file(lab, "Global"), master_file(lab, "Drivers")
    assert history_of(lab, "Global") > history_of(lab, "Drivers") > 0, "the test needs aximport to delete the most"
    arm(slave)
    # in aximport's window: the console on the slave itself (another program), and from another machine
    ax_tools.set_program(lab.info["hosts"][SLAVE]["db_path"], CONSOLE)
    aximport(lab, drivers_file)
    console_on_slave = lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM ds_replication_event_schedule_backup WHERE "
                                  f"ds_replication_deleted_by_program = N'{CONSOLE}'")  # fmt: skip
    assert console_on_slave == history_of(lab, "Drivers") or console_on_slave > 0
    ax_tools.set_program(lab.info["hosts"][SLAVE]["db_path"], ax_tools.AXIMPORT_PROGRAM)
    remote = console_deletes_history(lab, "Local", 2)
    aximport(lab, global_file)
    with slave.connect() as conn:
        window = capture_sessions.close_window(conn, DATABASE)
    assert window["started_at"] and window["ended_at"]
    # after the window: the console's delete is still captured, and named
    late = console_deletes_history(lab, "Local", 1)

    who = lab.sql(SLAVE, "SELECT DISTINCT ds_replication_deleted_by_program AS program, ds_replication_deleted_by_host "
                  "AS host, ds_replication_deleted_by_login AS login FROM ds_replication_event_schedule_backup "
                  "WHERE ds_replication_captured_at IS NOT NULL")  # fmt: skip
    user = lab.info["user"]
    assert {(r["program"], r["host"].upper(), r["login"]) for r in who} >= {
        (ax_tools.AXIMPORT_PROGRAM, SLAVE.upper(), f"{SLAVE.upper()}\\lab"),
        (CONSOLE, SLAVE.upper(), f"{SLAVE.upper()}\\lab"),
    } and any(r["program"] == CONSOLE and r["login"] == user for r in who), who

    with slave.connect() as conn:
        history.disarm_capture(conn, DATABASE)
        restored = history.restore(conn, DATABASE, restore_changed_jobs=True)
        report = capture_sessions.report(conn)
    assert report["import_sessions"] == [f"{ax_tools.AXIMPORT_PROGRAM} on {SLAVE}"], report
    sessions = {(s["program"], s["host"].upper()): s for s in report["outside_import_sessions"]}
    assert sessions[(CONSOLE, SLAVE.upper())]["rows"] == console_on_slave, report
    remote_sessions = [s for (p, h), s in sessions.items() if p == CONSOLE and h != SLAVE.upper()]
    assert [s["rows"] for s in remote_sessions] == [len(remote) + len(late)], report
    assert report["outside_import_rows"] == console_on_slave + len(remote) + len(late), report
    assert report["outside_import_detail_rows"] > 0, report
    assert not any(s["program"] == ax_tools.AXIMPORT_PROGRAM for s in report["outside_import_sessions"]), report
    # named, not dropped: the console's rows come back with the others (their jobs exist)
    back = lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM event_schedule WHERE schedule_id IN "
                      f"({', '.join(map(str, remote + late))})")  # fmt: skip
    assert back == len(remote) + len(late), restored
    with slave.connect() as conn:
        verified = history.verify(conn, DATABASE)
    assert verified["lost_rows"] == 0 == verified["lost_detail_rows"], verified
    assert not lab.table_exists(SLAVE, capture_sessions.WINDOW_TABLE)  # dropped with the backup


def test_a_backup_of_an_older_version_gets_the_new_columns_and_keeps_every_held_row(lab):
    """A backup made before the capture said who deleted (no ds_replication_captured_at ...): arming
    adds the columns (NULL for the rows held), twice without harm; every held row stays and comes back."""
    slave = slave_host()
    listing = "SELECT name FROM sys.columns WHERE object_id = OBJECT_ID(N'dbo.event_schedule') ORDER BY column_id"
    columns = ", ".join(c["name"] for c in lab.sql(SLAVE, listing))
    held_ids = [int(r["schedule_id"]) for r in lab.sql(SLAVE, "SELECT TOP 3 schedule_id FROM event_schedule "
                                                       "ORDER BY schedule_id")]  # fmt: skip
    listed = ", ".join(map(str, held_ids))
    lab.sql(SLAVE, f"SELECT {columns} INTO ds_replication_event_schedule_backup FROM event_schedule "
            f"WHERE schedule_id IN ({listed})")  # fmt: skip
    with console_connect(lab) as conn:  # lost that night but held by the older version's backup
        conn.cursor().execute(f"DELETE FROM event_schedule_info WHERE schedule_id IN ({listed}); "
                              f"DELETE FROM event_schedule WHERE schedule_id IN ({listed})")  # fmt: skip
    assert lab.scalar(SLAVE, f"SELECT COUNT(*) AS n FROM event_schedule WHERE schedule_id IN ({listed})") == 0
    with slave.connect() as conn:
        history.ensure_tables(conn, DATABASE, history.read_history_tables(conn))
        history.ensure_tables(conn, DATABASE, history.read_history_tables(conn))  # idempotent
    new = {r["name"] for r in lab.sql(SLAVE, "SELECT name FROM sys.columns WHERE object_id = "
                                      "OBJECT_ID(N'dbo.ds_replication_event_schedule_backup')")}  # fmt: skip
    assert {"ds_replication_captured_at", "ds_replication_deleted_by_program", "ds_replication_deleted_by_host",
            "ds_replication_deleted_by_login", "ds_replication_deleted_by_spid"} <= new  # fmt: skip
    held = lab.sql(
        SLAVE, "SELECT schedule_id, ds_replication_captured_at AS at FROM ds_replication_event_schedule_backup"
    )
    assert sorted(int(r["schedule_id"]) for r in held) == held_ids and all(r["at"] is None for r in held)
    arm(slave)
    aximport(lab, master_file(lab, "Global"))
    with slave.connect() as conn:
        capture_sessions.close_window(conn, DATABASE)
        history.disarm_capture(conn, DATABASE)
        history.restore(conn, DATABASE, restore_changed_jobs=True)
        report = capture_sessions.report(conn)
    # the rows the older backup held carry no deleting session: not counted either way
    assert report["outside_import_rows"] == 0, report
    assert lab.scalar(SLAVE, f"SELECT COUNT(*) AS n FROM event_schedule WHERE schedule_id IN ({listed})") == len(
        held_ids
    )


def abandon(lab: Lab, line: str) -> None:
    """Start `line` on the slave and leave it running, as a worker killed mid-import does."""
    info = lab.info
    protocol = winrm.Session(f"http://127.0.0.1:{info['hosts'][SLAVE]['winrm_port']}/wsman",
                             auth=(info["user"], info["password"]), transport="ntlm",
                             message_encryption="never").protocol  # fmt: skip
    protocol.run_command(protocol.open_shell(), line)


def armed(slave: DsHost) -> list[str]:
    with slave.connect() as conn:
        return history.capture_triggers(conn)


def test_cleanup_disarms_a_capture_left_by_a_failed_import_once_no_aximport_runs(lab):
    slave = slave_host()
    assert capture_end.end_capture(slave, 60) == {"capture": "not armed"}
    arm(slave)
    lab.fault(SLAVE, "aximport_crash")  # deletes the folder's jobs (and their history), dies
    out = lab.shell(SLAVE, f"aximport {master_file(lab, 'Global')} /o")
    assert out.returncode != 0, out
    held = lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM ds_replication_event_schedule_backup")
    captured = lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM ds_replication_event_schedule_backup "
                          "WHERE ds_replication_captured_at IS NOT NULL")  # fmt: skip
    assert captured > 0

    # an aximport still running: its deletes must still be captured
    late_file = master_file(lab, "Drivers")
    lab.fault(SLAVE, "aximport_slow", match=late_file)
    abandon(lab, f'cd /d "{DS_PATH}" && aximport {late_file} /o')
    running = capture_end.end_capture(slave, 60)
    assert running["capture"] == "left armed" and "aximport.exe still runs on slave1 (pid" in running["reason"]
    assert armed(slave)
    slave.wait_for_no_import(60)

    # WinRM cannot say: left armed, said so
    lab.fault(SLAVE, "winrm_500", times=3)
    unknown = capture_end.end_capture(slave, 60)
    assert unknown["capture"] == "left armed" and "cannot tell whether aximport.exe runs" in unknown["reason"], unknown
    assert armed(slave)
    faults.clear(lab.dir, SLAVE)

    # no aximport: disarmed; the rows it held stay held
    ended = capture_end.end_capture(slave, 60)
    assert ended["capture"] == "disarmed" and ended["uncaptured_rows"] == 0, ended
    assert armed(slave) == []
    still_held = lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM ds_replication_event_schedule_backup")
    assert still_held >= held
    # a console delete after the disarm is not captured: its row keeps the snapshot's unstamped copy
    # (history deleted while a backup is held still comes back from it: docs/history.md)
    gone = console_deletes_history(lab, "Local", 1)
    assert lab.scalar(SLAVE, "SELECT COUNT(*) AS n FROM ds_replication_event_schedule_backup") == still_held
    stamp = lab.scalar(SLAVE, "SELECT ds_replication_captured_at AS at FROM ds_replication_event_schedule_backup "
                       f"WHERE schedule_id = {gone[0]}")  # fmt: skip
    assert stamp is None
    assert capture_end.end_capture(slave, 60) == {"capture": "not armed"}

    # the next night: its import brings the jobs back, its restore puts back what the failed one held
    arm(slave)
    aximport(lab, master_file(lab, "Global"))
    with slave.connect() as conn:
        capture_sessions.close_window(conn, DATABASE)
        history.disarm_capture(conn, DATABASE)
        restored = history.restore(conn, DATABASE, restore_changed_jobs=True)
        report = capture_sessions.report(conn)
        verified = history.verify(conn, DATABASE)
    assert restored["restored_rows"] > 0, restored
    assert verified["lost_rows"] == 0 == verified["lost_detail_rows"], verified
    # the failed night's aximport deleted in its own window: not named as another session's
    assert report["outside_import_rows"] == 0, report


# What reads the history tables' catalog (catalog.read_history_tables): their columns and keys.
LIVE = tuple(live for live, _, _ in HISTORY_PARENTS)
FOLDERS = [{"name": "Global", "subfolders": True}, {"name": "Drivers", "subfolders": False}]


def rendered(caplog: pytest.LogCaptureFixture) -> Counter[str]:
    """The scripts sent since caplog was cleared, by template (templates.render logs each one
    before it runs), with the reads of each live history table's columns counted apart."""
    out: Counter[str] = Counter()
    for record in caplog.records:
        if record.name == "ds_replication.templates" and record.msg.startswith("SQL "):
            name, sql = record.args
            out[name] += 1
            if name == "catalog_columns.sql":
                out.update(f"columns of {live}" for live in LIVE if f"N'dbo.{live}'" in sql)
    return out


def read_once(step: str, counts: Counter[str], columns: int) -> None:
    """The step read the history tables' catalog once (read_history_tables: each table's keys,
    read by nothing else here), and each table's columns `columns` times."""
    found = {
        "history catalog": counts["catalog_unique_keys.sql"] / len(LIVE),
        **{f"columns of {live}": counts[f"columns of {live}"] for live in LIVE},
    }
    assert found == {"history catalog": 1, **{f"columns of {live}": columns for live in LIVE}}, (step, counts)


def restore_step(slave: DsHost, conn: Any) -> dict[str, Any]:
    operator = RestoreHistoryOperator(task_id="restore_history", slave=slave, restore_changed_jobs=True)
    return operator.run(conn, {"params": {}})


def verify_step(slave: DsHost, conn: Any, restored: dict[str, Any], ti: Any = None) -> dict[str, Any]:
    operator = VerifyHistoryOperator(task_id="verify_history", slave=slave, export={"folders": FOLDERS},
                                     restore=restored)  # fmt: skip
    return operator.run(conn, {"params": {}, "ti": ti})


def test_each_history_step_reads_the_catalog_once_and_verify_takes_restores_report(lab, caplog):
    """Work done twice on every night, found by the review of issue 17 (measured here: take_stock
    read the history tables' catalog 5 times, restore_history 3 and verify_history 4, each read
    querying every table's columns twice): each step now reads it once and hands it on (to
    capture_sessions.report, the disarm, the restore, verify), and verify_history returns
    restore_history's report of the captured rows' sessions instead of counting them again."""
    slave = slave_host()
    arm(slave)
    remote = console_deletes_history(lab, "Local", 1)  # another session than aximport's: every step names it
    aximport(lab, master_file(lab, "Global"))
    with slave.connect() as conn:
        capture_sessions.close_window(conn, DATABASE)
    caplog.set_level(logging.INFO, logger="ds_replication.templates")
    with slave.connect() as conn:
        caplog.clear()
        stock = held_history.take_stock(conn, DATABASE, dry_run=False)  # a capture left armed, rows held
        read_once("take_stock", rendered(caplog), columns=1)
        caplog.clear()
        restored = restore_step(slave, conn)
        # restore and verify read the live columns once more, with their types, in ensure_tables
        # (the widening and drift checks of the package's tables)
        read_once("restore_history", rendered(caplog), columns=2)
        caplog.clear()
        verified = verify_step(slave, conn, restored)
        verifying = rendered(caplog)
        read_once("verify_history", verifying, columns=2)
    assert verifying["captured_sessions.sql"] == 0, verifying
    assert verifying["verify_history.sql"] == 1  # verified against the slave all the same
    assert stock["outside_import_rows"] == restored["outside_import_rows"] == len(remote), (stock, restored)
    assert stock["leftover_rows"] > 0 and stock["armed_capture_triggers"], stock
    assert {k: verified[k] for k in capture_sessions.KEYS} == {k: restored[k] for k in capture_sessions.KEYS}
    assert verified["lost_rows"] == 0 == verified["lost_detail_rows"], verified
    assert not lab.table_exists(SLAVE, history.BACKUP_TABLE)


class Pushed:
    """What verify_history pushes to XCom when it finds rows lost (Airflow's task instance's
    `xcom_push`, kept here): the test runs the operator's step outside a DAG run."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def test_verify_finds_a_row_lost_after_restore_whatever_restore_reported(lab, caplog):
    """verify_history takes restore_history's report of who deleted the held rows, never its word
    that the history is back: a restored row deleted again (the capture disarmed: nothing keeps
    it) is lost, and the backup stays. A result without the report (a restore of an older
    version) has the report read from the slave, before the backup could go."""
    slave = slave_host()
    arm(slave)
    aximport(lab, master_file(lab, "Global"))
    with slave.connect() as conn:
        capture_sessions.close_window(conn, DATABASE)
        restored = restore_step(slave, conn)
    assert restored["restored_rows"] > 0, restored
    gone = lab.scalar(SLAVE, "SELECT TOP 1 b.schedule_id FROM ds_replication_event_schedule_backup AS b "
                      "WHERE b.ds_replication_captured_at IS NOT NULL ORDER BY b.schedule_id")  # fmt: skip
    lab.sql(SLAVE, f"DELETE FROM event_schedule_info WHERE schedule_id = {gone}")
    lab.sql(SLAVE, f"DELETE FROM event_schedule WHERE schedule_id = {gone}")
    caplog.set_level(logging.INFO, logger="ds_replication.templates")
    for result in (restored, {}):
        ti = Pushed()
        caplog.clear()
        with slave.connect() as conn, pytest.raises(history.HistoryLost):
            verify_step(slave, conn, result, ti)
        assert ti.xcom[FIGURES_XCOM_KEY]["lost_rows"] == 1, ti.xcom
        assert lab.table_exists(SLAVE, history.BACKUP_TABLE)
        assert rendered(caplog)["captured_sessions.sql"] == (0 if result else len(LIVE))


def test_the_alert_mail_reads_the_held_rows_and_their_sessions_over_one_connection(lab, monkeypatch):
    """The history alert mail names the rows held and who deleted them, both read over one
    connection to the slave (it opened a second one for the sessions)."""
    slave = slave_host()
    arm(slave)
    console_deletes_history(lab, "Local", 1)  # outside aximport: the mail names the session
    opened = []
    connect = DsDatabaseHook.connect

    def counted(hook: DsDatabaseHook) -> Any:
        opened.append(hook.mssql_conn_id)
        return connect(hook)

    monkeypatch.setattr(DsDatabaseHook, "connect", counted)
    notifier = SlaveAlertNotifier(slave_name=SLAVE, mssql_conn_id=slave.mssql_conn_id, database=DATABASE,
                                  to=["ds-admins@ds-lab.local"], smtp_conn_id="smtp_default",
                                  from_email="airflow@ds-lab.local")  # fmt: skip
    mails = len(lab.mail())
    sent = notifier.send_held_alert(dag_id=f"replicate_{SLAVE}", run_id="manual__one_connection",
                                    what="import_jobs failed", situation=["a test of the mail"])  # fmt: skip
    assert opened == [slave.mssql_conn_id], opened
    held = lab.scalar(SLAVE, f"SELECT COUNT(*) AS n FROM {history.BACKUP_TABLE}")
    assert sent is not None and sent["held_rows"] == held > 0, sent
    (mail,) = lab.mail()[mails:]
    assert f"{held} history rows held" in mail["subject"], mail["subject"]
    assert f"deleted by program {CONSOLE!r}" in html.unescape(mail["body"]), mail["body"]
