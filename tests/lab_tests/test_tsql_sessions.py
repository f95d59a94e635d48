"""Sessions of the lab's T-SQL interpreter: transactions across batches, close, lock waits
between sessions, cancel, and the fault hook."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.lab import ds_schema
from tests.lab.tsql import ConnectionDropped, Engine, ResultSet, SqlError

INSERT_JOB = "INSERT INTO event (event_id, folder_id, name, modified) VALUES ({id}, 1, N'job', GETDATE())"


def count(session, table: str = "event") -> int:
    (result,) = list(session.execute(f"SELECT COUNT(*) FROM {table}"))
    assert isinstance(result, ResultSet)
    return result.rows[0][0]


@pytest.fixture
def engine(tmp_path):
    path = tmp_path / "express.db"
    ds_schema.create_express(path)
    return Engine(str(path))


@pytest.fixture
def sessions(engine):
    opened = []

    def open_session(hook=None):
        opened.append(engine.session(hook))
        return opened[-1]

    yield open_session
    for session in opened:
        session.close()


def test_transaction_spans_batches_and_close_rolls_back(sessions):
    a, b = sessions(), sessions()
    list(a.execute("BEGIN TRANSACTION"))
    list(a.execute(INSERT_JOB.format(id=1)))
    assert a.trancount == 1 and count(a) == 1
    assert count(b) == 0  # not committed: the other session does not see it
    a.close()
    assert count(b) == 0
    c = sessions()
    list(c.execute("BEGIN TRAN; " + INSERT_JOB.format(id=2)))
    list(c.execute("COMMIT TRAN"))
    assert c.trancount == 0 and count(b) == 1


def test_commit_without_begin_is_an_error(sessions):
    (error,) = list(sessions().execute("COMMIT"))
    assert isinstance(error, SqlError) and error.number == 3902


def reached(prefix: str) -> tuple[threading.Event, Callable]:
    """An event set when a session (opened with the hook returned) starts a statement that
    begins with `prefix`: the state a test waits for instead of a guess of how long it takes."""
    seen = threading.Event()

    def hook(point: str, statement: str, batch: str) -> None:
        if point == "statement" and statement.startswith(prefix):
            seen.set()

    return seen, hook


def test_a_writer_waits_for_the_other_sessions_transaction(sessions):
    started, hook = reached("INSERT")
    a, b = sessions(), sessions(hook)
    list(a.execute("BEGIN TRAN; " + INSERT_JOB.format(id=1)))
    done = []
    writer = threading.Thread(target=lambda: done.append(list(b.execute(INSERT_JOB.format(id=2)))))
    writer.start()
    assert started.wait(30), "the writer's INSERT did not start"
    time.sleep(0.4)  # a window in which a writer not made to wait would have ended
    assert writer.is_alive() and not done  # a lock wait
    list(a.execute("COMMIT"))
    writer.join(timeout=10)
    assert done == [[1]] and count(a) == 2


def test_cancel_ends_a_lock_wait_and_xact_abort_rolls_back(sessions):
    waiting, hook = reached("BEGIN TRAN")  # its lock wait: BEGIN TRAN takes the write lock
    a, b = sessions(), sessions(hook)
    list(a.execute("BEGIN TRAN; " + INSERT_JOB.format(id=1)))
    done = []
    batch = "SET XACT_ABORT ON; SET NOCOUNT ON; SELECT 1; BEGIN TRAN; " + INSERT_JOB.format(id=2) + "; SELECT 2"
    waiter = threading.Thread(target=lambda: done.append(list(b.execute(batch))))
    waiter.start()
    assert waiting.wait(30), "the batch did not reach BEGIN TRAN"
    b.cancel()
    waiter.join(timeout=10)
    assert not waiter.is_alive()
    assert [o.rows for o in done[0]] == [[(1,)]]  # stopped at the lock wait, nothing after it
    assert b.trancount == 0
    list(a.execute("ROLLBACK"))
    assert count(b) == 0
    assert [o.rows for o in b.execute("SELECT 3")] == [[(3,)]]  # the session is usable again


def test_hook_sees_statements_and_commit(sessions):
    seen = []
    session = sessions(lambda point, statement, batch: seen.append((point, statement)))
    list(session.execute("BEGIN TRAN\n" + INSERT_JOB.format(id=1) + "\nCOMMIT"))
    assert [p for p, _ in seen] == ["statement", "statement", "statement", "commit", "committed"]
    assert seen[1][1].startswith("INSERT INTO event")


def test_connection_dropped_before_commit_rolls_back(sessions):
    def drop(point, statement, batch):
        if point == "commit":
            raise ConnectionDropped

    session = sessions(drop)
    with pytest.raises(ConnectionDropped):
        list(session.execute("BEGIN TRAN; " + INSERT_JOB.format(id=1) + "; COMMIT"))
    assert session.trancount == 0 and count(sessions()) == 0


def test_connection_dropped_after_commit_keeps_the_work(sessions):
    def drop(point, statement, batch):
        if point == "committed":
            raise ConnectionDropped

    with pytest.raises(ConnectionDropped):
        list(sessions(drop).execute("BEGIN TRAN; " + INSERT_JOB.format(id=1) + "; COMMIT"))
    assert count(sessions()) == 1


def test_connection_dropped_mid_batch_rolls_back(sessions):
    def drop(point, statement, batch):
        if statement.startswith("SELECT 'second'"):
            raise ConnectionDropped

    session = sessions(drop)
    out = []
    with pytest.raises(ConnectionDropped):
        for item in session.execute("BEGIN TRAN; " + INSERT_JOB.format(id=1) + "; SELECT 'second'; COMMIT"):
            out.append(item)
    assert out == [1] and session.trancount == 0 and count(sessions()) == 0


def test_delete_from_event_cascades_through_the_triggers(sessions):
    session = sessions()
    list(
        session.execute(
            INSERT_JOB.format(id=1) + "\n"
            "INSERT INTO install_task (task_id, event_id, seq, package) VALUES (1, 1, 1, N'p')\n"
            "INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time) "
            "VALUES (7, 1, 1, N'ok', GETDATE())\n"
            "INSERT INTO event_schedule_info (schedule_id, info_id, status_code, logged_at) VALUES (7, 1, 0, GETDATE())"
        )
    )
    assert list(session.execute("DELETE FROM event")) == [1]  # the job's own row count, as SQL Server reports
    for table in ("install_task", "event_schedule", "event_schedule_info"):
        assert count(session, table) == 0


def test_a_login_waits_out_a_brief_lock_on_the_database_file(engine, sessions):
    """A login that meets the database file locked for a moment (SQLite's WAL recovery or the
    checkpoint of a closing connection hold it exclusively) waits for it, as a SQL Server login
    waits, instead of failing: a session that failed to start made the lab drop the connection,
    and the client saw "Unexpected EOF" (the flake of test_legacy_tables under load)."""
    import sqlite3

    holder = sqlite3.connect(engine.db_path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # in WAL mode, exclusive locking mode shuts readers out
    release = threading.Timer(0.5, lambda: (holder.execute("COMMIT"), holder.close()))
    release.start()
    try:
        session = sessions()
        assert count(session) == 0
    finally:
        release.join()
