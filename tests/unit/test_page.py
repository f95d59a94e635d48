"""The replication page's figures and HTML from plain data, the alert mail's links, and the
plugin's place among the modules Airflow imports from plugins/."""

from __future__ import annotations

import ast
import datetime as dt
import importlib.metadata
import json
import re
import sys
from dataclasses import replace
from html import unescape
from pathlib import Path

from ds_replication.exit_codes import exit_code_text, failure_text
from ds_replication.notifications.mail import link_lines
from ds_replication.page import estate_html, page_html, run_html
from ds_replication.page.run_figures import STEP_ORDER, DagFacts, RunRecord, figures, held_figure, slave_row
from ds_replication.run_files import run_key

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"
T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
LINKS = page_html.Links(ui_root="", page_root="/ds-replication")
ALL_SUCCESS = dict.fromkeys(STEP_ORDER, "success")


def good_night(run_id: str = "scheduled__2026-12-01T02:00:00+00:00", day: int = 0) -> RunRecord:
    return RunRecord(
        dag_id="replicate_slave1",
        run_id=run_id,
        state="success",
        conf={},
        run_after=T0 + dt.timedelta(days=day),
        end_date=T0 + dt.timedelta(days=day, minutes=3),
        tasks=dict(ALL_SUCCESS),
        xcoms={
            "preflight": {"return_value": {"leftover_rows": 0, "restored_rows": 0}},
            "backup_history": {"return_value": {"backed_up_rows": 84, "held_rows": 84, "leftover_rows": 0}},
            "import_jobs": {
                "return_value": {"archive": {"Global": {"jobs": 7, "file": "ds_replication_archive\\a.bin"}}}
            },
            "wait_for_import": {"return_value": {"slave_jobs": {"Global": 7, "Drivers": 2}}},
            "restore_history": {
                "return_value": {
                    "restored_rows": 53,
                    "restored_detail_rows": 100,
                    "job_gone_rows": 8,
                    "held_rows": 31,
                    "changed_jobs": 1,
                    "changed_job_names": ["Deploy <Office>"],
                }
            },
            "verify_history": {"return_value": {"archived_rows": 8, "lost_rows": 0}},
        },
    )


def failed_night(day: int = 1) -> RunRecord:
    """restore_history failed: no return value from it on; its alert counted the rows held."""
    record = good_night(f"manual__failed_{day}", day)
    record.state = "failed"
    record.tasks |= {"restore_history": "failed", "verify_history": "upstream_failed"}
    del record.xcoms["verify_history"]
    record.xcoms["restore_history"] = {
        "alert": {"subject": "restore_history failed", "to": ["a@b"], "held_rows": 61},
        "error": "OperationalError: connection dropped <at COMMIT>",
    }
    return record


def crashed_import(day: int = 1) -> RunRecord:
    """aximport crashed: import_jobs left no return value, only the archive it kept first."""
    record = good_night(f"manual__crash_{day}", day)
    record.state = "failed"
    archive = record.xcoms["import_jobs"].pop("return_value")["archive"]
    record.xcoms["import_jobs"] = {"archive": archive, "error": "AirflowException: aximport exited with 0xC0000005"}
    for task_id in ("wait_for_import", "restore_history", "verify_history"):
        del record.xcoms[task_id]
    record.tasks |= {
        "import_jobs": "failed",
        "wait_for_import": "upstream_failed",
        "restore_history": "upstream_failed",
    }
    return record


def dry_run(day: int = 2) -> RunRecord:
    record = RunRecord("replicate_slave1", f"manual__dry_{day}", "success", {"dry_run": True}, T0 + dt.timedelta(day))
    record.tasks = {"preflight": "success", "export_jobs": "success", "backup_history": "skipped"}
    record.xcoms = {
        "preflight": {"return_value": {"leftover_rows": 61, "restored_rows": 0}},
        "export_jobs": {"return_value": {"master_jobs": {"Global": 7, "Drivers": 1}}},
        "copy_to_slave": {"return_value": {"bytes": 3345}},
    }
    return record


