"""A nightly run while the slave's DS keeps writing history, as a real DS does at night.

The lab's live DS engine (tests/lab/ds_engine.py) starts and ends job runs on the slave
through the whole run (export, backup, the archive export, aximport, restore); a plain
pymssql client stands for a DS that never stops adding rows. Every history row that existed
at any moment of the run must be live or archived at its end, in its last version
(tests/history_audit.py, live_audit), and the run must succeed.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time

import pymssql
import pytest

from tests.e2e.conftest import _estate
from tests.history_audit import live_audit, snapshot
from tests.lab import ds_engine

SLAVE = "slave1"
ENGINE_RATE = 4  # writes per second, the engine's default
CLIENT_INTERVAL = 0.15  # seconds between the plain client's rows
CLIENT_IDS = 900000000  # the plain client's schedule_ids start above every seeded one


@pytest.fixture
def estate(request):
    return _estate(request, slaves=1, identity=False)


def _now() -> dt.datetime:
    now = dt.datetime.now()
    return now.replace(microsecond=now.microsecond // 10000 * 10000)  # a T-SQL datetime holds it exactly


def why(result: dict, audit) -> str:
    states = {t: s["state"] for t, s in result["tasks"].items()}
    return f"run {result['state']}, tasks {states}\n{audit.summary()}"


def wait_for_a_write(lab, since: str, timeout: float = 60) -> None:
    """Until the live engine has written at `since` or later (ISO text, as its journal has it)."""
    deadline = time.monotonic() + timeout
    while not any(entry.at >= since for entry in ds_engine.journal(lab.dir, SLAVE)):
        assert time.monotonic() < deadline, f"the live engine wrote nothing since {since} within {timeout} s"
        time.sleep(0.1)


def test_history_written_during_the_run_is_kept_in_its_last_version(estate):
    lab = estate.lab
    lab.live_start([SLAVE], rate=ENGINE_RATE)
    try:
        wait_for_a_write(lab, "")  # writing before the run starts
        before = snapshot(lab, SLAVE)
        started = _now().isoformat(sep=" ", timespec="milliseconds")
        result = estate.run(SLAVE)
        ended = _now().isoformat(sep=" ", timespec="milliseconds")
        wait_for_a_write(lab, ended)  # and still after it ended
    finally:
        lab.live_stop([SLAVE])
    written = ds_engine.journal(lab.dir, SLAVE)
    audit = live_audit(before, written, snapshot(lab, SLAVE), run_failed=result["state"] != "success")
    print(audit.summary())
    # the engine wrote through the whole run, not only before or after it
    assert written[0].at <= started and written[-1].at >= ended, (written[0].at, started, written[-1].at, ended)
    assert audit.schedule.inserted > 0 and audit.schedule.updated > 0 and audit.info.inserted > 0
    assert audit.ok and result["state"] == "success", why(result, audit)
    assert audit.schedule.held == 0 and audit.info.held == 0, why(result, audit)


class PlainClient(threading.Thread):
    """Adds one history row on the slave every CLIENT_INTERVAL s over TDS and records each as
    the engine's journal would (ds_engine.Entry), until stopped."""

    def __init__(self, lab) -> None:
        super().__init__(daemon=True)
        self.info = lab.info
        self.stopped = threading.Event()
        self.written: list[ds_engine.Entry] = []
        self.errors: list[str] = []

    def run(self) -> None:
        host = self.info["hosts"][SLAVE]
        conn = pymssql.connect(
            server="127.0.0.1",
            port=str(host["sql_port"]),
            user=self.info["user"],
            password=self.info["password"],
            database="express",
            login_timeout=5,
            timeout=60,
            autocommit=True,
        )
        rng = random.Random(7)
        try:
            cursor = conn.cursor(as_dict=True)
            cursor.execute("SELECT event_id FROM event")
            jobs = [r["event_id"] for r in cursor.fetchall()]
            cursor.execute("SELECT computer_id FROM computer")
            computers = [r["computer_id"] for r in cursor.fetchall()]
            schedule_id, tick = CLIENT_IDS, time.monotonic()
            while not self.stopped.wait(max(0.0, tick - time.monotonic())):
                tick += CLIENT_INTERVAL  # a steady cadence, however long a statement takes
                schedule_id += 1
                start = _now().isoformat(sep=" ", timespec="milliseconds")
                try:  # a job removed by the import gets no more runs: INSERT ... SELECT FROM event
                    cursor.execute(
                        "INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time, end_time) "
                        f"SELECT {schedule_id}, {rng.choice(computers)}, event_id, 'in progress', '{start}', NULL "
                        f"FROM event WHERE event_id = {rng.choice(jobs)}; "
                        f"SELECT * FROM event_schedule WHERE schedule_id = {schedule_id}"
                    )
                    row = cursor.fetchone()
                except pymssql.Error as error:  # e.g. a lock wait past the timeout: the DS tries again
                    self.errors.append(str(error)[:200])
                    continue
                if row:
                    self.written.append(
                        ds_engine.Entry(len(self.written) + 1, start, "insert", "event_schedule", (schedule_id,), row)
                    )
        finally:
            conn.close()


def test_a_night_that_never_ends_still_passes_the_backup_and_keeps_every_row(estate):
    """A row added every 0.15 s: the backup never holds 'every live row' for long, and rows
    added between the backup and the import must still be kept."""
    lab = estate.lab
    before = snapshot(lab, SLAVE)
    client = PlainClient(lab)
    client.start()
    try:
        result = estate.run(SLAVE)
    finally:
        client.stopped.set()
        client.join(timeout=90)
    audit = live_audit(before, client.written, snapshot(lab, SLAVE), run_failed=result["state"] != "success")
    print(audit.summary(), f"client errors: {len(client.errors)} {client.errors[:3]}")
    assert audit.schedule.inserted > 20, (audit.schedule.inserted, client.errors[:3])
    assert result["state"] == "success", why(result, audit)
    assert audit.ok and audit.schedule.held == 0, why(result, audit)
