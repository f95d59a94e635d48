"""The approval gate (issue 20) under a real Airflow scheduler, answered through Airflow's HITL
REST API (what the "Required actions" page calls).

One lab (master, slave1, slave2) and one Airflow (api-server, scheduler, dag-processor;
LocalExecutor) for the module, `approval: on_local_changes`. In order, on slave1: the first
night asks (the seed's slave has a job the master lacks) and is approved; the next night has no
local change and asks nothing; a job edited on the slave is asked about and rejected (nothing
imported, nothing changed; the run's page says so); with the edit undone and the slave's own
`approval: always` in the estate file, a night with no local change asks all the same; with a
new edit, a dry run and a rollback ask nothing (the rollback's page says it was one). On
slave2, whose timeout is short: its first night's question left unanswered times out like a
reject, with a mail; that night starts with the module and waits out its timeout beside slave1's
nights (test_4 reads its end). On Airflow 3.3 a waiting task is `awaiting_input` (no
triggerer): the scheduler's sweep ends the wait.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

from tests.e2e.conftest import SchedulerEstate, scheduler_estate
from tests.history_audit import account, snapshot
from tests.labctl import Lab

SLAVE = "slave1"
# slave1's questions are answered: long enough for a loaded machine to answer
APPROVAL_TIMEOUT_MINUTES = 1.5
# slave2's question is left unanswered (test_4), so its timeout is what that test waits out
UNANSWERED, UNANSWERED_TIMEOUT_MINUTES = "slave2", 0.5
EDITED_JOB = (2020544, "[I] Adobe Shockwave Player 11.0r429")  # in Global, on master and slave alike


def short_timeout_for_the_unanswered(config: dict) -> None:
    (slave,) = [s for s in config["slaves"] if s["name"] == UNANSWERED]
    slave["approval_timeout_minutes"] = UNANSWERED_TIMEOUT_MINUTES


class ApprovalEstate(SchedulerEstate):
    def __init__(self, root: Path) -> None:
        super().__init__(
            root,
            slaves=2,
            defaults={"approval": "on_local_changes", "approval_timeout_minutes": APPROVAL_TIMEOUT_MINUTES},
            configure=short_timeout_for_the_unanswered,
            # the scheduler's sweep that ends a wait past its timeout, every 3 s
            extra_env={"AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "3"},
            sign_in=True,
        )
        self.dag_of: dict[str, str] = {}

    def trigger(self, run_id: str, slave: str = SLAVE, conf: dict | None = None) -> None:
        self.dag_of[run_id] = f"replicate_{slave}"
        extra = ("--conf", json.dumps(conf)) if conf else ()
        self.airflow.cli("dags", "trigger", self.dag_of[run_id], "--run-id", run_id, *extra)

    def _path(self, run_id: str, task_id: str) -> str:
        return f"/api/v2/dags/{self.dag_of[run_id]}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"

    def question(self, run_id: str, timeout: float = 300) -> dict:
        """The approve_changes question once the task waits for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.airflow.check_alive()
            state = self.airflow.task_instances(run_id).get("approve_changes")
            if state is not None and state["state"] == "awaiting_input":
                # a person answers seconds later at the soonest; an answer before Airflow has handled
                # the end of the asking process meets Airflow's race (docs/change-control.md)
                self.airflow.wait_worker_reported(self.dag_of[run_id], run_id, "approve_changes")
                return self.airflow.rest("GET", self._path(run_id, "approve_changes") + "/-1/hitlDetails", self.token)
            if self.airflow.runs([run_id]).get(run_id, {"state": None})["state"] in ("success", "failed"):
                raise AssertionError(f"run ended without asking\n{self.airflow.describe([run_id])}")
            time.sleep(1)
        raise AssertionError(f"no question within {timeout}s\n{self.airflow.describe([run_id])}")

    def answer(self, run_id: str, option: str) -> None:
        body = {"chosen_options": [option], "params_input": {}}
        self.airflow.rest("PATCH", self._path(run_id, "approve_changes") + "/-1/hitlDetails", self.token, body)

    def run_page(self, run_id: str) -> str:
        """The replication page's view of the run ("What this run did")."""
        url = f"{self.base}/ds-replication/runs/{self.dag_of[run_id]}/{quote(run_id, safe='')}"
        response = httpx.get(url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)
        response.raise_for_status()
        return response.text

    def finish(self, run_id: str) -> dict:
        """The run's state, task states and the return values of approve_changes and cleanup."""
        run = self.airflow.wait_finished([run_id])[run_id]
        tasks = {t: row["state"] for t, row in self.airflow.task_instances(run_id).items()}
        xcom = {}
        for task_id in ("approve_changes", "verify_history"):
            with contextlib.suppress(httpx.HTTPStatusError):
                path = self._path(run_id, task_id) + "/xcomEntries/return_value"
                xcom[task_id] = self.airflow.rest("GET", path, self.token)["value"]
        return {"state": run["state"], "tasks": tasks, "xcom": xcom, "why": self.airflow.describe([run_id])}


