"""The approval gate (issue 20) answered in Airflow's own UI, as an operator does it: a night
waits at `approve_changes`; the operator signs in, finds the question in "Required Actions"
(Browse menu) or on the task instance, reads the list of jobs, and clicks Approve or Reject.

One lab (master, slave1) and one `make ui` for the module, `approval: on_local_changes`.
In order: the first night asks about the seed's job the master lacks and is approved from
the Required Actions list (imported, no history lost); a job edited on the slave is asked
about and rejected on the task instance's panel (nothing changes on the slave); the same
edit asked again and approved (the master's job replaces the edit, no history lost); then
the replication page's job archives roll the slave back to before that night (the edit is
back, no history lost; the run's page calls it a rollback).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from tests.airflow_server import RUN_TIMEOUT
from tests.browser.conftest import AirflowUi
from tests.history_audit import account, snapshot
from tests.labctl import Lab
from tests.ui import SETTINGS

pytestmark = pytest.mark.timeout(1800)

SLAVE = "slave1"
DAG = f"replicate_{SLAVE}"
NOT_ON_MASTER = "[I] Adobe FlashPlayer v9.0.124 Install"  # the seed's slave has it, the master not
EDITED_JOB = (2020544, "[I] Adobe Shockwave Player 11.0r429")  # in Global, on master and slave alike
EDITED = "edited on the slave since the last import: the master's version replaces it"
IMPORT_STEPS = ("backup_history", "import_jobs", "restore_history", "verify_history")


@pytest.fixture(scope="module")
def airflow_ui():
    """`make ui` on a lab of its own whose estate asks before importing over local changes."""
    root = Path(tempfile.mkdtemp(prefix="ds-browser-approval-"))
    lab = Lab(root / "lab")
    try:
        lab.up(slaves=1)
        estate = yaml.safe_load(lab.config_path.read_text())
        estate["defaults"].update(SETTINGS, schedule=None, approval="on_local_changes")
        estate_path = root / "replication.yaml"
        estate_path.write_text(yaml.safe_dump(estate, sort_keys=False))
        ui = AirflowUi(root, ("--lab", str(lab.dir), "--estate", str(estate_path)))
    except BaseException:
        with contextlib.suppress(Exception):
            lab.down()
        shutil.rmtree(root, ignore_errors=True)
        raise
    yield ui
    lab_pids = set(_lab_pids(lab))
    try:
        left = [pid for pid in ui.stop() if pid not in lab_pids]  # the launcher leaves a lab it was given
    finally:
        lab.down()
        shutil.rmtree(root, ignore_errors=True)
    assert not left, f"processes left running by `make ui`: {left}"


def _lab_pids(lab: Lab) -> list[int]:
    info = lab.info
    return [info["smtp_pid"], *[h[k] for h in info["hosts"].values() for k in ("pid", "smbd_pid") if h.get(k)]]


def trigger(ui: AirflowUi, run_id: str) -> None:
    ui.api("POST", f"/api/v2/dags/{DAG}/dagRuns", {"dag_run_id": run_id, "logical_date": None})


def wait_for_question(ui: AirflowUi, run_id: str, timeout: float = 600) -> int:
    """Until approve_changes waits for an answer (the run ending first is a failure) and the
    scheduler has handled the end of the asking process; the try that asks.

    A person answers seconds after the question at the soonest. An answer before the scheduler
    has handled that end meets Airflow 3.3's race (docs/change-control.md): the resumed try is
    failed as killed externally, retried, and asks again."""
    deadline = time.monotonic() + timeout
    path = f"/api/v2/dags/{DAG}/dagRuns/{quote(run_id, safe='')}"
    while time.monotonic() < deadline:
        ti = ui.api("GET", f"{path}/taskInstances/approve_changes")
        if ti["state"] == "awaiting_input":
            ui.wait_worker_reported(DAG, run_id, "approve_changes", ti["try_number"])
            return ti["try_number"]
        if ui.api("GET", path)["state"] in ("success", "failed"):
            raise AssertionError(f"{run_id} ended without asking\n{ui.describe(DAG, run_id)}")
        time.sleep(2)
    raise AssertionError(f"{run_id}: no question within {timeout} s\n{ui.describe(DAG, run_id)}")


def outcome(ui: AirflowUi, run_id: str, asked_try: int | None = None) -> dict:
    """The finished run's state, task states and approve_changes' return value. With `asked_try`
    (the try that asked), the answer must have been taken by that try: a later try (Airflow
    asking again) fails the test at once."""
    path = f"/api/v2/dags/{DAG}/dagRuns/{quote(run_id, safe='')}"
    deadline = time.monotonic() + RUN_TIMEOUT
    while ui.api("GET", path)["state"] not in ("success", "failed"):
        if asked_try is not None:
            ti = ui.api("GET", f"{path}/taskInstances/approve_changes")
            assert ti["try_number"] == asked_try, f"{run_id}: asked again after the answer\n{ui.describe(DAG, run_id)}"
        assert time.monotonic() < deadline, f"{run_id} not finished\n{ui.describe(DAG, run_id)}"
        time.sleep(2)
    run = ui.api("GET", path)
    tis = ui.api("GET", f"{path}/taskInstances")["task_instances"]
    tasks = {ti["task_id"]: ti["state"] for ti in tis}
    tries = {ti["task_id"]: ti["try_number"] for ti in tis}
    answer_value = ui.api("GET", f"{path}/taskInstances/approve_changes/xcomEntries/return_value")["value"]
    why = ui.describe(DAG, run_id)
    if asked_try is not None:
        assert tries["approve_changes"] == asked_try, f"{run_id}: asked again after the answer\n{why}"
    return {"state": run["state"], "tasks": tasks, "answer": answer_value, "why": why}


def jobs(lab: Lab) -> list[dict]:
    return lab.sql(
        SLAVE,
        "SELECT e.event_id, e.name, t.package, t.arguments FROM event e "
        "LEFT JOIN install_task t ON t.event_id = e.event_id ORDER BY e.event_id",
    )


def job_rows(page) -> list[str]:
    """The question's table as the panel shows it: one 'job, folder, what differs' line per job."""
    page.get_by_role("button", name="Approve").wait_for()
    return [row.replace("\t", " | ") for row in page.get_by_role("row").all_inner_texts()]


