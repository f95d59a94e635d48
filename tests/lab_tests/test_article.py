"""The seed article, reproduced on the lab with its own procedure and its own SQL.

By hand, as the article does it: axexport on the master, copy, aximport on a slave. Without
the article's SQL the history of the synchronised folder is gone; with its backup and
restore SQL (run verbatim through pymssql) the history of the jobs that still exist is kept.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.labctl import Lab

# The article's scripts, as printed (no semicolons, one line each).
BACKUP_SQL = (
    "use express if exists (select * from sys.tables where name='event_schedule_backup') "
    "BEGIN DROP TABLE event_schedule_backup END select * into [event_schedule_backup] from [event_schedule]"
)
RESTORE_SQL = (
    "use express INSERT into [event_schedule] select * from [event_schedule_backup] where event_id in "
    "(select event_id from event_schedule_backup except select event_id from event_schedule) and event_id in "
    "(select event_id from event) drop table event_schedule_backup"
)


@pytest.fixture
def lab():
    root = Path(tempfile.mkdtemp(prefix="ds-article-"))
    lab = Lab(root / "lab").up(slaves=1)
    yield lab
    lab.down()
    shutil.rmtree(root, ignore_errors=True)


def _global_history(lab: Lab) -> int:
    return lab.scalar(
        "slave1",
        "SELECT COUNT(*) AS n FROM event_schedule AS s INNER JOIN event AS e ON s.event_id = e.event_id "
        "INNER JOIN event_folder AS f ON e.folder_id = f.folder_id WHERE f.name = 'Global'",
    )


def _replicate_global(lab: Lab) -> None:
    out = lab.shell(
        "master", 'cd "C:\\Program Files\\Altiris\\eXpress\\Deployment Server" && axexport /f "global" /s global.bin'
    )
    assert out.returncode == 0 and "Processed" in out.stdout, out
    shares = {h: Path(i["share_dir"]) for h, i in lab.info["hosts"].items()}
    shutil.copy(shares["master"] / "global.bin", shares["slave1"] / "global.bin")
    out = lab.shell("slave1", 'cd "C:\\Program Files\\Altiris\\eXpress\\Deployment Server" && aximport global.bin /o')
    assert out.returncode == 0, out


def test_plain_import_loses_the_history_of_the_synchronised_folder(lab):
    before_local = lab.scalar("slave1", "SELECT COUNT(*) AS n FROM event_schedule WHERE event_id >= 3000000")
    assert _global_history(lab) > 0
    _replicate_global(lab)
    assert _global_history(lab) == 0  # the article's "lot of white space"
    # the local folder's history is untouched
    assert lab.scalar("slave1", "SELECT COUNT(*) AS n FROM event_schedule WHERE event_id >= 3000000") == before_local


def test_the_articles_backup_and_restore_keep_it(lab):
    before = _global_history(lab)
    lab.sql("slave1", BACKUP_SQL)
    _replicate_global(lab)
    assert _global_history(lab) == 0
    lab.sql("slave1", RESTORE_SQL)
    # Jobs of Global still on the master get their history back; the backup is dropped.
    assert 0 < _global_history(lab) <= before
    assert not lab.table_exists("slave1", "event_schedule_backup")


def test_the_articles_restore_fails_when_schedule_id_is_an_identity_column():
    """DOMAIN.md: a `select *` insert breaks with an IDENTITY schedule_id; the lab says so too."""
    root = Path(tempfile.mkdtemp(prefix="ds-article-id-"))
    lab = Lab(root / "lab").up(slaves=1, identity=True)
    try:
        lab.sql("slave1", BACKUP_SQL)
        _replicate_global(lab)
        with pytest.raises(RuntimeError, match=r"identity column .* IDENTITY_INSERT"):
            lab.sql("slave1", RESTORE_SQL)
        assert _global_history(lab) == 0
    finally:
        lab.down()
        shutil.rmtree(root, ignore_errors=True)
