"""The sample estate `up --seed` loads: a master whose jobs have moved on since the slaves'
last replication, and slaves with local jobs, computers and job history.

Master: folders Global (sub-folders Software, Büro), Drivers (sub-folder Dell), Master-only;
10 jobs. Since the slaves' last replication the master has edited one job (Firefox: new name,
new task), removed one (Flash Player) and added one (7-Zip).
Each slave: the older Global tree and Drivers (9 replicated jobs), a local folder `Local`
with 2 jobs, 5 computers, and 1-2 history rows per job and computer (event_schedule) with
1-3 detail rows each (event_schedule_info). Deterministic: the same every time. The schema
variant of the database decides the rest: `reused_keys` numbers history as its application does
(ds_schema.next_schedule_id), `info_no_key` leaves every third detail message NULL,
`info_duplicates` too and writes every fourth detail row twice (an exact duplicate pair).
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from tests.lab import ds_schema

# folder_id: (parent_id, name)
MASTER_FOLDERS = {
    1001: (None, "Global"),
    1002: (1001, "Software"),
    1003: (1001, "Büro"),
    1004: (None, "Drivers"),
    1005: (1004, "Dell"),
    1006: (None, "Master-only"),
}
# event_id: (folder_id, name, package or script)
JOBS = {
    2020544: (1001, "[I] Adobe Shockwave Player 11.0r429", "shockwave_11.msi"),
    2020545: (1001, "[I] Audacity 1.2.6 Install", "audacity-1.2.6.exe /S"),
    2020549: (1001, "[I] Firefox 3.05 Install", "firefox-3.0.5.exe -ms"),
    2020547: (1002, "[I] Adobe AIR Runtime 1.5.1.8210 Install", "air_1.5.1.exe -silent"),
    2020548: (1002, "[I] Citrix ICA Client 10.1 Install", "ica32pkg.msi"),
    2020546: (1002, "[I] Adobe FlashPlayer v9.0.124 Install", "flash_9.0.124.msi"),
    2020560: (1003, "[S] Büro-Drucker einrichten", "rundll32 printui.dll,PrintUIEntry /in /n \\\\srv\\büro"),
    2020570: (1004, "[D] Chipset drivers", "chipset.exe /quiet"),
    2020571: (1005, "[D] Dell Latitude drivers", "dell_latitude.exe /s"),
    2020580: (1006, "[T] Master test job", "echo test"),
}
EDITED = {2020549: ("[I] Firefox 3.6 Install", "firefox-3.6.exe -ms")}
REMOVED_ON_MASTER = 2020546
ADDED_ON_MASTER = {2020552: (1001, "[I] 7-Zip 4.65 Install", "7z465.msi /qn")}
MASTER_ONLY_FOLDER = 1006
LOCAL_FOLDER = (5001, "Local")
LOCAL_JOBS = {3000001: "[L] Site printer", 3000002: "[L] Site wallpaper"}
COMPUTERS = 5


def _job(db: sqlite3.Connection, event_id: int, folder_id: int, name: str, command: str, task_id: int) -> None:
    db.execute(
        "INSERT INTO event (event_id, folder_id, name, description, modified) VALUES (?, ?, ?, ?, ?)",
        (event_id, folder_id, name, f"{name} (seeded)", "2026-10-01 08:00:00.000"),
    )
    if name.startswith("[S]") or name.startswith("[T]"):
        db.execute("INSERT INTO script_task VALUES (?, ?, 1, ?)", (task_id, event_id, command))
    else:
        db.execute("INSERT INTO install_task VALUES (?, ?, 1, ?, NULL)", (task_id, event_id, command))
    if event_id % 2 == 0:
        db.execute("INSERT INTO event_condition VALUES (?, ?, ?)", (task_id, event_id, "os = 'WinXP'"))


def seed_master(db_path: Path) -> None:
    db = ds_schema.connect(db_path)
    with db:
        db.execute("BEGIN")
        for folder_id, (parent, name) in MASTER_FOLDERS.items():
            db.execute("INSERT INTO event_folder VALUES (?, ?, ?)", (folder_id, parent, name))
        jobs = {**JOBS, **ADDED_ON_MASTER}
        jobs.pop(REMOVED_ON_MASTER)
        for event_id, (folder_id, name, command) in sorted(jobs.items()):
            name, command = EDITED.get(event_id, (name, command))
            _job(db, event_id, folder_id, name, command, event_id * 10 + 1)
        for n in range(1, COMPUTERS + 1):
            db.execute("INSERT INTO computer VALUES (?, ?)", (4000000 + n, f"MASTER-PC{n:02d}"))
    db.close()


def seed_slave(db_path: Path, index: int) -> None:
    rng = random.Random(1000 + index)
    db = ds_schema.connect(db_path)
    with db:
        db.execute("BEGIN")
        for folder_id, (parent, name) in MASTER_FOLDERS.items():
            if folder_id != MASTER_ONLY_FOLDER:
                db.execute("INSERT INTO event_folder VALUES (?, ?, ?)", (folder_id, parent, name))
        db.execute("INSERT INTO event_folder VALUES (?, NULL, ?)", LOCAL_FOLDER)
        jobs = {e: j for e, j in JOBS.items() if j[0] != MASTER_ONLY_FOLDER}
        for event_id, (folder_id, name, command) in sorted(jobs.items()):
            _job(db, event_id, folder_id, name, command, event_id * 10 + 1)
        for n, (event_id, name) in enumerate(sorted(LOCAL_JOBS.items())):
            _job(db, event_id, LOCAL_FOLDER[0], name, f"local_{n}.cmd", event_id * 10 + 1)
        computers = [5000000 + index * 100 + n for n in range(1, COMPUTERS + 1)]
        for n, computer_id in enumerate(computers, start=1):
            db.execute("INSERT INTO computer VALUES (?, ?)", (computer_id, f"SITE{index}-PC{n:02d}"))
        schema = ds_schema.schema_of(db)
        schedule_id = 100000000 + index * 10000
        details = 0
        for event_id in sorted([*jobs, *LOCAL_JOBS]):
            for computer_id in computers:
                for run in range(rng.randint(1, 2)):
                    schedule_id = ds_schema.next_schedule_id(db) if schema == "reused_keys" else schedule_id + 1
                    day = 1 + rng.randint(0, 27)
                    status = rng.choice(["Completed", "Completed", "Failed"])
                    start = f"2026-10-{day:02d} {8 + run:02d}:{rng.randint(0, 59):02d}:00.000"
                    db.execute(
                        "INSERT INTO event_schedule (schedule_id, computer_id, event_id, status, start_time, end_time) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (schedule_id, computer_id, event_id, status, start, start.replace(".000", ".500")),
                    )
                    for info_id in range(1, rng.randint(1, 3) + 1):
                        details += 1
                        keyless = schema in ("info_no_key", "info_duplicates")
                        message = None if keyless and details % 3 == 0 else f"step {info_id}: {status}"
                        copies = 2 if schema == "info_duplicates" and details % 4 == 0 else 1
                        db.executemany(
                            "INSERT INTO event_schedule_info (schedule_id, info_id, status_code, message, logged_at) "
                            "VALUES (?, ?, ?, ?, ?)",
                            [(schedule_id, info_id, 0 if status == "Completed" else 1603, message, start)] * copies,
                        )
    db.close()


def seed_history(db_path: Path, rows: int) -> dict[str, int]:
    """Add `rows` history rows (event_schedule) to a seeded slave, with 1-3 detail rows each
    (event_schedule_info) as seed_slave makes them, spread over the slave's jobs and computers;
    inserted in SQLite directly, in one transaction (a million rows in seconds), numbered after
    the slave's highest schedule_id. For benchmarks and size tests: `up --history-rows N`."""
    if rows < 0:
        raise ValueError(f"history rows must be 0 or more, not {rows}")
    if rows == 0:
        return {"rows": 0, "detail_rows": 0}
    db = ds_schema.connect(db_path)
    try:
        schema = ds_schema.schema_of(db)
        jobs = [r[0] for r in db.execute("SELECT event_id FROM event ORDER BY event_id")]
        computers = [r[0] for r in db.execute("SELECT computer_id FROM computer ORDER BY computer_id")]
        if not jobs or not computers:
            raise ValueError(f"{db_path}: no jobs or computers to write history for (seed the slave first)")
        first = db.execute("SELECT COALESCE(MAX(schedule_id), 100000000) + 1 FROM event_schedule").fetchone()[0]
        # one statement per table over a number series: SQLite builds the rows itself
        series = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)"
        pick = "(SELECT v FROM {0} WHERE k = {1} % {2})"
        with db:
            db.execute("BEGIN")
            db.execute("CREATE TEMP TABLE lab_jobs (k INTEGER PRIMARY KEY, v)")
            db.execute("CREATE TEMP TABLE lab_computers (k INTEGER PRIMARY KEY, v)")
            db.executemany("INSERT INTO lab_jobs VALUES (?, ?)", enumerate(jobs))
            db.executemany("INSERT INTO lab_computers VALUES (?, ?)", enumerate(computers))
            start = "printf('2026-%02d-%02d %02d:%02d:00.000', 1 + i / 28 % 12, 1 + i % 28, 6 + i % 12, i % 60)"
            db.execute(
                f"{series} INSERT INTO event_schedule "
                "(schedule_id, computer_id, event_id, status, start_time, end_time) "
                f"SELECT ? + i, {pick.format('lab_computers', 'i', len(computers))}, "
                f"{pick.format('lab_jobs', 'i / 5', len(jobs))}, "
                "CASE WHEN i % 3 = 2 THEN 'Failed' ELSE 'Completed' END, "
                f"{start}, replace({start}, '.000', '.500') FROM n",
                (rows, first),
            )
            # 1 + i % 3 detail rows for row i: info ids 1..3, as seed_slave's 1-3
            null_every_third = schema in ("info_no_key", "info_duplicates")
            db.execute(
                f"{series}, d(j) AS (VALUES (1), (2), (3)) "
                "INSERT INTO event_schedule_info (schedule_id, info_id, status_code, message, logged_at) "
                "SELECT ? + i, j, CASE WHEN i % 3 = 2 THEN 1603 ELSE 0 END, "
                "CASE WHEN ? AND (i + j) % 3 = 0 THEN NULL ELSE 'step ' || j || ': ' || "
                "CASE WHEN i % 3 = 2 THEN 'Failed' ELSE 'Completed' END END, "
                f"{start} FROM n JOIN d ON j <= 1 + i % 3",
                (rows, first, int(null_every_third)),
            )
            details = db.execute("SELECT changes()").fetchone()[0]
            db.execute("DROP TABLE lab_jobs")
            db.execute("DROP TABLE lab_computers")
    finally:
        db.close()
    return {"rows": rows, "detail_rows": details}
