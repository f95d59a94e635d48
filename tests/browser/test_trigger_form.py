"""`make ui` as an administrator meets it, in a real browser: sign in, the paused DAGs, the
trigger form (folders picked from the config, a dry run), the run it starts against the lab,
how the grid shows a dry run; and that Ctrl-C leaves nothing running."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.timeout(1800)

FOLDERS = ["Global", "Drivers"]  # the lab's estate (tests/lab/control.py)


def as_json(value):
    """An XCom entry's value as the REST API gives it (JSON text, or already decoded)."""
    return json.loads(value) if isinstance(value, str) else value


def open_trigger_form(page, ui, dag_id: str):
    page.goto(f"{ui.url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Folders to replicate").wait_for()
    return dialog


def folders_input(page):
    return page.locator("#element_folders input[role=combobox]")


def trigger(page, dialog) -> dict:
    """Click the form's Trigger button; the run the API created."""
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/dagRuns")) as response:
        dialog.get_by_role("button", name="Trigger").last.click()
    assert response.value.ok, response.value.text()
    return response.value.json()


def test_sign_in_shows_one_paused_dag_per_slave(browser, airflow_ui, screenshot):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        sign_in(page, airflow_ui)
        page.goto(f"{airflow_ui.url}/dags")
        for dag_id in [*airflow_ui.dag_ids, "survey_estate"]:
            page.get_by_role("link", name=dag_id, exact=True).wait_for()
        switches = page.get_by_role("checkbox")  # each DAG's pause switch: the slaves' and the survey's
        assert switches.count() == len(airflow_ui.dag_ids) + 1 == 3
        assert [switches.nth(n).is_checked() for n in range(switches.count())] == [False, False, False]
        screenshot(page, "01-dag-list-paused")
    finally:
        context.close()
    dags = airflow_ui.api("GET", "/api/v2/dags?tags=ds-replication")["dags"]
    assert {d["dag_id"]: d["is_paused"] for d in dags} == dict.fromkeys(airflow_ui.dag_ids, True)


def test_a_dry_run_of_one_folder_from_the_form(page, airflow_ui, screenshot):
    dag_id = airflow_ui.dag_ids[0]
    dialog = open_trigger_form(page, airflow_ui, dag_id)
    # nothing is marked required: every field has a default
    assert dialog.locator("[aria-required=true]").count() == 0
    assert "Leave it empty to replicate every configured folder (Global, Drivers)" in dialog.inner_text()
    screenshot(page, "02-trigger-form")
    folders_input(page).click()
    assert page.locator("[role=option]:visible").all_inner_texts() == FOLDERS  # a pick list from the config
    folders_input(page).fill("Dri")  # searchable
    page.locator("[role=option]:visible", has_text="Drivers").click()
    page.locator("#switch\\:element_dry_run").click()
    assert dialog.get_by_role("checkbox", name=f"Unpause {dag_id} on trigger").is_checked()
    screenshot(page, "03-trigger-form-filled")
    run_id = trigger(page, dialog)["dag_run_id"]

    run = airflow_ui.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
    assert run["conf"] == {"folders": ["Drivers"], "dry_run": True, "restore_changed_jobs": True, "rollback_to": None}
    run = airflow_ui.wait_run(dag_id, run_id)
    assert run["state"] == "success", airflow_ui.describe(dag_id, run_id)
    assert run["note"].startswith("**Dry run** of Drivers: "), run["note"]
    tis = airflow_ui.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    states = {ti["task_id"]: ti["state"] for ti in tis}
    history = ("backup_history", "wait_for_backup", "import_jobs", "wait_for_import", "restore_history")
    assert {states[t] for t in (*history, "verify_history")} == {"skipped"}, states
    assert states["export_jobs"] == states["copy_to_slave"] == "success", states
    export = airflow_ui.api(
        "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/export_jobs/xcomEntries/return_value"
    )
    assert [f["name"] for f in as_json(export["value"])["folders"]] == ["Drivers"]

    # the grid: the run's bar carries the note mark, its history steps are skipped; the run page shows the note
    page.goto(f"{airflow_ui.url}/dags/{dag_id}")
    bar = page.locator(f"a[href$='/runs/{run_id}/']")
    bar.wait_for()
    assert bar.locator("[style*='linear-gradient']").count() == 1, "no note mark on the run's bar"
    screenshot(page, "04-grid-dry-run")
    page.goto(f"{airflow_ui.url}/dags/{dag_id}/runs/{run_id}")
    page.get_by_text("Dry run").first.wait_for()
    assert "of Drivers: the jobs are exported and copied, nothing changes on the slave" in page.inner_text("body")
    screenshot(page, "05-run-page-note")


def test_clearing_the_folders_does_not_block_trigger(page, airflow_ui, screenshot):
    dag_id = airflow_ui.dag_ids[1]
    dialog = open_trigger_form(page, airflow_ui, dag_id)
    folders_input(page).click()
    page.locator("[role=option]:visible", has_text="Global").click()
    page.locator("[aria-label='Remove Global']").click()  # emptied again: the form now holds null
    page.locator("#switch\\:element_dry_run").click()
    button = dialog.get_by_role("button", name="Trigger").last
    assert button.is_enabled()
    screenshot(page, "06-trigger-form-cleared")
    run = trigger(page, dialog)
    assert run["conf"]["folders"] in (None, []) and run["conf"]["dry_run"] is True


def test_a_folder_not_configured_is_refused_by_the_api_with_the_choices(airflow_ui):
    dag_id = airflow_ui.dag_ids[1]
    with pytest.raises(httpx.HTTPStatusError) as refused:
        airflow_ui.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {"folders": ["Nope"]}})
    assert refused.value.response.status_code == 400
    assert "'Nope' is not one of ['Global', 'Drivers']" in refused.value.response.text


def test_ctrl_c_stops_every_process_and_removes_the_temp_dir(airflow_ui):
    """Last in the module: `make ui` stopped as a person stops it."""
    root = Path(airflow_ui.info["root"])
    assert airflow_ui.stop() == []
    assert airflow_ui.proc.returncode == 0
    assert not root.exists()
