"""What a real estate can do that a tidy lab did not show (issue 9), end to end on the DS lab.

The lab's two slave hosts are replicated as slaves `site` (host slave1) and `site_a` (host
slave2): one name is the start of the other, as an estate may well have.

- `site`'s cleanup, running while `site_a` is between its export and its copy, leaves
  `site_a`'s files on the master's share.
- The alert of a failed import says what to do (trigger the DAG again, not clear the task whose
  files the cleanup has removed), and doing exactly that recovers.
- A short export (the tool exits 0) is refused by its own job count before anything changes.
- A run stopped at its bound (dagrun_timeout) sends an alert.
- Slow folders one after the other fit in import_jobs' bound, derived from the folder count.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ds_replication.run_files import export_file_names
from tests.e2e.conftest import _estate
from tests.history_audit import account, slave_folders, snapshot
from tests.lab import faults

HOSTS = {"site": "slave1", "site_a": "slave2"}


def why(result: dict, *extra) -> str:
    states = {t: s["state"] for t, s in sorted(result["tasks"].items())}
    return "\n".join([f"run {result['run_id']}: {result['state']}", f"tasks: {states}", *map(repr, extra)]) + (
        "\nlog tail:\n" + result["log"][-4000:]
    )


@pytest.fixture(scope="module")
def sites(request):
    estate = _estate(request, slaves=2, identity=False)
    config = yaml.safe_load(estate.config_path.read_text())
    for slave in config["slaves"]:
        slave["name"] = {v: k for k, v in HOSTS.items()}[slave["name"]]  # its conn ids stay the host's
    estate.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return estate


@pytest.fixture(autouse=True)
def no_faults_left(sites):
    yield
    for host in sites.lab.info["hosts"]:
        faults.clear(sites.lab.dir, host)


def share(estate, host: str) -> Path:
    return Path(estate.lab.info["hosts"][host]["share_dir"])


# --- cleanup of another slave's files ----------------------------------------------------------


def test_cleanup_of_site_leaves_the_files_of_site_a(sites):
    """`site_a` has exported (its files are on the master's share, not yet copied) when `site`'s
    run ends: `site`'s cleanup removes its own files only."""
    folders = slave_folders(sites.config_path, "site_a")
    site_a_files = export_file_names("site_a", "manual__2026-01-01T02:00:00+00:00", folders)
    for folder, name in zip(folders, site_a_files, strict=True):
        switches = " /s" if folder["subfolders"] else ""
        out = sites.lab.shell("master", f'axexport /f "{folder["name"]}"{switches} {name}')
        assert out.returncode == 0, out
    result = sites.run("site")
    assert result["state"] == "success", why(result)
    removed = result["xcom"]["cleanup"]["master"]
    assert removed and all(n.startswith("dsrepl_site_") and not n.startswith("dsrepl_site_a_") for n in removed)
    left = sorted(p.name for p in share(sites, "master").iterdir() if p.name.startswith("dsrepl_"))
    assert left == sorted(site_a_files), why(result, left)
    for name in site_a_files:
        (share(sites, "master") / name).unlink()


# --- the recovery the alert advises --------------------------------------------------------------


def test_doing_what_the_alert_of_a_failed_import_says_recovers(sites):
    lab = sites.lab
    before = snapshot(lab, "slave1")
    mails = len(lab.mail())
    lab.fault("slave1", "aximport_crash", times=2, match="aximport")
    failed = sites.run("site")
    assert failed["state"] == "failed" and failed["tasks"]["import_jobs"]["state"] == "failed", why(failed)
    alerts = [m for m in lab.mail()[mails:] if "site:" in m["subject"] and "import_jobs" in m["subject"]]
    assert alerts, why(failed, lab.mail()[mails:])
    advice = alerts[-1]["body"]
    assert "trigger the DAG again" in advice and "airflow dags trigger replicate_site" in advice, advice
    assert re.search(r"(?i)do not clear the failed task", advice) and "(or clear" not in advice, advice
    # why clearing import_jobs could not work: the run's files are gone from the slave's share
    assert not [p.name for p in share(sites, "slave1").iterdir() if p.name.startswith("dsrepl_site_")]
    held = account(before, snapshot(lab, "slave1")).held
    assert held > 0, why(failed, "the crashed import should hold history in the backup")

    # exactly what the alert says: trigger the DAG again
    recovery = sites.run("site")
    assert recovery["state"] == "success", why(recovery)
    after = snapshot(lab, "slave1")
    audit = account(before, after)
    assert audit.lost == 0 and audit.detail_lost == 0 and audit.held == 0, why(recovery, audit)
    assert "ds_replication_event_schedule_backup" not in after.tables


# --- the tools we cannot see ----------------------------------------------------------------------


def test_a_short_export_is_refused_before_anything_changes_on_the_slave(sites):
    lab = sites.lab
    before = snapshot(lab, "slave1")
    jobs = lab.sql("slave1", "SELECT * FROM event ORDER BY event_id")
    lab.fault("master", "axexport_short", times=2, match="axexport")
    result = sites.run("site")
    states = {t: s["state"] for t, s in result["tasks"].items()}
    assert result["state"] == "failed" and states["export_jobs"] == "failed", why(result)
    assert states["import_jobs"] != "success" and states["backup_history"] != "success", why(result)
    assert "export is refused and nothing is imported" in result["log"], why(result)
    after = snapshot(lab, "slave1")
    assert after.schedule == before.schedule and after.info == before.info, why(result)
    assert lab.sql("slave1", "SELECT * FROM event ORDER BY event_id") == jobs, why(result)
    assert "ds_replication_event_schedule_backup" not in after.tables


# --- the run's own bound ------------------------------------------------------------------------


def test_a_run_stopped_at_its_bound_sends_an_alert(sites, monkeypatch):
    """The DAG's failure callback, called as Airflow calls it when dagrun_timeout stops a run
    (reason `timed_out`), mails the slave's admins through the lab's SMTP sink."""
    for key, value in sites.env.items():
        if key.startswith("AIRFLOW_CONN_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("DS_REPLICATION_CONFIG", str(sites.config_path))
    from ds_replication.factory import build_dags

    dag = build_dags()["replicate_site"]
    lab = sites.lab
    mails = len(lab.mail())
    run_id = "scheduled__2026-01-02T02:00:00+00:00"
    dag.on_failure_callback({"dag": dag, "run_id": run_id, "reason": "task_failure"})
    assert lab.mail()[mails:] == [], "a failed step alerts through its own callback, not the DAG's"
    dag.on_failure_callback({"dag": dag, "run_id": run_id, "reason": "timed_out"})
    alerts = lab.mail()[mails:]
    assert len(alerts) == 1, alerts
    minutes = f"{dag.dagrun_timeout.total_seconds() / 60:g}"
    assert alerts[0]["subject"].startswith(f"[DS replication] site: run stopped after {minutes} min"), alerts[0]
    body = alerts[0]["body"]
    for words in (run_id, "airflow pools list", "ds_export_master", "airflow dags trigger replicate_site"):
        assert words in body, (words, body)
    assert "History rows held in ds_replication_event_schedule_backup: 0" in body, body


# --- time bounds that fit the work -------------------------------------------------------------


def test_slow_folders_are_imported_within_the_bound_of_import_jobs(sites):
    """Each aximport takes 8 s, well within its command timeout (18 s), and so did the old check
    (command 18 s < task 21 s); three of them one after the other outlast a task timeout that
    ignores the folder count. import_jobs' bound counts them: the first try imports all three."""
    saved = sites.config_path.read_text()
    config = yaml.safe_load(saved)
    config["defaults"].update(
        {
            "command_timeout_minutes": 0.3,
            "task_timeout_minutes": 0.35,
            "folders": [
                {"name": "Global", "subfolders": True},
                {"name": "Drivers", "subfolders": False},
                {"name": "Master-only", "subfolders": True},
            ],
        }
    )
    sites.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        sites.lab.fault("slave1", "aximport_slow", times=6, match="aximport")
        result = sites.run("site")
    finally:
        sites.config_path.write_text(saved)
    assert result["state"] == "success", why(result)
    assert result["tasks"]["import_jobs"]["try_number"] == 1, why(result)
    assert len(result["xcom"]["import_jobs"]["files"]) == 3, why(result)
