"""A live DS engine for one lab host: job history written the way a DS writes it at night.

`python -m tests.lab.ds_engine --dir DIR --name HOST [--rate N]`, started and stopped by
`python -m tests.lab live ...` (control.live_start / live_stop) or `up --live`.
At a steady rate it either starts a run of an existing job on an existing computer (a new
`event_schedule` row 'in progress' with 1-2 `event_schedule_info` rows) or ends a run still
in progress ('completed' or 'failed', end_time now, sometimes one more info row). Each write
is one short transaction on its own sqlite3 connection, as the lab's tools write.

Every row written is recorded after its commit, with its full content, in the journal
DIR/hosts/HOST/engine_journal.db (read with `journal()`), so a test knows the last version
of every row written during a run. SIGTERM ends the loop between two writes: a stopped
engine never leaves a write out of its journal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import signal
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.lab import ds_schema
from tests.lab.host import host_paths

DEFAULT_RATE = 4.0  # writes per second
IN_PROGRESS = "in progress"
SCHEDULE, INFO = "event_schedule", "event_schedule_info"
KEYS = {SCHEDULE: ("schedule_id",), INFO: ("schedule_id", "info_id")}
# Tables whose ids a new schedule_id must stay above: a DS never hands out an id again.
ID_TABLES = ("event_schedule", "event_schedule_backup", "event_schedule_archive")

JOURNAL_DDL = """CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    op TEXT NOT NULL,          -- insert | update
    table_name TEXT NOT NULL,
    row_key TEXT NOT NULL,     -- JSON list of the primary key values
    row TEXT NOT NULL          -- JSON object: every column after the write
)"""


def journal_path(lab_dir: Path, host: str) -> Path:
    return host_paths(Path(lab_dir), host)["dir"] / "engine_journal.db"


def _now() -> str:
    """Now, to 10 ms: a T-SQL datetime (1/300 s) holds it exactly, so TDS reads give it back."""
    now = dt.datetime.now()
    return now.replace(microsecond=now.microsecond // 10000 * 10000).isoformat(sep=" ", timespec="milliseconds")


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    op: str
    table: str
    key: tuple
    row: dict[str, Any]


def journal(lab_dir: Path, host: str) -> list[Entry]:
    """Every write the host's engine made, in order (empty when it never ran)."""
    path = journal_path(lab_dir, host)
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT seq, at, op, table_name, row_key, row FROM journal ORDER BY seq").fetchall()
    finally:
        db.close()
    return [Entry(seq, at, op, table, tuple(json.loads(key)), json.loads(row)) for seq, at, op, table, key, row in rows]


def last_versions(entries: list[Entry]) -> dict[str, dict[tuple, dict[str, Any]]]:
    """The last version of every row in the entries: {table: {key: row}}."""
    out: dict[str, dict[tuple, dict[str, Any]]] = {SCHEDULE: {}, INFO: {}}
    for entry in entries:
        out[entry.table][entry.key] = entry.row
    return out


def counters(lab_dir: Path, host: str) -> dict[str, int]:
    """Writes of the host's engine: schedule rows inserted and updated, info rows inserted."""
    entries = journal(lab_dir, host)
    return {
        "inserted": sum(1 for e in entries if e.table == SCHEDULE and e.op == "insert"),
        "updated": sum(1 for e in entries if e.table == SCHEDULE and e.op == "update"),
        "info_inserted": sum(1 for e in entries if e.table == INFO and e.op == "insert"),
    }


