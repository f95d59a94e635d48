"""The operator's night in the browser (issue 19), through the real Airflow UI of `make ui`:
Browse -> DS replication opens the page at its own address; every link of it and of the run
view, opened directly and inside Airflow's sandboxed frame ("What this run did"), lands where
it says; signed out, the page sends to Airflow's login; Airflow's home shows the triggerer
healthy and the DAG list each DAG's description; the empty state triggers a dry run, which
the page then lists with what it would have done; after a full night the figures add up and
each slave shows its folders, schedule, next run, state and DAG; after a night whose aximport
crashed the page and the run's tab show the error as Windows gives it and the job archive kept
before the import; "Trigger a new run" triggers one as the signed-in user, and a viewer is
offered no run button, told why; the alert mail's links open the failed run and the page, and its
command runs as printed; times follow the browser's zone as Airflow's UI does, then the zone
chosen there; the page and the run view fit 400 px; the trigger form offers no Backfill.

One `make ui` (Airflow + lab) for the module; the runs build on each other, in file order.
(The figures against the lab's tables and the HTTP statuses: tests/e2e/test_page.py.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

from tests.browser.conftest import sign_in
from tests.browser.test_trigger_form import as_json
from tests.history_audit import jobs_in_folders, slave_folders, snapshot

pytestmark = pytest.mark.timeout(1800)

FULL, CRASH = "page_full_night", "page_crashed_night"
OUTSIDE_ROWS: dict[str, int] = {}  # run id -> the slave's history rows outside its folders before it


def open_page(page, ui):
    """Browse -> DS replication, as an operator opens it: Airflow opens it in a new tab."""
    page.goto(f"{ui.url}/dags")
    page.get_by_role("button", name="Browse").click()
    with page.context.expect_page() as opened:
        page.get_by_role("menuitem", name="DS replication").click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == f"{ui.url}/ds-replication/"  # one path segment, not /plugin/ds-replication/ds-replication/
    tab.locator("#estate").wait_for()
    return tab


def shown(tab, slave: str) -> dict[str, str]:
    cells = tab.locator(f'section[data-slave="{slave}"] [data-figure][data-value]')
    return {cells.nth(n).get_attribute("data-figure"): cells.nth(n).inner_text() for n in range(cells.count())}


def landed(tab, url: str) -> None:
    """The window shows `url` and what is there: not Airflow's "Not Found" page, and (for a page
    of the DAGs, runs and tasks) the id the address names."""
    tab.wait_for_url(url)
    path = unquote(urlsplit(url).path)
    if path.startswith("/ds-replication/runs/"):
        tab.locator("#figures").wait_for()
    elif path.startswith("/ds-replication/"):
        tab.locator("#estate").wait_for()
    elif path.startswith("/dags/"):
        tab.get_by_text(path.rstrip("/").rsplit("/", 1)[-1]).first.wait_for()
    else:  # Airflow's home or DAG list
        tab.get_by_role("link", name="Dags").first.wait_for()
    body = tab.inner_text("body")
    assert "Not Found" not in body and "does not exist" not in body, f"{url}: {body[:500]}"


def links_of(where) -> list[tuple[str, str]]:
    """(href as written, absolute URL) of every link in a page or frame, each href once."""
    found = where.locator("a[href]").evaluate_all(
        "els => els.map(e => [e.getAttribute('href'), new URL(e.getAttribute('href'), location.href).href])"
    )
    return list(dict((raw, (raw, url)) for raw, url in found).values())


def xcom(ui, dag_id: str, run_id: str, task_id: str, key: str = "return_value"):
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
    return as_json(ui.api("GET", path)["value"])


def test_signed_out_the_page_sends_to_airflows_login_and_back(browser, airflow_ui):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{airflow_ui.url}/ds-replication/")
        page.get_by_label("Username").fill(airflow_ui.user)  # Airflow's own sign-in form, not JSON
        page.get_by_label("Password").fill(airflow_ui.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{airflow_ui.url}/ds-replication/")
        page.locator("#estate").wait_for()
    finally:
        context.close()


def test_make_ui_runs_the_triggerer_and_the_dag_list_describes_each_dag(page, airflow_ui):
    health = airflow_ui.api("GET", "/api/v2/monitor/health")
    assert health["triggerer"]["status"] == "healthy", health
    page.goto(f"{airflow_ui.url}/")
    badge = page.get_by_test_id("state-badge").filter(has_text="Triggerer")  # Home -> Health
    badge.hover()
    assert page.get_by_role("tooltip").inner_text().startswith("Status: Healthy")
    page.goto(f"{airflow_ui.url}/dags")
    for dag_id in airflow_ui.dag_ids:
        description = airflow_ui.api("GET", f"/api/v2/dags/{dag_id}")["description"]
        slave = dag_id.removeprefix("replicate_")
        assert description == f"Replicates DS jobs (Global, Drivers) from master to {slave}, keeping its job history"
        page.mouse.move(0, 0)
        page.get_by_role("link", name=dag_id, exact=True).hover()  # the DAG list shows it on hover
        page.get_by_role("tooltip").filter(has_text=description).wait_for()


def test_the_empty_state_triggers_a_dry_run_which_the_page_lists(page, airflow_ui, screenshot):
    dag_id = airflow_ui.dag_ids[1]
    slave = dag_id.removeprefix("replicate_")
    tab = open_page(page, airflow_ui)
    section = tab.locator(f'section[data-slave="{slave}"]')
    assert "trigger a dry run first" in section.inner_text()
    assert "paused" in section.locator('[data-fact="paused"]').inner_text()
    assert section.locator('[data-fact="folders"]').inner_text() == "folders Global, Drivers"
    screenshot(tab, "01-empty-state")
    section.get_by_role("link", name="its DAG page").click()  # the hint's link to the paused DAG
    landed(tab, f"{airflow_ui.url}/dags/{dag_id}")
    tab.go_back()
    with tab.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/dagRuns")) as posted:
        section.get_by_role("button", name="Trigger a dry run").click()
    run_id = posted.value.json()["dag_run_id"]
    section.get_by_text(f"run {run_id} queued (the DAG is paused").wait_for()
    section.get_by_role("link", name="its Airflow run page").click()
    landed(tab, f"{airflow_ui.url}/dags/{dag_id}/runs/{quote(run_id, safe='')}")
    run = airflow_ui.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
    assert (run["conf"], run["run_type"], run["triggering_user_name"]) == ({"dry_run": True}, "manual", "admin")
    airflow_ui.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    assert airflow_ui.wait_run(dag_id, run_id)["state"] == "success", airflow_ui.describe(dag_id, run_id)
    tab.goto(f"{airflow_ui.url}/ds-replication/")
    item = tab.locator(f'[data-dry-run="{run_id}"]')
    master_jobs = xcom(airflow_ui, dag_id, quote(run_id, safe=""), "export_jobs")["master_jobs"]
    jobs = sum(master_jobs.values())
    assert "dry run" in item.inner_text() and f"would import {jobs} jobs" in item.inner_text()
    screenshot(tab, "02-dry-run-listed")
    # ... and its "What this run did" tab inside Airflow says what it would have done
    frame = run_view_in_airflow(tab, airflow_ui, dag_id, run_id)
    assert f"This dry run would import {jobs} jobs" in frame.locator(f'[data-dry-run="{run_id}"]').inner_text()


def run_view_in_airflow(tab, ui, dag_id: str, run_id: str):
    """The run's Airflow page, its "What this run did" tab opened: the frame it shows."""
    tab.goto(f"{ui.url}/dags/{dag_id}/runs/{quote(run_id, safe='')}")
    tab.get_by_text("What this run did").first.click()
    frame = tab.frame_locator("iframe")
    frame.locator("#figures").wait_for()
    return frame