@pytest.fixture(scope="module")
def gate(request):
    gate = scheduler_estate(request, ApprovalEstate)
    # test_4's night waits out its timeout: it runs beside slave1's nights, not after them
    gate.unanswered_before = {"jobs": jobs(gate.lab, UNANSWERED), "mails": len(gate.lab.mail())}
    gate.trigger("timeout_4", UNANSWERED)
    return gate


IMPORT_STEPS = (
    "backup_history",
    "wait_for_backup",
    "import_jobs",
    "wait_for_import",
    "restore_history",
    "verify_history",
)


def jobs(lab: Lab, slave: str = SLAVE) -> list[dict]:
    return lab.sql(
        slave,
        "SELECT e.event_id, e.name, t.package, t.arguments FROM event e "
        "LEFT JOIN install_task t ON t.event_id = e.event_id ORDER BY e.event_id",
    )


def test_1_a_job_the_master_lacks_is_asked_about_and_approve_imports(gate):
    gate.trigger("approve_1")
    question = gate.question("approve_1")
    assert question["options"] == ["Approve", "Reject"] and question["defaults"] == ["Reject"], question
    # the seed's slave has this job, the master not: the import would remove it
    assert "| [I] Adobe FlashPlayer v9.0.124 Install | Global | not on the master" in question["body"], question
    gate.answer("approve_1", "Approve")
    result = gate.finish("approve_1")
    assert result["state"] == "success", result["why"]
    assert {result["tasks"][t] for t in IMPORT_STEPS} == {"success"}, result["why"]
    assert result["xcom"]["approve_changes"]["approved"] is True, result
    assert result["xcom"]["verify_history"]["recorded_jobs"] > 0, result
    names = {j["name"] for j in jobs(gate.lab)}
    assert "[I] Adobe FlashPlayer v9.0.124 Install" not in names


def test_2_no_local_change_asks_nothing(gate):
    gate.trigger("approve_2")
    result = gate.finish("approve_2")
    assert result["state"] == "success", result["why"]
    assert result["xcom"]["approve_changes"] == {
        "asked": False,
        "why": "no job was changed on the slave",
        "local_changes": [],
    }, result
    assert {result["tasks"][t] for t in IMPORT_STEPS} == {"success"}, result["why"]


def test_3_a_job_edited_on_the_slave_is_asked_about_and_reject_changes_nothing(gate):
    event_id, name = EDITED_JOB
    gate.lab.sql(SLAVE, f"UPDATE install_task SET arguments = '/silent /site-edit' WHERE event_id = {event_id}")
    before_jobs, before = jobs(gate.lab), snapshot(gate.lab, SLAVE)
    gate.trigger("reject_3")
    question = gate.question("reject_3")
    assert f"| {name} | Global | edited on the slave since the last import" in question["body"], question
    assert question["body"].count("\n| ") == 2, question["body"]  # the header and this one job
    gate.answer("reject_3", "Reject")
    result = gate.finish("reject_3")
    assert result["state"] == "success", result["why"]
    assert {result["tasks"][t] for t in IMPORT_STEPS} == {"skipped"}, result["why"]
    assert result["tasks"]["cleanup"] == "success", result["why"]
    assert result["xcom"]["approve_changes"]["approved"] is False, result
    after = snapshot(gate.lab, SLAVE)
    assert jobs(gate.lab) == before_jobs  # the slave's edit is still there
    assert (after.schedule, after.info, after.archive, after.tables) == (
        before.schedule,
        before.info,
        before.archive,
        before.tables,
    )
    assert not after.backup  # no backup was taken
    page = gate.run_page("reject_3")
    assert '<p data-approval="rejected">rejected by admin: nothing imported, nothing changed on the slave</p>' in page
    assert f"Global\\{name}: edited on the slave since the last import" in page


