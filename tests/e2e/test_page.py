"""The replication page in a real Airflow API server: a full run, then a failed night.

One private Airflow (api-server, scheduler, dag-processor; tests/airflow_server.py) replicates a
DS lab with two slaves. After a full run of slave1 the page shows its figures equal to the task
XComs (read through Airflow's REST API) and to the lab's tables; after a night whose restore
fails (a lab fault) it shows the rows held in the slave's backup, as counted on the slave, and
the alert mail received by the lab's SMTP sink links to the run and to the page. An unsigned
request gets 401; no connection secret is ever on the page. Last, the estate survey's DAG, paused
when new, is run by the scheduler and the page shows its verdicts.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.airflow_env import read_connections_env
from tests.e2e.conftest import SchedulerEstate, scheduler_estate
from tests.history_audit import account, jobs_in_folders, slave_folders, snapshot

SLAVES = ("slave1", "slave2")
SLAVE, DAG = "slave1", "replicate_slave1"
PAGE = "/ds-replication/"
BACKUP = "ds_replication_event_schedule_backup"
RESTORE_FAULT = ("sql_drop_before_commit", "INSERT INTO [dbo].[event_schedule] (")


def first_deploy_paused(config: dict) -> None:
    config["defaults"]["paused_on_first_deploy"] = True


class PageEstate(SchedulerEstate):
    """A DS lab with two slaves and an Airflow (with the page plugin) replicating it."""

    def __init__(self, root: Path) -> None:
        # created paused, as a real estate's DAGs (the lab's are not): the fixture unpauses the
        # slave DAGs, survey_estate stays paused until its test
        super().__init__(root, slaves=len(SLAVES), sign_in=True, configure=first_deploy_paused)
        self.http = httpx.Client(base_url=self.base, timeout=60)
        self.auth = {"Authorization": f"Bearer {self.token}"}

    def run(self, run_id: str) -> str:
        self.airflow.cli("dags", "trigger", DAG, "--run-id", run_id)
        return self.airflow.wait_finished([run_id])[run_id]["state"]

    def get(self, path: str, signed: bool = True) -> httpx.Response:
        return self.http.get(path, headers=self.auth if signed else {})

    def xcom(self, run_id: str, task_id: str, key: str = "return_value"):
        path = f"/api/v2/dags/{DAG}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/{key}"
        response = self.get(path)
        response.raise_for_status()
        return response.json()["value"]

    def stop(self) -> None:
        if hasattr(self, "http"):
            self.http.close()
        super().stop()


@pytest.fixture(scope="module")
def page_estate(request):
    return scheduler_estate(request, PageEstate)


def row_of(html: str, slave: str) -> str:
    match = re.search(rf'<section class="slave" data-slave="{slave}">(.*?)</section>', html, re.S)
    assert match, html[-3000:]
    return match.group(1)


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([a-z_]+)" data-value="([^"]*)"', html))


def assert_no_secret(estate: PageEstate, html: str) -> None:
    password = estate.lab.info["password"]
    assert password not in html
    for value in read_connections_env(estate.lab.connections_path).values():
        conn = json.loads(value)
        assert not conn.get("password") or conn["password"] not in html


def test_the_page_needs_a_sign_in(page_estate):
    """As the README says: 401 without a valid sign-in (a bad token too, where Airflow's own API
    answers 403), and a browser is sent to Airflow's login, which sends it back."""
    bad = {"Authorization": "Bearer not-a-token"}
    browser = {"Accept": "text/html,application/xhtml+xml"}
    for path in (PAGE, f"/ds-replication/runs/{DAG}/any"):
        assert page_estate.get(path, signed=False).status_code == 401, path
        assert page_estate.http.get(path, headers=bad).status_code == 401, path
        assert page_estate.http.get(path, headers={**browser, "Cookie": "_token=not-a-token"}).status_code == 303
        to_login = page_estate.http.get(path, headers=browser)
        assert to_login.status_code == 303, path
        assert to_login.headers["location"] == f"/auth/login?next={quote(page_estate.base + path, safe='')}"


def test_the_ui_offers_the_page_and_the_run_view(page_estate):
    plugins = page_estate.get("/api/v2/plugins").json()["plugins"]
    page = next(p for p in plugins if p["name"] == "ds_replication")
    views = {v["name"]: (v["destination"], v["href"], v.get("url_route")) for v in page["external_views"]}
    # the menu entry has no url_route: Airflow links to the page instead of framing it
    assert views == {
        "DS replication": ("nav", "ds-replication/", None),
        "What this run did": ("dag_run", "ds-replication/runs/{DAG_ID}/{RUN_ID}", "ds-replication-run"),
    }
    assert page_estate.get("/api/v2/plugins/importErrors").json()["import_errors"] == []