@pytest.fixture(scope="module")
def full_night(airflow_ui):
    """A full run of the first slave, triggered over REST."""
    dag_id = airflow_ui.dag_ids[0]
    slave = dag_id.removeprefix("replicate_")
    # the slave's history rows of jobs outside the folders the night imports: the import leaves them live
    inside = jobs_in_folders(airflow_ui.lab, slave, slave_folders(Path(airflow_ui.info["config"]), slave))
    rows = snapshot(airflow_ui.lab, slave).rows["event_schedule"]
    OUTSIDE_ROWS[FULL] = sum(1 for row in rows if int(row["event_id"]) not in inside)
    airflow_ui.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
    airflow_ui.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": FULL, "logical_date": None})
    run = airflow_ui.wait_run(dag_id, FULL)
    assert run["state"] == "success", airflow_ui.describe(dag_id, FULL)
    return dag_id


def test_after_a_full_night_the_figures_add_up_and_the_links_lead_into_airflow(
    page, airflow_ui, full_night, screenshot
):
    dag_id = full_night
    slave = dag_id.removeprefix("replicate_")
    x = {t: xcom(airflow_ui, dag_id, FULL, t) for t in ("backup_history", "restore_history", "verify_history")}
    backed_up, restored = x["backup_history"]["backed_up_rows"], x["restore_history"]["restored_rows"]
    archived = x["verify_history"]["archived_rows"]
    tab = open_page(page, airflow_ui)
    figures = shown(tab, slave)
    never = backed_up - restored - archived
    assert never == OUTSIDE_ROWS[FULL]  # what the page says they are: rows of jobs outside the imported folders
    assert (figures["backed_up"], figures["restored"], figures["archived"], figures["never_deleted"]) == (
        str(backed_up),
        str(restored),
        str(archived),
        str(never),
    )
    section = tab.locator(f'section[data-slave="{slave}"]')
    assert section.locator('[data-fact="paused"]').inner_text() == "active"
    assert section.locator('[data-fact="schedule"]').inner_text() == "schedule At 02:00 (0 2 * * *)"
    assert re.fullmatch(r"next run \d{4}-\d\d-\d\d 02:00 UTC", section.locator('[data-fact="next_run"]').inner_text())
    sum_line = f"Backed up {backed_up} = restored {restored} + archived {archived} + never deleted {never}"
    assert sum_line in section.locator("[data-sum]").inner_text()
    assert section.locator('[data-figure="run_id"]').inner_text() == FULL
    assert section.locator("svg.nights text[data-date]").count() >= 1  # the chart has dates
    assert section.get_by_role("button", name="Trigger a new run").count() == 0  # a good night
    screenshot(tab, "03-after-a-full-night")
    # the link to the slave's DAG
    section.locator('a[data-link="dag"]').click()
    landed(tab, f"{airflow_ui.url}/dags/{dag_id}")
    tab.go_back()
    tab.locator("#estate").wait_for()
    # the page's link to the run's Airflow page navigates (top-level page: a plain link)
    section.locator('a[data-link="run_page"]').click()
    tab.wait_for_url(f"{airflow_ui.url}/dags/{dag_id}/runs/{FULL}")
    # inside Airflow's sandboxed frame, the run view's links lead out of it
    tab.get_by_text("What this run did").first.click()
    frame = tab.frame_locator("iframe")
    frame.locator("#figures").wait_for()
    assert frame.locator('#figures [data-figure="backed_up"]').inner_text() == str(backed_up)
    screenshot(tab, "04-what-this-run-did")
    frame.get_by_role("link", name="the DAG").click()
    tab.wait_for_url(f"{airflow_ui.url}/dags/{dag_id}")
    tab.get_by_text("What this run did").first.wait_for(state="detached")
    tab.go_back()
    frame.get_by_role("link", name="every slave").click()
    tab.wait_for_url(f"{airflow_ui.url}/ds-replication/")