def answer(page, button: str) -> dict:
    """Click Approve or Reject; what Airflow recorded."""
    with page.expect_response(lambda r: r.request.method == "PATCH" and "/hitlDetails" in r.url) as response:
        page.get_by_role("button", name=button, exact=True).click()
    assert response.value.ok, response.value.text()
    page.get_by_text("Response received at").wait_for()  # the panel now shows the answer, not the buttons
    return response.value.json()


def test_1_the_first_night_is_approved_from_the_required_actions_list(page, airflow_ui, screenshot):
    lab = airflow_ui.lab
    before = snapshot(lab, SLAVE)
    trigger(airflow_ui, "approve_ui_1")
    asked_try = wait_for_question(airflow_ui, "approve_ui_1")

    page.goto(f"{airflow_ui.url}/dags")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Required Actions").click()
    row = page.get_by_role("row").filter(has_text="approve_ui_1")
    row.get_by_text("Approval Required").wait_for()
    screenshot(page, "01-required-actions")
    row.get_by_role("link", name=f"Import the master's jobs over the changes made on slave {SLAVE}?").click()
    page.wait_for_url("**/runs/approve_ui_1/tasks/approve_changes/required_actions")
    rows = job_rows(page)
    assert rows[0] == "job | folder | what differs", rows
    assert f"{NOT_ON_MASTER} | Global | not on the master: the import removes it (kept in the job archive)" in rows
    screenshot(page, "02-question")
    assert answer(page, "Approve")["chosen_options"] == ["Approve"]
    screenshot(page, "03-approved")

    result = outcome(airflow_ui, "approve_ui_1", asked_try)
    assert result["state"] == "success", result["why"]
    assert {result["tasks"][t] for t in IMPORT_STEPS} == {"success"}, result["why"]
    assert result["answer"]["approved"] is True and result["answer"]["answered_by"] == airflow_ui.user, result
    assert NOT_ON_MASTER not in {j["name"] for j in jobs(lab)}  # imported: the master's jobs
    books = account(before, snapshot(lab, SLAVE))
    assert books.lost == books.detail_lost == 0, books  # every history row is live or archived


def test_2_a_job_edited_on_the_slave_is_rejected_on_the_task_panel(page, airflow_ui, screenshot):
    lab = airflow_ui.lab
    event_id, name = EDITED_JOB
    lab.sql(SLAVE, f"UPDATE install_task SET arguments = '/silent /site-edit' WHERE event_id = {event_id}")
    before_jobs, before = jobs(lab), snapshot(lab, SLAVE)
    trigger(airflow_ui, "reject_ui_2")
    asked_try = wait_for_question(airflow_ui, "reject_ui_2")

    page.goto(f"{airflow_ui.url}/dags/{DAG}/runs/reject_ui_2/tasks/approve_changes")
    page.get_by_text("Awaiting Input").first.wait_for()
    page.get_by_text("Required Action (1)", exact=True).click()  # the task's tab, counting the question
    rows = job_rows(page)
    assert rows[1:] == [f"{name} | Global | {EDITED}"], rows
    screenshot(page, "04-edited-job-asked")
    assert answer(page, "Reject")["chosen_options"] == ["Reject"]
    screenshot(page, "05-rejected")

    result = outcome(airflow_ui, "reject_ui_2", asked_try)
    assert result["state"] == "success", result["why"]
    assert {result["tasks"][t] for t in IMPORT_STEPS} == {"skipped"}, result["why"]
    assert result["tasks"]["cleanup"] == "success", result["why"]
    assert result["answer"]["approved"] is False and result["answer"]["timed_out"] is False, result
    after = snapshot(lab, SLAVE)
    assert jobs(lab) == before_jobs  # the slave's edit is still there
    assert (after.schedule, after.info, after.archive, after.info_archive) == (
        before.schedule,
        before.info,
        before.archive,
        before.info_archive,
    )
    assert not after.backup  # no backup was taken