def test_a_good_nights_figures_are_its_xcoms():
    f = figures(good_night())
    assert (f.jobs_imported, f.backed_up, f.restored, f.archived, f.lost) == (9, 84, 53, 8, 0)
    assert (f.held, f.held_at) == (0, "verify_history")
    assert f.changed_jobs == 1 and f.archive_files == ["Global: ds_replication_archive\\a.bin"] and f.alerts == []
    # the figures add up: backed up = restored + archived + never deleted
    assert f.never_deleted == 84 - 53 - 8 == 23


def test_a_failed_night_holds_what_its_alert_counted():
    f = figures(failed_night())
    assert (f.held, f.held_at) == (61, "restore_history")
    assert f.restored is None and f.lost is None
    assert f.alerts == [
        {"task_id": "restore_history", "subject": "restore_history failed", "to": ["a@b"], "held_rows": 61}
    ]
    assert f.failed_tasks == ["restore_history", "verify_history"]


def test_lost_rows_come_from_a_failed_verification_too():
    record = failed_night()
    record.tasks["verify_history"] = "failed"
    record.xcoms["verify_history"] = {"figures": {"archived_rows": 2, "lost_rows": 3}}
    assert figures(record).lost == 3


def test_without_an_alert_the_last_step_that_counted_holds():
    record = failed_night()
    del record.xcoms["restore_history"]
    assert held_figure(record) == (84, "backup_history")


def test_the_estate_row_takes_the_last_real_run_and_the_newest_held_count():
    row = slave_row("slave1", "replicate_slave1", [dry_run(2), failed_night(1), good_night(day=0)])
    assert row.last is not None and row.last.run_id == "manual__failed_1"
    assert row.held == 61 and row.held_run is not None and row.held_run.run_id == "manual__dry_2"
    assert [n.run_id for n in row.nights] == ["scheduled__2026-12-01T02:00:00+00:00", "manual__failed_1"]
    assert [(n.kept, n.held, n.lost) for n in row.nights] == [(84, 0, 0), (23, 61, 0)]


