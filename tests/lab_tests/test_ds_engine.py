"""The live DS engine (tests/lab/ds_engine.py): history written while the lab runs, seen
through pymssql (TDS), recorded in its journal, started and stopped by the lab's command line."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import pymssql
import pytest

from tests.lab import ds_engine
from tests.lab.control import _alive
from tests.labctl import Lab

SLAVE = "slave1"


@pytest.fixture(scope="module")
def root():
    path = Path(tempfile.mkdtemp(prefix="ds-lab-engine-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(root):
    """A lab whose engine is stopped between tests (the tests run in any order); no test deletes
    the engine's rows here, so the journal and the table agree whatever ran before."""
    lab = Lab(root / "live").up(slaves=1)
    lab.seeded = {r["schedule_id"] for r in query(lab, "SELECT schedule_id FROM event_schedule")}
    yield lab
    lab.down()


@pytest.fixture
def running(lab):
    """The engine on, 10 writes per second, for one test; stopped after it if the test did not."""
    lab.live_start([SLAVE], rate=10)
    yield lab
    if "engine_pid" in lab.info["hosts"][SLAVE]:
        lab.live_stop([SLAVE])


def query(lab: Lab, sql: str, host: str = SLAVE) -> list[dict]:
    info = lab.info
    conn = pymssql.connect(
        server="127.0.0.1",
        port=str(info["hosts"][host]["sql_port"]),
        user=info["user"],
        password=info["password"],
        database="express",
        login_timeout=5,
        timeout=30,
        autocommit=True,
    )
    try:
        cursor = conn.cursor(as_dict=True)
        cursor.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        conn.close()


def as_text(row: dict) -> dict:
    """A row read over TDS in the journal's form (datetimes as ISO text to the millisecond)."""
    return {
        k: v.isoformat(sep=" ", timespec="milliseconds") if isinstance(v, dt.datetime) else v for k, v in row.items()
    }


def engine_rows(lab: Lab) -> dict[int, dict]:
    """event_schedule rows the seed did not write."""
    return {
        r["schedule_id"]: as_text(r)
        for r in query(lab, "SELECT * FROM event_schedule")
        if r["schedule_id"] not in lab.seeded
    }


def wait_until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.2)


def test_rows_appear_and_runs_end_over_a_few_seconds(running):
    lab = running
    first = engine_rows(lab)
    wait_until(lambda: len(engine_rows(lab)) >= len(first) + 5)
    later = engine_rows(lab)
    assert set(first) < set(later)
    new = [later[k] for k in set(later) - set(first)]
    assert all(r["status"] in ("in progress", "completed", "failed") for r in new)
    wait_until(lambda: any(r["status"] != "in progress" for r in engine_rows(lab).values()))
    ended = [r for r in engine_rows(lab).values() if r["status"] in ("completed", "failed")]
    assert ended and all(r["end_time"] is not None and r["end_time"] >= r["start_time"] for r in ended)
    jobs = {r["event_id"] for r in query(lab, "SELECT event_id FROM event")}
    computers = {r["computer_id"] for r in query(lab, "SELECT computer_id FROM computer")}
    assert all(r["event_id"] in jobs and r["computer_id"] in computers for r in later.values())
    info = query(lab, "SELECT schedule_id, info_id FROM event_schedule_info WHERE message LIKE 'live engine:%'")
    assert set(later) <= {r["schedule_id"] for r in info}  # each run has its info rows
    for schedule_id in set(later):
        ids = sorted(r["info_id"] for r in info if r["schedule_id"] == schedule_id)
        assert ids == list(range(1, len(ids) + 1))


def test_stop_ends_the_writes_and_the_journal_holds_the_last_version_of_every_row(running):
    lab = running
    written = ds_engine.counters(lab.dir, SLAVE)["inserted"]
    wait_until(lambda: ds_engine.counters(lab.dir, SLAVE)["inserted"] >= written + 5)
    pid = lab.info["hosts"][SLAVE]["engine_pid"]
    lab.live_stop([SLAVE])
    assert not _alive(pid) and "engine_pid" not in lab.info["hosts"][SLAVE]
    table, journal = engine_rows(lab), ds_engine.journal(lab.dir, SLAVE)
    time.sleep(1.5)
    assert engine_rows(lab) == table and len(ds_engine.journal(lab.dir, SLAVE)) == len(journal)

    last = ds_engine.last_versions(journal)
    assert {k[0]: r for k, r in last["event_schedule"].items()} == table
    info = query(lab, "SELECT * FROM event_schedule_info WHERE message LIKE 'live engine:%'")
    assert {(r["schedule_id"], r["info_id"]): r for r in map(as_text, info)} == last["event_schedule_info"]
    counts = ds_engine.counters(lab.dir, SLAVE)
    assert counts["inserted"] == len(table) and counts["info_inserted"] == len(info)
    assert counts["updated"] == sum(1 for e in journal if e.op == "update" and e.table == "event_schedule") > 0
    assert [e.seq for e in journal] == sorted(e.seq for e in journal)