def test_4_no_answer_in_time_ends_like_a_reject_with_a_mail(gate):
    # slave2, whose question times out after UNANSWERED_TIMEOUT_MINUTES: its first night (started
    # by `gate`) asks (the seed's slave has a job the master lacks) and nobody answers
    result = gate.finish("timeout_4")
    assert result["state"] == "success", result["why"]
    assert {result["tasks"][t] for t in IMPORT_STEPS} == {"skipped"}, result["why"]
    outcome = result["xcom"]["approve_changes"]
    assert outcome["asked"] is True, result
    assert outcome["approved"] is False and outcome["timed_out"] is True, result
    assert jobs(gate.lab, UNANSWERED) == gate.unanswered_before["jobs"]
    new = gate.lab.mail()[gate.unanswered_before["mails"] :]
    assert any("no approval in time, nothing imported" in m["subject"] and UNANSWERED in m["subject"] for m in new), new
    page = gate.run_page("timeout_4")
    assert "not answered in time: nothing imported, nothing changed on the slave" in page, page


def test_5_the_slaves_own_approval_always_asks_with_no_local_change(gate):
    event_id, _ = EDITED_JOB
    # undo test_3's edit: the slave's jobs are again as the last import left them
    (master,) = gate.lab.sql("master", f"SELECT arguments FROM install_task WHERE event_id = {event_id}")
    assert master["arguments"] is None, master  # the seed's install tasks have no arguments
    gate.lab.sql(SLAVE, f"UPDATE install_task SET arguments = NULL WHERE event_id = {event_id}")
    # slave1's own `approval: always` over the defaults' on_local_changes; each task process
    # parses the DAG file, so the next run's approve_changes reads it
    estate = gate.config_path.read_text()
    config = yaml.safe_load(estate)
    (slave,) = [s for s in config["slaves"] if s["name"] == SLAVE]
    slave["approval"] = "always"
    write_atomically(gate.config_path, yaml.safe_dump(config, sort_keys=False))
    try:
        before = snapshot(gate.lab, SLAVE)
        gate.trigger("always_5")
        question = gate.question("always_5")
        assert question["body"] == (
            f"No job of slave `{SLAVE}` was edited there since the last import (approval: always)."
        ), question
        gate.answer("always_5", "Approve")
        result = gate.finish("always_5")
    finally:
        write_atomically(gate.config_path, estate)
    assert result["state"] == "success", result["why"]
    assert {result["tasks"][t] for t in IMPORT_STEPS} == {"success"}, result["why"]
    outcome = result["xcom"]["approve_changes"]
    assert (outcome["asked"], outcome["approved"], outcome["local_changes"]) == (True, True, []), result
    books = account(before, snapshot(gate.lab, SLAVE))
    assert books.lost == books.detail_lost == 0, books
    # the run's page: the question approved, and what the retention kept (the job archives of
    # approve_1, approve_2 and this run; reject_3 imported nothing, so kept none)
    page = gate.run_page("always_5")
    assert '<p data-approval="approved">approved by admin: imported</p>' in page, page
    assert '<p data-retention="kept">Job archives kept: 3 (' in page and "; removed: 0." in page, page


def test_6_a_dry_run_and_a_rollback_ask_nothing_though_the_slave_has_an_edit(gate):
    """approval: on_local_changes and a job edited on the slave, which a night would ask about: a
    dry run imports nothing, and a rollback was chosen by whoever triggered it."""
    event_id, _ = EDITED_JOB
    gate.lab.sql(SLAVE, f"UPDATE install_task SET arguments = '/silent /site-edit-6' WHERE event_id = {event_id}")
    before = snapshot(gate.lab, SLAVE)
    gate.trigger("dry_6", conf={"dry_run": True})
    gate.trigger("rollback_6", conf={"rollback_to": "approve_2"})  # max_active_runs=1: after the dry run
    dry, rollback = gate.finish("dry_6"), gate.finish("rollback_6")
    assert dry["state"] == "success", dry["why"]
    assert dry["xcom"]["approve_changes"] == {"asked": False, "why": "dry run: nothing is imported"}, dry
    assert rollback["state"] == "success", rollback["why"]
    assert rollback["xcom"]["approve_changes"] == {
        "asked": False,
        "why": "a rollback: chosen by whoever triggered the run",
    }, rollback
    assert {rollback["tasks"][t] for t in IMPORT_STEPS} == {"success"}, rollback["why"]
    # approve_2's archive: the job as the first night's import left it, without the edit
    (job,) = gate.lab.sql(SLAVE, f"SELECT arguments FROM install_task WHERE event_id = {event_id}")
    assert job["arguments"] is None, job
    books = account(before, snapshot(gate.lab, SLAVE))
    assert books.lost == books.detail_lost == 0, books
    assert 'data-rollback="approve_2"' in gate.run_page("rollback_6")


def write_atomically(path: Path, text: str) -> None:
    """The DAG processor may parse the estate file at any moment: it never sees half of it."""
    part = path.with_suffix(".part")
    part.write_text(text)
    part.replace(path)
