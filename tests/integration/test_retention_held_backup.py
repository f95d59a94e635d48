"""The retention removes nothing while a history backup is held (issue 20), even when asked
directly: `cleanup` already skips it after a night verify_history did not complete
(tests/e2e/test_change_control.py), and `retention.apply` checks the slave itself, so no caller
can remove an archive a recovery may still need."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ds_replication import history, retention
from ds_replication.config import Retention
from ds_replication.ds_host import DsHost
from ds_replication.job_archive import ARCHIVE_FOLDER
from tests.lab.cmdexe import DS_PATH
from tests.labctl import lab_in_environ

SLAVE = "slave1"
BACKUP = "ds_replication_event_schedule_backup"
KEEP_ONE = Retention(nights=30, min_archives=1)
TODAY = dt.date(2026, 12, 5)


def test_a_held_backup_keeps_every_archive_until_it_is_gone():
    with lab_in_environ("retention-held") as lab:
        ids = (f"ds_{SLAVE}_{kind}" for kind in ("winrm", "mssql", "smb"))
        slave = DsHost("slave", SLAVE, *ids, "express", "express", DS_PATH)
        folder = Path(lab.info["hosts"][SLAVE]["share_dir"]) / ARCHIVE_FOLDER
        folder.mkdir(exist_ok=True)
        older, newer = (folder / f"{SLAVE}_{d}_{key * 12}_1.bin" for d, key in (("20250101", "a"), ("20250201", "b")))
        for path in (older, newer):
            path.write_bytes(b"jobs of an old night")
        with slave.connect() as conn:
            assert history.backup(conn, slave.database)["backed_up_rows"] > 0  # a night's backup, held

        held = retention.apply(slave, KEEP_ONE, TODAY)
        assert held == {"skipped": "a history backup is held", "kept": [], "removed": [], "archive_rows_removed": {}}
        assert older.exists() and newer.exists()

        lab.sql(SLAVE, f"DROP TABLE {BACKUP}")  # the backup gone (verify_history drops it when every row is back)
        done = retention.apply(slave, KEEP_ONE, TODAY)
        assert [a["files"] for a in done["removed"]] == [[older.name]], done
        assert not older.exists() and newer.exists()