def schedule_writes(lab: Lab) -> list[ds_engine.Entry]:
    return [e for e in ds_engine.journal(lab.dir, SLAVE) if e.table == "event_schedule"]


def test_the_engine_writes_no_faster_than_its_rate(lab):
    """Proved from the times its journal recorded, whatever the machine's load: n writes span at
    least (n - 1) / rate seconds (each `at` is cut to 10 ms). How soon they come is not asserted
    here (a loaded machine is slower); they must come."""
    for rate, writes in ((2, 6), (20, 40)):
        before = len(schedule_writes(lab))
        lab.live_start([SLAVE], rate=rate)
        try:
            wait_until(lambda: len(schedule_writes(lab)) >= before + writes, seconds=120)  # noqa: B023
        finally:
            lab.live_stop([SLAVE])
        new = schedule_writes(lab)[before : before + writes]
        span = (dt.datetime.fromisoformat(new[-1].at) - dt.datetime.fromisoformat(new[0].at)).total_seconds()
        assert span >= (writes - 1) / rate - 0.02, (rate, writes, span)


def test_a_new_schedule_id_is_above_every_id_ever_seen(root):
    lab = Lab(root / "ids").up(slaves=1)
    try:
        _a_new_id_is_above_every_id_ever_seen(lab)
    finally:
        lab.down()


def _a_new_id_is_above_every_id_ever_seen(lab: Lab) -> None:
    # the engine writes a few rows, then the newest ones are deleted (as aximport would)
    lab.live_start([SLAVE], rate=20)
    wait_until(lambda: ds_engine.counters(lab.dir, SLAVE)["inserted"] >= 3)
    lab.live_stop([SLAVE])
    top = query(lab, "SELECT MAX(schedule_id) AS n FROM event_schedule")[0]["n"]
    query(lab, f"DELETE FROM event_schedule WHERE schedule_id > {top - 3}")
    lab.live_start([SLAVE], rate=20)
    try:
        wait_until(lambda: query(lab, "SELECT MAX(schedule_id) AS n FROM event_schedule")[0]["n"] > top)
    finally:
        lab.live_stop([SLAVE])
    inserted = [e.key[0] for e in ds_engine.journal(lab.dir, SLAVE) if e.op == "insert" and e.table == "event_schedule"]
    assert len(inserted) == len(set(inserted))
    assert not [i for i in query(lab, "SELECT schedule_id FROM event_schedule") if top - 3 < i["schedule_id"] <= top]


def test_bad_requests_are_refused_with_the_value(lab):
    with pytest.raises(RuntimeError, match="no host 'slave9'"):
        lab.live_start(["slave9"])
    with pytest.raises(RuntimeError, match="rate must be writes per second above 0, not -1"):
        lab.live_start([SLAVE], rate=-1)
    lab.live_start([SLAVE])
    try:
        with pytest.raises(RuntimeError, match="already runs on slave1"):
            lab.live_start([SLAVE])
    finally:
        lab.live_stop([SLAVE])


def test_down_stops_every_engine(root):
    lab = Lab(root / "down").up(slaves=1, live=True)
    try:
        pids = [h["engine_pid"] for h in lab.info["hosts"].values()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
    finally:
        lab.down()
    assert not any(_alive(p) for p in pids)


def test_identity_lets_the_table_assign_the_key(root):
    lab = Lab(root / "identity").up(slaves=1, identity=True)
    try:
        top = query(lab, "SELECT MAX(schedule_id) AS n FROM event_schedule")[0]["n"]
        lab.live_start([SLAVE], rate=20)
        wait_until(lambda: ds_engine.counters(lab.dir, SLAVE)["inserted"] >= 3)
        lab.live_stop([SLAVE])
        keys = [e.key[0] for e in ds_engine.journal(lab.dir, SLAVE) if e.op == "insert" and e.table == "event_schedule"]
        assert keys[:3] == [top + 1, top + 2, top + 3]
    finally:
        lab.down()
