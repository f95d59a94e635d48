"""The replication page as an administrator opens it in the Airflow UI, in a real browser:
Browse -> DS replication shows the slave's last run with the figures of its task XComs, and the
run's page offers "What this run did". (The figures against the lab's tables, a failed night and
the 401 of an unsigned request: tests/e2e/test_page.py, over HTTP.)"""

from __future__ import annotations

import pytest

from tests.browser.test_trigger_form import as_json

pytestmark = pytest.mark.timeout(1800)

RUN_ID = "page_full_night"


@pytest.fixture(scope="module")
def full_night(airflow_ui):
    """A full run of the first slave, triggered over REST; its task XComs."""
    dag_id = airflow_ui.dag_ids[0]
    airflow_ui.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    airflow_ui.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": RUN_ID, "logical_date": None})
    run = airflow_ui.wait_run(dag_id, RUN_ID)
    assert run["state"] == "success", airflow_ui.describe(dag_id, RUN_ID)
    base = f"/api/v2/dags/{dag_id}/dagRuns/{RUN_ID}/taskInstances"
    return dag_id, {
        task: as_json(airflow_ui.api("GET", f"{base}/{task}/xcomEntries/return_value")["value"])
        for task in ("wait_for_import", "backup_history", "restore_history", "verify_history")
    }


def shown(frame, slave: str) -> dict[str, str]:
    row = frame.locator(f'tr[data-slave="{slave}"]')
    row.wait_for()
    cells = row.locator("[data-figure][data-value]")
    return {cells.nth(n).get_attribute("data-figure"): cells.nth(n).inner_text() for n in range(cells.count())}


def test_the_page_in_the_ui_shows_the_runs_figures(page, airflow_ui, full_night, screenshot):
    dag_id, x = full_night
    slave = dag_id.removeprefix("replicate_")
    page.goto(f"{airflow_ui.url}/dags")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="DS replication").click()
    frame = page.frame_locator("iframe")
    figures = shown(frame, slave)
    assert figures == {
        "jobs_imported": str(sum(x["wait_for_import"]["slave_jobs"].values())),
        "backed_up": str(x["backup_history"]["backed_up_rows"]),
        "restored": str(x["restore_history"]["restored_rows"]),
        "archived": str(x["verify_history"]["archived_rows"]),
        "lost": "0",
        "held_now": "0",
        "changed_jobs": str(x["restore_history"]["changed_jobs"]),
        "alerts": "0",
    }
    assert frame.locator(f'tr[data-slave="{slave}"] a[data-figure="run_id"]').inner_text() == RUN_ID
    assert frame.locator(f'tr[data-slave="{slave}"] svg.nights rect').count() >= 1
    screenshot(page, "01-replication-page")


def test_the_run_page_offers_what_this_run_did(page, airflow_ui, full_night, screenshot):
    dag_id, x = full_night
    page.goto(f"{airflow_ui.url}/dags/{dag_id}/runs/{RUN_ID}")
    page.get_by_text("What this run did").first.click()
    frame = page.frame_locator("iframe")
    frame.locator("#figures").wait_for()
    backed_up = frame.locator('#figures [data-figure="backed_up"]').inner_text()
    assert backed_up == str(x["backup_history"]["backed_up_rows"])
    assert frame.locator('[data-figure="run_id"]').inner_text() == RUN_ID
    screenshot(page, "02-what-this-run-did")


# restore_history's first INSERT into the live table fails on both tries (retries=1): a failed night
RESTORE_FAULT = ("sql_drop_before_commit", "INSERT INTO [dbo].[event_schedule] (")
BACKUP = "ds_replication_event_schedule_backup"


def test_after_a_failed_night_the_page_shows_the_rows_held(page, airflow_ui, full_night, screenshot):
    dag_id, _ = full_night
    slave, run_id = dag_id.removeprefix("replicate_"), "page_failed_night"
    fault, match = RESTORE_FAULT
    airflow_ui.lab.fault(slave, fault, times=2, match=match)
    airflow_ui.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None})
    run = airflow_ui.wait_run(dag_id, run_id)
    assert run["state"] == "failed", airflow_ui.describe(dag_id, run_id)
    held = airflow_ui.lab.scalar(slave, f"SELECT COUNT(*) AS n FROM {BACKUP}")
    assert held > 0
    page.goto(f"{airflow_ui.url}/dags")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="DS replication").click()
    frame = page.frame_locator("iframe")
    figures = shown(frame, slave)
    assert (figures["held_now"], figures["alerts"]) == (str(held), "1"), figures
    assert frame.locator(f'tr[data-slave="{slave}"] a[data-figure="run_id"]').inner_text() == run_id
    screenshot(page, "03-after-a-failed-night")