def test_after_a_full_run_the_page_shows_the_xcoms_and_the_lab(page_estate):
    lab, run_id = page_estate.lab, "page_full"
    before = snapshot(lab, SLAVE)
    assert page_estate.run(run_id) == "success", page_estate.airflow.describe([run_id])
    after = snapshot(lab, SLAVE)
    audit = account(before, after)

    response = page_estate.get(PAGE)
    assert response.status_code == 200, response.text
    html = response.text
    row = row_of(html, SLAVE)
    shown = figures(row)
    x = {t: page_estate.xcom(run_id, t) for t in ("wait_for_import", "backup_history", "restore_history")}
    verify = page_estate.xcom(run_id, "verify_history")
    archive = page_estate.xcom(run_id, "import_jobs")["archive"]
    assert shown == {
        "jobs_imported": str(sum(x["wait_for_import"]["slave_jobs"].values())),
        "backed_up": str(x["backup_history"]["backed_up_rows"]),
        "restored": str(x["restore_history"]["restored_rows"]),
        "archived": str(verify["archived_rows"]),
        "lost": str(verify["lost_rows"]),
        "never_deleted": str(
            x["backup_history"]["backed_up_rows"]
            - x["restore_history"]["restored_rows"]
            - verify["archived_rows"]
            - verify["lost_rows"]
        ),
        "held_now": "0",
        "changed_jobs": str(x["restore_history"]["changed_jobs"]),
        "alerts": "0",
    }
    # ... and the lab's tables
    folders = slave_folders(page_estate.config_path, SLAVE)
    assert int(shown["jobs_imported"]) == len(jobs_in_folders(lab, SLAVE, folders))
    assert int(shown["backed_up"]) == len(before.schedule)
    assert int(shown["archived"]) == audit.archived and audit.lost == 0 == int(shown["lost"])
    assert BACKUP not in after.tables
    assert f'href="/ds-replication/runs/{DAG}/{run_id}"' in row and "<svg" in row
    assert 'data-slave="slave2"' in html and "trigger a dry run first" in row_of(html, "slave2")
    assert_no_secret(page_estate, html)

    view = page_estate.get(f"/ds-replication/runs/{DAG}/{run_id}")
    assert view.status_code == 200 and figures(view.text)["backed_up"] == shown["backed_up"]
    assert all(f"{folder}: {e['file']}".replace("\\", "\\<wbr>") in view.text for folder, e in archive.items())
    assert_no_secret(page_estate, view.text)


def test_after_a_failed_night_the_page_shows_the_rows_held(page_estate):
    lab, run_id = page_estate.lab, "page_failed"
    mails = len(lab.mail())
    fault, match = RESTORE_FAULT
    lab.fault(SLAVE, fault, times=2, match=match)  # retries=1: both tries of restore_history fail
    assert page_estate.run(run_id) == "failed"
    states = page_estate.airflow.task_instances(run_id)
    assert states["restore_history"]["state"] == "failed", {t: s["state"] for t, s in states.items()}
    held = lab.scalar(SLAVE, f"SELECT COUNT(*) AS n FROM {BACKUP}")
    assert held > 0
    alert = page_estate.xcom(run_id, "restore_history", "alert")
    assert alert["held_rows"] == held

    html = page_estate.get(PAGE).text
    shown = figures(row_of(html, SLAVE))
    assert (shown["held_now"], shown["alerts"]) == (str(held), "1"), shown
    assert f">{run_id}</a>" in row_of(html, SLAVE) and "Trigger a new run" in row_of(html, SLAVE)
    view = page_estate.get(f"/ds-replication/runs/{DAG}/{run_id}").text
    assert figures(view)["held"] == str(held) and 'data-alert="restore_history"' in view
    assert_no_secret(page_estate, html + view)

    sent = [m for m in lab.mail()[mails:] if SLAVE in m["subject"]]
    assert sent and f"{held} history rows held" in sent[-1]["subject"], sent
    body = sent[-1]["body"]
    assert f"{page_estate.base}/dags/{DAG}/runs/{run_id}" in body, body
    assert f"{page_estate.base}/ds-replication/" in body, body
    # the error the failed task raised, as the page shows it
    assert 'data-error="restore_history"' in row_of(html, SLAVE)


def test_the_page_shows_the_last_survey(page_estate):
    """`survey_estate` is created paused, as the slave DAGs (Airflow's own record); run by the
    scheduler with slave2's aximport.exe missing, the page's Last survey section shows each
    host's verdict, the run's date and slave2's failing check with what to do."""
    assert page_estate.get("/api/v2/dags/survey_estate").json()["is_paused"] is True
    assert "No survey yet: trigger the DAG survey_estate" in page_estate.get(PAGE).text
    share = Path(page_estate.lab.info["hosts"]["slave2"]["share_dir"])
    started = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    (share / "aximport.exe").rename(share / "aximport.exe.moved")
    try:
        page_estate.airflow.cli("dags", "unpause", "survey_estate")
        page_estate.airflow.cli("dags", "trigger", "survey_estate", "--run-id", "survey_page")
        assert page_estate.airflow.wait_finished(["survey_page"])["survey_page"]["state"] == "failed"
    finally:
        (share / "aximport.exe.moved").rename(share / "aximport.exe")
    ended = dt.datetime.now(dt.UTC)
    html = page_estate.get(PAGE).text
    section = html.split(">Last survey</h2>", 1)[1]
    assert "Run survey_page (failed)" in section, section
    rows = dict(re.findall(r'<tr data-survey-host="(\w+)">(.*?)</tr>', section))
    assert list(rows) == ["master", *SLAVES], section
    for host, row in rows.items():
        verdict = "no-go" if host == "slave2" else "go"
        assert f'<span class="state {"failed" if host == "slave2" else "success"}">{verdict}</span>' in row, row
        when = re.search(r'<td class="when">(\d{4}-\d\d-\d\d \d\d:\d\d) UTC</td>', row)
        assert when and started <= dt.datetime.strptime(when[1], "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC) <= ended
    assert "<b>DS tools</b>: axexport.exe in C:\\Program Files" in rows["slave2"], rows["slave2"]
    assert "aximport.exe not in the DS folder" in rows["slave2"] and "<small>none</small>" in rows["slave1"]
    assert_no_secret(page_estate, html)