def test_3_the_same_edit_approved_is_replaced_by_the_masters_job(page, airflow_ui, screenshot):
    lab = airflow_ui.lab
    event_id, name = EDITED_JOB
    before = snapshot(lab, SLAVE)
    trigger(airflow_ui, "approve_ui_3")
    asked_try = wait_for_question(airflow_ui, "approve_ui_3")

    page.goto(f"{airflow_ui.url}/required_actions")
    row = page.get_by_role("row").filter(has_text="approve_ui_3")
    row.get_by_text("Approval Required").wait_for()
    # the rejected question is listed as answered, this one as waiting
    answered = page.get_by_role("row").filter(has_text="reject_ui_2")
    assert answered.get_by_text("Rejection Received").is_visible()
    screenshot(page, "06-required-actions-history")
    row.get_by_role("link", name="approve_changes").click()
    page.wait_for_url("**/runs/approve_ui_3/tasks/approve_changes/required_actions")
    assert job_rows(page)[1:] == [f"{name} | Global | {EDITED}"]
    answer(page, "Approve")

    result = outcome(airflow_ui, "approve_ui_3", asked_try)
    assert result["state"] == "success", result["why"]
    assert {result["tasks"][t] for t in IMPORT_STEPS} == {"success"}, result["why"]
    master = lab.sql("master", f"SELECT arguments FROM install_task WHERE event_id = {event_id}")
    slave = lab.sql(SLAVE, f"SELECT arguments FROM install_task WHERE event_id = {event_id}")
    assert slave == master and slave != [{"arguments": "/silent /site-edit"}], (slave, master)
    books = account(before, snapshot(lab, SLAVE))
    assert books.lost == books.detail_lost == 0 and books.live == books.before, books


def test_4_the_replication_page_rolls_back_to_the_jobs_before_a_night(page, airflow_ui, screenshot):
    """The rollback's pick list: the page lists the runs that kept a job archive; its button
    triggers a run with rollback_to set, which brings back the slave's edit of before approve_ui_3."""
    lab = airflow_ui.lab
    event_id, _ = EDITED_JOB
    before = snapshot(lab, SLAVE)
    page.goto(f"{airflow_ui.url}/ds-replication/")
    section = page.locator(f'section[data-slave="{SLAVE}"]')
    section.get_by_role("heading", name="Job archives").wait_for()
    listed = section.locator("li[data-archive]")
    # newest first; the rejected night imported nothing, so kept no archive
    assert [listed.nth(n).get_attribute("data-archive") for n in range(listed.count())] == [
        "approve_ui_3",
        "approve_ui_1",
    ]
    item = section.locator('li[data-archive="approve_ui_3"]')
    assert "Global: " in item.inner_text()
    screenshot(page, "07-job-archives")
    runs = airflow_ui.api("GET", f"/api/v2/dags/{DAG}/dagRuns")["total_entries"]
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    item.get_by_role("button", name="Roll back to these jobs").click()  # Cancel: nothing is triggered
    page.wait_for_timeout(1000)
    assert asked == [f"Replace the jobs of slave {SLAVE} with those it had before run approve_ui_3?"]
    assert item.locator(".outcome").inner_text() == ""
    assert airflow_ui.api("GET", f"/api/v2/dags/{DAG}/dagRuns")["total_entries"] == runs
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/dagRuns")) as posted:
        item.get_by_role("button", name="Roll back to these jobs").click()
    assert posted.value.ok, posted.value.text()
    run_id = posted.value.json()["dag_run_id"]
    item.get_by_text(f"run {run_id} queued").wait_for()
    assert posted.value.json()["conf"]["rollback_to"] == "approve_ui_3"

    result = outcome(airflow_ui, run_id)
    assert result["state"] == "success", result["why"]
    assert result["answer"]["asked"] is False, result  # whoever triggered a rollback chose it
    # the run's page says it was a rollback, and to which run's jobs
    page.goto(f"{airflow_ui.url}/ds-replication/runs/{DAG}/{quote(run_id, safe='')}")
    said = page.locator('[data-rollback="approve_ui_3"]')
    said.wait_for()
    assert "A rollback: this run imported the slave's own jobs as run approve_ui_3 kept them" in said.inner_text()
    screenshot(page, "08-rollback-run")
    slave = lab.sql(SLAVE, f"SELECT arguments FROM install_task WHERE event_id = {event_id}")
    assert slave == [{"arguments": "/silent /site-edit"}], slave  # the slave's edit is back
    books = account(before, snapshot(lab, SLAVE))
    assert books.lost == books.detail_lost == 0, books