def figure_cells(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([a-z_]+)" data-value="([^"]*)"', html))


FACTS = DagFacts(["Global", "Drivers"], "0 2 * * *", "At 02:00", T0 + dt.timedelta(days=5), paused=False)


def section_of(html: str, slave: str) -> str:
    start = html.index(f'data-slave="{slave}"')
    end = html.find("<section", start)
    return html[start : end if end > 0 else len(html)]


def test_the_estate_page_shows_each_slave_its_figures_escaped_with_a_chart_and_links():
    rows = [
        slave_row("slave1", "replicate_slave1", [failed_night(1), good_night(day=0)], FACTS),
        slave_row("slave2", "replicate_slave2", [], FACTS),
    ]
    html = estate_html.estate_page(rows, "admin <x>", LINKS)
    slave1 = section_of(html, "slave1")
    assert figure_cells(slave1) == {
        "jobs_imported": "9",
        "backed_up": "84",
        "restored": "",
        "archived": "",
        "never_deleted": "",
        "lost": "",
        "held_now": "61",
        "changed_jobs": "",
        "alerts": "1",
    }
    assert "folders Global, Drivers" in slave1 and "At 02:00" in slave1 and 'class="active"' in slave1
    assert '<time datetime="2026-12-06T02:00:00+00:00">' in slave1  # the next run
    assert 'href="/ds-replication/runs/replicate_slave1/manual__failed_1"' in slave1
    assert 'href="/dags/replicate_slave1/runs/manual__failed_1"' in slave1 and 'target="_top"' not in html
    assert 'href="/dags/replicate_slave1"' in slave1
    # the failed night: its error, the archive kept before the import, and a new run offered
    assert "connection dropped &lt;at COMMIT&gt;" in slave1
    assert "Global: ds_replication_archive\\<wbr>a.bin" in slave1
    assert 'data-trigger="/api/v2/dags/replicate_slave1/dagRuns"' in slave1 and "Trigger a new run" in slave1
    assert slave1.count("<rect") >= 3 and 'data-date="2026-12-01T02:03:00+00:00"' in slave1
    slave2 = section_of(html, "slave2")
    assert "trigger a dry run first" in slave2 and "&quot;dry_run&quot;: true" in slave2
    assert "admin &lt;x&gt;" in html and "<x>" not in html


def test_a_good_night_adds_up_and_offers_no_new_run():
    html = estate_html.estate_page([slave_row("slave1", "replicate_slave1", [good_night()], FACTS)], "a", LINKS)
    assert "Backed up 84 = restored 53 + archived 8 + never deleted 23" in html
    assert "Trigger a new run" not in html and "trigger a dry run first" not in html


def test_dry_runs_are_listed_marked_with_what_they_would_have_done():
    rows = [slave_row("slave1", "replicate_slave1", [dry_run(2), good_night()], FACTS)]
    html = estate_html.estate_page(rows, "a", LINKS)
    item = html[html.index('data-dry-run="manual__dry_2"') :]
    assert 'class="dry">dry run' in item and "would import 8 jobs (Global 7, Drivers 1)" in item
    view = run_html.run_page(dry_run(2), "a", LINKS)
    assert "This dry run would import 8 jobs" in view and 'class="dry">dry run' in view


def test_a_crashed_import_names_the_job_archive_it_kept_before():
    f = figures(crashed_import())
    assert f.archive_files == ["Global: ds_replication_archive\\a.bin"]
    assert f.errors == {"import_jobs": "AirflowException: aximport exited with 0xC0000005"}
    view = run_html.run_page(crashed_import(), "a", LINKS)
    assert 'data-error="import_jobs"' in view and "the only copy" in view


def test_the_job_archives_are_listed_newest_first_each_with_a_rollback_button():
    records = [dry_run(3), crashed_import(2), good_night("manual__<x>", 1), good_night()]
    html = estate_html.estate_page([slave_row("slave1", "replicate_slave1", records, FACTS)], "a", LINKS)
    listed = re.findall(r'data-archive="([^"]*)"', html)
    assert listed == ["manual__crash_2", "manual__&lt;x&gt;", "scheduled__2026-12-01T02:00:00+00:00"]  # no dry run
    item = html[html.index('data-archive="manual__crash_2"') :]
    assert page_html.file_name("Global: ds_replication_archive\\a.bin") in item[: item.index("</li>")]
    bodies = [json.loads(unescape(b)) for b in re.findall(r'data-body="([^"]*)"', html)]
    assert {"logical_date": None, "conf": {"rollback_to": "manual__<x>"}} in bodies
    assert "Roll back to these jobs" in item and "param rollback_to" in html
    assert 'data-confirm="Replace the jobs of slave slave1 with those it had before run manual__crash_2?"' in item


def test_an_archive_the_retention_removed_is_not_offered_for_a_rollback():
    """A rollback to it would be refused: the slave no longer has its files."""
    removed, kept = good_night("manual__old", 1), good_night("manual__kept", 2)
    newest = good_night("manual__newest", 3)
    newest.xcoms["cleanup"] = {
        "return_value": {
            "retention": {
                "kept": [{"date": "2026-12-04", "run_key": run_key("manual__newest"), "files": ["n.bin"]}],
                "removed": [{"date": "2026-12-02", "run_key": run_key("manual__old"), "files": ["o.bin"]}],
            }
        }
    }
    html = estate_html.estate_page(
        [slave_row("slave1", "replicate_slave1", [newest, kept, removed], FACTS)], "a", LINKS
    )
    assert re.findall(r'data-archive="([^"]*)"', html) == ["manual__newest", "manual__kept"]


def test_a_user_who_may_not_trigger_is_offered_no_run_button_and_told_why():
    """A dry run (empty state), a new run (failed night) and a rollback (job archive) alike:
    Airflow's REST API would refuse the click with 403 (requires_access_dag, POST on DAG runs)."""
    rows = [
        slave_row("slave1", "replicate_slave1", [crashed_import(2), good_night()], FACTS),
        slave_row("slave2", "replicate_slave2", [], FACTS),
    ]
    offered = estate_html.estate_page(rows, "a", LINKS)
    assert offered.count("data-trigger=") == 4 and "data-no-trigger" not in offered  # new run, 2 archives, dry run
    refused = estate_html.estate_page([replace(r, may_trigger=False) for r in rows], "a", LINKS)
    assert "data-trigger=" not in refused and "<button" not in refused
    assert refused.count("Your Airflow user may not trigger runs of this DAG") == 2


def test_the_run_page_shows_what_the_run_did():
    html = run_html.run_page(good_night("manual__2026-12-01T02:00:00+00:00"), "admin", LINKS)
    cells = figure_cells(html)
    assert (cells["backed_up"], cells["restored"], cells["archived"], cells["never_deleted"], cells["lost"]) == (
        "84",
        "53",
        "8",
        "23",
        "0",
    )
    assert cells["held"] == "0"
    assert "Deploy &lt;Office&gt;" in html and "Global: 7 jobs" in html
    assert 'href="/dags/replicate_slave1/runs/manual__2026-12-01T02%3A00%3A00%2B00%3A00"' in html


def test_a_rejected_run_and_what_the_retention_kept_are_on_its_page():
    record = good_night("manual__rejected")
    record.tasks |= dict.fromkeys(("backup_history", "import_jobs", "restore_history", "verify_history"), "skipped")
    record.xcoms = {
        "approve_changes": {
            "return_value": {
                "asked": True,
                "approved": False,
                "timed_out": False,
                "answered_by": "ops <a>",
                "local_changes": [{"job": "Site <printer>", "folder": "Global", "change": "edited on the slave"}],
            }
        },
        "cleanup": {
            "return_value": {
                "retention": {
                    "kept": [{"date": "2026-12-01", "run_key": "a" * 12, "files": ["x.bin"]}],
                    "removed": [{"date": "2025-01-01", "run_key": "b" * 12, "files": ["y.bin"]}],
                    "rows_archived_before": "2026-10-31",
                    "archive_rows_removed": {"ds_replication_event_schedule_archive": 3},
                }
            }
        },
    }
    html = run_html.run_page(record, "admin", LINKS)
    assert 'data-approval="rejected"' in html and "rejected by ops &lt;a&gt;: nothing imported" in html
    assert "Global\\Site &lt;printer&gt;: edited on the slave" in html
    assert "Job archives kept: 1 (2026-12-01); removed: 1." in html
    assert "ds_replication_event_schedule_archive 3" in html
    assert "data-approval" not in run_html.run_page(good_night(), "admin", LINKS)
    record.conf = {"rollback_to": "scheduled__<x>"}
    assert 'data-rollback="scheduled__&lt;x&gt;"' in run_html.run_page(record, "admin", LINKS)


def test_windows_exit_codes_read_as_windows_shows_them():
    """ntstatus.h / [MS-ERREF] 2.3.1: 0xC0000005 STATUS_ACCESS_VIOLATION; a process's exit code
    is a DWORD, read as 3221225477 unsigned or -1073741819 signed."""
    assert exit_code_text(3221225477) == exit_code_text(-1073741819) == "0xC0000005 (access violation)"
    assert exit_code_text(1) == "1" and exit_code_text(0xC0000999) == "0xC0000999"
    assert failure_text("aximport", 3221225477, "Importing Global...\r\n", "") == (
        "aximport exited with 0xC0000005 (access violation); its last output line: Importing Global..."
    )
    assert failure_text("aximport", 3221225477, "", "").endswith("its last output line: (no output)")


def test_the_alert_links_are_made_from_the_base_url():
    lines = link_lines("replicate_slave1", "manual__2026-12-01T02:00:00+00:00", "https://airflow.example.com")
    assert lines == [
        "This run: https://airflow.example.com/dags/replicate_slave1/runs/manual__2026-12-01T02%3A00%3A00%2B00%3A00",
        "Replication page (every slave, rows held now): https://airflow.example.com/ds-replication/",
    ]
    assert "[api] base_url" in link_lines("replicate_slave1", "r", None)[0]


def test_the_step_order_is_the_dags():
    from ds_replication.factory import TASK_IDS

    assert tuple(t for t in TASK_IDS if t != "cleanup") == STEP_ORDER


def test_no_module_under_plugins_takes_the_name_of_another_module():
    """Airflow imports every .py under plugins/ as a top-level module named after the file
    (sys.modules[stem]): a file named like a standard or installed module would replace it."""
    installed = set(sys.stdlib_module_names) | set(importlib.metadata.packages_distributions())
    stems = {p.stem for p in PLUGINS.rglob("*.py") if p.stem not in ("__init__", "__main__")}
    assert not stems & installed, sorted(stems & installed)


def test_the_package_modules_define_no_airflow_plugin():
    """Airflow takes every AirflowPlugin of every file under plugins/: the package's is defined
    once, in plugins/ds_replication_plugin.py, and its modules (imported by it too) define none."""

    def defines_a_plugin(path: Path) -> bool:
        return any(
            isinstance(node, ast.ClassDef) and any(getattr(b, "id", "") == "AirflowPlugin" for b in node.bases)
            for node in ast.walk(ast.parse(path.read_text()))
        )

    assert defines_a_plugin(PLUGINS / "ds_replication_plugin.py")
    assert not [p.name for p in (PLUGINS / "ds_replication").rglob("*.py") if defines_a_plugin(p)]


def test_the_survey_section_shows_each_hosts_verdict_date_and_failing_checks_escaped():
    import datetime as dt

    from ds_replication.page.survey_view import LastSurvey, survey_section

    assert "No survey yet: trigger the DAG survey_estate" in survey_section(None)
    hosts = [
        {"name": "master", "role": "master", "verdict": "go", "checks": [{"check": "clock", "ok": True}]},
        {
            "name": "site_a",
            "role": "slave",
            "verdict": "no-go",
            "checks": [
                {"check": "DS tools", "ok": False, "found": "<none>", "why": "aximport.exe & co"},
                {"check": "clock", "ok": True, "found": "+0 s", "why": ""},
            ],
        },
    ]
    when = dt.datetime(2026, 12, 5, 23, 40, tzinfo=dt.UTC)
    html = survey_section(LastSurvey("manual__1", "failed", when, hosts), "/dags/survey_estate/runs/manual__1")
    assert 'href="/dags/survey_estate/runs/manual__1"' in html
    site = html.split('data-survey-host="site_a"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="state failed">no-go</span>' in site and "2026-12-05 23:40 UTC" in site
    assert "<b>DS tools</b>: &lt;none&gt; <small>(aximport.exe &amp; co)</small>" in site
    assert "clock" not in site, "only the failing checks"


def test_user_facing_text_says_trigger_a_new_run_never_re_run():
    """One word for recovery everywhere a user reads (issue 19): the page, the mails, the DAG
    docs, the README and docs/ say "trigger a new run"; "re-run" would suggest clearing a task,
    which after a failed night has nothing left to import (notifications/mail.py, RECOVERY)."""
    texts = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "dags").glob("*.py")]
    texts += [*PLUGINS.rglob("*.py"), *(REPO / "include").rglob("*.yaml")]
    said = [
        f"{path.relative_to(REPO)}: {m.group(0)}"
        for path in texts
        for m in re.finditer(r"\bre-?run\w*", path.read_text(encoding="utf-8"), re.IGNORECASE)
    ]
    assert said == []
