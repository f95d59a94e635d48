"""approve_changes in the fault matrix (issue 20): its SQL read on the slave (the record of the
last import's jobs) fails on both tries. The step comes before anything changes on the slave,
so the night fails there with nothing imported, no backup taken and no history row touched;
the next night, the fault gone, asks nothing (no job changed on the slave) and imports.

The matrix's estate runs with `approval: never`; here the first night does too (it brings the
slave in line with the master and records its jobs), then the estate file says
`on_local_changes`: each night parses the DAG file anew (tests.e2e.conftest.Estate).
"""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.conftest import _estate
from tests.history_audit import account, snapshot
from tests.lab import faults

SLAVE = "slave1"
# the read of the record (include/sql/imported_jobs.sql); verify_history's rewrite of it also
# names the table, but a night failing at approve_changes never reaches it
RECORD_READ = "FROM [dbo].[ds_replication_imported_job]"
CHANGING_STEPS = ("backup_history", "import_jobs", "restore_history", "verify_history")


@pytest.fixture(scope="module")
def fault_estate(request):
    return _estate(request, slaves=1, identity=False)


def set_approval(estate, approval: str) -> None:
    config = yaml.safe_load(estate.config_path.read_text())
    config["defaults"]["approval"] = approval
    estate.config_path.write_text(yaml.safe_dump(config, sort_keys=False))


def jobs(lab) -> list[dict]:
    return lab.sql(
        SLAVE,
        "SELECT e.event_id, e.name, t.package, t.arguments FROM event e "
        "LEFT JOIN install_task t ON t.event_id = e.event_id ORDER BY e.event_id",
    )


def test_a_failed_read_in_approve_changes_changes_nothing_and_the_next_night_recovers(fault_estate):
    lab = fault_estate.lab
    first = fault_estate.run(SLAVE)
    assert first["state"] == "success", (first["tasks"], first["log"][-5000:])
    # `approval: never` asks nothing, though the seed's slave has jobs the master lacks (the
    # import removes them): on_local_changes would have asked (tests/e2e/test_approval.py)
    assert first["xcom"]["approve_changes"] == {"asked": False, "why": "approval: never"}, first["xcom"]
    assert {first["tasks"][t]["state"] for t in CHANGING_STEPS} == {"success"}, first["tasks"]
    set_approval(fault_estate, "on_local_changes")
    before, before_jobs = snapshot(lab, SLAVE), jobs(lab)

    lab.fault(SLAVE, "sql_drop", times=2, match=RECORD_READ)  # retries=1: both tries fail
    try:
        failed = fault_estate.run(SLAVE)
    finally:
        unfired = faults.armed(lab.dir, SLAVE)
        faults.clear(lab.dir, SLAVE)
    states = {t: s["state"] for t, s in failed["tasks"].items()}
    assert unfired == [], unfired
    assert failed["state"] == "failed" and states["approve_changes"] == "failed", states
    assert failed["tasks"]["approve_changes"]["try_number"] == 2, states
    assert {states[t] for t in CHANGING_STEPS} == {"upstream_failed"}, states
    assert states["cleanup"] == "success", states
    during = snapshot(lab, SLAVE)
    assert jobs(lab) == before_jobs
    assert (during.schedule, during.info, during.archive, during.info_archive) == (
        before.schedule,
        before.info,
        before.archive,
        before.info_archive,
    )
    assert not during.backup and "ds_replication_event_schedule_backup" not in during.tables

    recovery = fault_estate.run(SLAVE)
    assert recovery["state"] == "success", (recovery["tasks"], recovery["log"][-5000:])
    assert {recovery["tasks"][t]["state"] for t in CHANGING_STEPS} == {"success"}, recovery["tasks"]
    assert recovery["xcom"]["approve_changes"]["asked"] is False, recovery["xcom"]["approve_changes"]
    after = snapshot(lab, SLAVE)
    books = account(before, after)
    assert books.lost == books.detail_lost == books.held == 0, books
    assert "ds_replication_event_schedule_backup" not in after.tables