def test_after_a_crashed_import_the_page_shows_the_error_the_archive_and_a_new_run(
    browser, page, airflow_ui, full_night, screenshot
):
    dag_id = full_night
    slave = dag_id.removeprefix("replicate_")
    mails = len(airflow_ui.lab.mail())
    airflow_ui.lab.fault(slave, "aximport_crash", times=2, match="aximport")  # retries=1: both tries crash
    airflow_ui.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": CRASH, "logical_date": None})
    assert airflow_ui.wait_run(dag_id, CRASH)["state"] == "failed", airflow_ui.describe(dag_id, CRASH)
    # every folder's archive, the one the first try wrote before its crash emptied the folder too
    archive = xcom(airflow_ui, dag_id, CRASH, "import_jobs", "archive")
    assert sorted(archive) == ["Drivers", "Global"], archive

    tab = open_page(page, airflow_ui)
    section = tab.locator(f'section[data-slave="{slave}"]')
    error = section.locator('[data-error="import_jobs"] + pre').inner_text()
    assert "aximport exited with 0xC0000005 (access violation); its last output line: (no output)" in error
    files = section.locator('[data-figure="archive_files"] li').all_inner_texts()
    assert sorted(files) == sorted(f"{folder}: {e['file']}" for folder, e in archive.items())
    tab.set_viewport_size({"width": 400, "height": 900})
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400  # usable at 400 px: no sideways scroll
    screenshot(tab, "05-after-a-crashed-import-400px")
    tab.goto(f"{airflow_ui.url}/ds-replication/runs/{dag_id}/{CRASH}")  # the run view too
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400
    screenshot(tab, "05-the-crashed-run-400px")
    tab.set_viewport_size({"width": 1400, "height": 1000})
    # the failed run's "What this run did" tab inside Airflow: the same error and archive
    frame = run_view_in_airflow(tab, airflow_ui, dag_id, CRASH)
    assert error in frame.locator('[data-error="import_jobs"] + pre').inner_text()
    in_frame = frame.locator('.error [data-figure="archive_files"] li').all_inner_texts()
    assert sorted(in_frame) == sorted(files), in_frame
    tab.goto(f"{airflow_ui.url}/ds-replication/")

    # a user without the right to trigger (Airflow's viewer role) sees the page without run
    # buttons, told why: the page asks Airflow's auth manager what the REST API asks before a trigger
    runs = airflow_ui.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["total_entries"]
    viewer = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="UTC")
    try:
        viewer_tab = viewer.new_page()
        viewer_tab.set_default_timeout(60_000)
        sign_in(viewer_tab, airflow_ui, airflow_ui.viewer, airflow_ui.viewer_password)
        viewer_tab.goto(f"{airflow_ui.url}/ds-replication/")
        mine = viewer_tab.locator(f'section[data-slave="{slave}"]')
        mine.locator('[data-figure="run_id"]').wait_for()  # the viewer reads the failed night
        assert "Your Airflow user may not trigger runs of this DAG" in mine.locator("[data-no-trigger]").inner_text()
        assert viewer_tab.locator("button[data-trigger]").count() == 0, "a viewer was offered a run button"
        screenshot(viewer_tab, "06-no-run-buttons-for-a-viewer")
    finally:
        viewer.close()
    assert airflow_ui.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["total_entries"] == runs

    # the alert mail: links to the failed run ([api] base_url set by `make ui`), and its command
    # runs as printed where Airflow's command line is set up (make ui: the file it names)
    sent = [m for m in airflow_ui.lab.mail()[mails:] if slave in m["subject"]]
    assert len(sent) == 1, sent
    body = sent[0]["body"]
    assert f"{airflow_ui.url}/dags/{dag_id}/runs/{CRASH}" in body and f"{airflow_ui.url}/ds-replication/" in body
    printed = re.search(r"with its AIRFLOW_HOME\): (airflow [^<\n]+)", body)
    assert printed and printed.group(1) == f"airflow dags trigger {dag_id}", body
    # the mail's links open the failed run and the page in the signed-in browser
    tab.goto(f"{airflow_ui.url}/dags/{dag_id}/runs/{CRASH}")
    landed(tab, f"{airflow_ui.url}/dags/{dag_id}/runs/{CRASH}")
    tab.goto(f"{airflow_ui.url}/ds-replication/")
    landed(tab, f"{airflow_ui.url}/ds-replication/")
    section = tab.locator(f'section[data-slave="{slave}"]')

    # "Trigger a new run": through Airflow's REST API as the signed-in user
    with tab.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/dagRuns")) as posted:
        section.get_by_role("button", name="Trigger a new run").click()
    assert posted.value.status == 200, posted.value.text()
    run_id = posted.value.json()["dag_run_id"]
    section.get_by_text(f"run {run_id} queued").wait_for()
    run = airflow_ui.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
    assert (run["run_type"], run["triggering_user_name"], run["conf"]) == ("manual", "admin", {})
    screenshot(tab, "07-a-new-run-triggered")
    section.get_by_role("link", name="its Airflow run page").click()
    landed(tab, f"{airflow_ui.url}/dags/{dag_id}/runs/{quote(run_id, safe='')}")
    # ... and the mail's command, as printed, after `. <the file make ui names>`
    before = {r["dag_run_id"] for r in airflow_ui.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]}
    script = f". {airflow_ui.info['cli_env']} && {printed.group(1)}"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    after = {r["dag_run_id"] for r in airflow_ui.api("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]}
    assert len(after - before) == 1, (before, after)
    # the run-timeout mail's other command (notifications/run_timeout.py), in the same place
    pools = subprocess.run(
        ["bash", "-c", f". {airflow_ui.info['cli_env']} && airflow pools list"], capture_output=True, text=True
    )
    assert pools.returncode == 0 and "ds_export_master" in pools.stdout, pools.stdout + pools.stderr
    for new_run in (run_id, *(after - before)):  # both end before the next test reads the page
        assert airflow_ui.wait_run(dag_id, new_run)["state"] == "success", airflow_ui.describe(dag_id, new_run)


def test_every_link_of_the_page_and_of_the_run_view_in_airflow_leads_where_it_says(page, airflow_ui, full_night):
    """Every link, after a dry run, a full night, a crashed night and two new runs: on the page
    opened directly (Browse -> DS replication), on the crashed run's view opened directly, then
    on that view in its "What this run did" tab, Airflow's sandboxed frame, where each must
    navigate the whole window."""
    tab = open_page(page, airflow_ui)
    estate = tab.url
    links = links_of(tab)
    assert len(links) >= 10, links
    for raw, url in links:
        tab.goto(estate)
        tab.locator(f'a[href="{raw}"]').first.click()
        landed(tab, url)
    view = f"{airflow_ui.url}/ds-replication/runs/{full_night}/{CRASH}"  # the run view opened directly
    tab.goto(view)
    links = links_of(tab)
    for raw, url in links:
        tab.goto(view)
        tab.locator(f'a[href="{raw}"]').first.click()
        landed(tab, url)
    frame = run_view_in_airflow(tab, airflow_ui, full_night, CRASH)
    run_page = tab.url
    assert links_of(frame) == links
    links = links_of(frame)
    assert len(links) >= 15, links  # every slave, the DAG, the run page, a log per task
    for raw, url in links:
        frame = run_view_in_airflow(tab, airflow_ui, full_night, CRASH) if tab.url != run_page else frame
        frame.locator(f'a[href="{raw}"]').first.click()
        landed(tab, url)


def test_times_follow_the_browsers_zone_as_in_airflows_ui(browser, _session_state, airflow_ui, full_night):
    """Airflow 3 has no [webserver] default_ui_timezone (removed in 3.0: `airflow config lint`):
    its UI shows the browser's zone until the user picks one; the page does the same."""
    context = browser.new_context(storage_state=_session_state, timezone_id="America/Sao_Paulo")
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{airflow_ui.url}/dags")
        page.get_by_role("button", name="-03:00").wait_for()  # Airflow's clock: the browser's zone
        tab = open_page(page, airflow_ui)
        assert tab.locator("[data-zone]").first.inner_text() == "America/Sao_Paulo"
        next_run = tab.locator(f'section[data-slave="{full_night.removeprefix("replicate_")}"] [data-fact="next_run"]')
        assert next_run.inner_text().endswith("23:00 GMT-3")  # the schedule's 02:00 UTC, the day before
    finally:
        context.close()


def test_times_follow_the_zone_chosen_in_airflows_ui(page, airflow_ui, full_night):
    page.goto(f"{airflow_ui.url}/dags")
    page.get_by_role("button", name="+00:00").click()
    page.get_by_role("dialog").get_by_role("combobox").first.click()
    page.keyboard.type("Tokyo")
    page.get_by_role("option", name="Asia/Tokyo").first.click()
    tab = open_page(page, airflow_ui)
    assert tab.locator("[data-zone]").first.inner_text() == "Asia/Tokyo"
    next_run = tab.locator(f'section[data-slave="{full_night.removeprefix("replicate_")}"] [data-fact="next_run"]')
    assert next_run.inner_text().endswith("11:00 GMT+9")  # the schedule's 02:00 UTC


def test_the_trigger_form_offers_no_backfill(page, airflow_ui):
    dag_id = airflow_ui.dag_ids[0]
    assert airflow_ui.api("GET", f"/api/v2/dags/{dag_id}/details")["is_backfillable"] is False
    page.goto(f"{airflow_ui.url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger Dag").click()
    backfill = page.get_by_role("dialog").get_by_role("radio", name="Backfill")
    assert backfill.is_disabled()
