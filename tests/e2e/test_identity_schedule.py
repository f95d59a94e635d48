"""An IDENTITY `schedule_id` on the slave, end to end on the DS lab (real Airflow, `dag.test()`):
history kept, the removed job's archived, the IDENTITY kept, a second run idle."""

from __future__ import annotations

import pytest

from tests.e2e.scenario_checks import (
    SLAVE,
    assert_nothing_lost,
    assert_run_tables_gone,
    assert_succeeded,
    history_of,
    parts,
    run_and_audit,
    run_files_left,
    why,
)
from tests.history_audit import account, jobs_in_folders, slave_folders
from tests.lab import seed


def is_identity(lab, host: str, table: str, column: str) -> bool:
    return bool(
        lab.scalar(
            host,
            "SELECT COUNT(*) AS n FROM sys.identity_columns "
            f"WHERE object_id = OBJECT_ID('{table}') AND name = '{column}'",
        )
    )


@pytest.fixture(scope="module")
def identity_night(identity_estate):
    lab = identity_estate.lab
    assert is_identity(lab, SLAVE, "event_schedule", "schedule_id"), "the identity lab has no IDENTITY column"
    synced = jobs_in_folders(lab, SLAVE, slave_folders(identity_estate.config_path, SLAVE))
    return {**run_and_audit(identity_estate), "synced_before": synced}


def test_identity_nightly_run_succeeds_and_loses_nothing(identity_night):
    assert_succeeded(identity_night["result"])
    assert_nothing_lost(identity_night)


def test_identity_history_live_for_surviving_jobs_archived_for_removed(identity_night):
    before, after, result = parts(identity_night)
    removed = {i for i in identity_night["synced_before"] if i not in after.jobs}
    assert removed == {seed.REMOVED_ON_MASTER}, why(result, "removed jobs", removed)
    for key, row in before.schedule.items():
        if row["event_id"] in removed:
            assert key not in after.schedule, why(result, "removed job's row still live", key)
            assert after.archive.get(key) == row, why(result, "removed job's row not archived", key, row)
        else:
            assert after.schedule.get(key) == row, why(result, "row not live unchanged", key, row)
    for key, row in before.info.items():
        home = after.info if (row["schedule_id"],) in after.schedule else after.info_archive
        assert home.get(key) == row, why(result, "detail row misplaced", key, row)
    x = result["xcom"]
    archived = len(history_of(before, removed))
    assert x["restore_history"]["job_gone_rows"] == archived, why(result, x["restore_history"])
    assert x["verify_history"]["archived_rows"] == archived, why(result, x["verify_history"])
    assert x["verify_history"]["lost_rows"] == 0, why(result, x["verify_history"])


def test_identity_backup_gone_and_identity_kept(identity_estate, identity_night):
    assert_run_tables_gone(identity_night)
    assert is_identity(identity_estate.lab, SLAVE, "event_schedule", "schedule_id"), why(identity_night["result"])
    assert run_files_left(identity_estate.lab) == {}, why(identity_night["result"])


def test_identity_second_run_changes_nothing(identity_estate, identity_night):
    run = run_and_audit(identity_estate)
    result, before, after = run["result"], run["before"], run["after"]
    assert_succeeded(result)
    assert after.schedule == before.schedule and after.info == before.info, why(result, account(before, after))
    assert after.archive == before.archive and after.info_archive == before.info_archive, why(result)
    assert run["jobs_after"] == run["jobs_before"], why(result)
    assert result["xcom"]["restore_history"]["changed_jobs"] == 0, why(result, result["xcom"]["restore_history"])
    assert result["xcom"]["verify_history"]["archived_rows"] == 0, why(result, result["xcom"]["verify_history"])
    assert_run_tables_gone(run)