class Engine:
    def __init__(self, db_path: Path, journal_file: Path, rng: random.Random | None = None) -> None:
        self.db = ds_schema.connect(db_path)
        self.journal = sqlite3.connect(journal_file, timeout=30, isolation_level=None)
        self.journal.execute("PRAGMA journal_mode=WAL")
        self.journal.execute(JOURNAL_DDL)
        self.rng = rng or random.Random()
        self.identity = bool(
            self.db.execute(
                "SELECT is_identity FROM lab_catalog WHERE table_name = ? AND column_name = 'schedule_id'",
                (SCHEDULE,),
            ).fetchone()[0]
        )
        self.highest_id = self._highest_id_seen()

    def _highest_id_seen(self) -> int:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        ids = [self.db.execute(f'SELECT MAX(schedule_id) FROM "{t}"').fetchone()[0] for t in ID_TABLES if t in tables]
        journaled = self.journal.execute(
            "SELECT MAX(json_extract(row, '$.schedule_id')) FROM journal WHERE table_name = ?", (SCHEDULE,)
        ).fetchone()[0]
        return max([i for i in (*ids, journaled) if i is not None], default=0)

    def new_schedule_id(self) -> int | None:
        """The key of a new event_schedule row; None lets an IDENTITY column assign it.

        The one place the key is chosen: by default a counter above every id ever seen
        (live, backup, archive, journal), so an id is never handed out twice, as IDENTITY.
        """
        if self.identity:
            return None
        top = self.db.execute("SELECT MAX(schedule_id) FROM event_schedule").fetchone()[0] or 0
        self.highest_id = max(self.highest_id, top) + 1
        return self.highest_id

    def step(self) -> None:
        """One write: end a run in progress (about half the time, when there is one) or start one."""
        written: list[tuple[str, str, tuple]] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            running = self.db.execute(
                "SELECT schedule_id FROM event_schedule WHERE status = ? AND end_time IS NULL", (IN_PROGRESS,)
            ).fetchall()
            if running and self.rng.random() < 0.5:
                written = self._end_run(self.rng.choice(running)[0])
            else:
                written = self._start_run()
            rows = [(op, table, key, self._read(table, key)) for op, table, key in written]
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        with self.journal:
            self.journal.execute("BEGIN")
            for op, table, key, row in rows:
                self.journal.execute(
                    "INSERT INTO journal (at, op, table_name, row_key, row) VALUES (?, ?, ?, ?, ?)",
                    (_now(), op, table, json.dumps(list(key)), json.dumps(row)),
                )

    def _start_run(self) -> list[tuple[str, str, tuple]]:
        jobs = self.db.execute("SELECT event_id FROM event").fetchall()
        computers = self.db.execute("SELECT computer_id FROM computer").fetchall()
        if not jobs or not computers:
            return []
        now = _now()
        values = (self.rng.choice(computers)[0], self.rng.choice(jobs)[0], IN_PROGRESS, now, None)
        schedule_id = self.new_schedule_id()
        if schedule_id is None:
            cursor = self.db.execute(
                "INSERT INTO event_schedule (computer_id, event_id, status, start_time, end_time) "
                "VALUES (?, ?, ?, ?, ?)",
                values,
            )
            schedule_id = cursor.lastrowid
        else:
            self.db.execute("INSERT INTO event_schedule VALUES (?, ?, ?, ?, ?, ?)", (schedule_id, *values))
        written = [("insert", SCHEDULE, (schedule_id,))]
        for _ in range(self.rng.randint(1, 2)):
            written.append(self._add_info(schedule_id, 0, "running"))
        return written

    def _end_run(self, schedule_id: int) -> list[tuple[str, str, tuple]]:
        status = self.rng.choice(["completed", "completed", "failed"])
        self.db.execute(
            "UPDATE event_schedule SET status = ?, end_time = ? WHERE schedule_id = ?", (status, _now(), schedule_id)
        )
        written = [("update", SCHEDULE, (schedule_id,))]
        if self.rng.random() < 0.5:
            written.append(self._add_info(schedule_id, 0 if status == "completed" else 1603, status))
        return written

    def _add_info(self, schedule_id: int, code: int, message: str) -> tuple[str, str, tuple]:
        top = self.db.execute("SELECT MAX(info_id) FROM event_schedule_info WHERE schedule_id = ?", (schedule_id,))
        info_id = (top.fetchone()[0] or 0) + 1
        self.db.execute(
            "INSERT INTO event_schedule_info VALUES (?, ?, ?, ?, ?)",
            (schedule_id, info_id, code, f"live engine: {message}", _now()),
        )
        return ("insert", INFO, (schedule_id, info_id))

    def _read(self, table: str, key: tuple) -> dict[str, Any]:
        where = " AND ".join(f'"{k}" = ?' for k in KEYS[table])
        cursor = self.db.execute(f'SELECT * FROM "{table}" WHERE {where}', key)
        return dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))

    def close(self) -> None:
        self.db.close()
        self.journal.close()


def run(engine: Engine, rate: float, stopped: threading.Event) -> None:
    try:
        while not stopped.wait(1.0 / rate):
            try:
                engine.step()
            except sqlite3.Error:  # a lock held longer than 30 s: a DS retries later too
                logging.exception("live engine write failed")
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE)
    args = parser.parse_args()
    if not args.rate > 0:
        parser.error(f"--rate must be writes per second above 0, not {args.rate}")
    lab_dir = Path(args.dir).resolve()
    paths = host_paths(lab_dir, args.name)
    logging.basicConfig(filename=paths["dir"] / "engine.log", level=logging.INFO)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    engine = Engine(paths["db"], journal_path(lab_dir, args.name))
    tmp = paths["dir"] / "engine.ready.tmp"  # whole, then renamed: `lab live start` reads it once it exists
    tmp.write_text(json.dumps({"rate": args.rate}))
    tmp.replace(paths["dir"] / "engine.ready")
    logging.info("live engine on %s: %.2f writes/s", args.name, args.rate)
    run(engine, args.rate, stopped)
    logging.info("live engine on %s stopped", args.name)


if __name__ == "__main__":
    main()
