"""What the end-to-end scenario modules share: running a night and auditing what it did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ds_replication.factory import TASK_IDS
from tests.history_audit import account, slave_folders, snapshot

SLAVE = "slave1"
TASKS = TASK_IDS
# from backup_history to verify_history: the steps a dry run skips
SLAVE_CHANGING_TASKS = TASK_IDS[TASK_IDS.index("backup_history") : TASK_IDS.index("verify_history") + 1]
RUN_TABLES = (
    "ds_replication_event_schedule_backup",
    "ds_replication_event_schedule_info_backup",
    "ds_replication_fingerprint",
)
JOB_TABLES = ("event", "event_condition", "install_task", "script_task")


def states(result: dict) -> dict[str, str]:
    return {task: ti["state"] for task, ti in sorted(result["tasks"].items())}


def why(result: dict, *extra: Any) -> str:
    """What a failed assertion should show: the run, its task states, the tail of its log."""
    lines = [f"run {result.get('run_id')}: {result.get('state')}", f"tasks: {states(result)}"]
    lines += [repr(e) for e in extra]
    lines.append("log tail:\n" + result.get("log", "")[-4000:])
    return "\n".join(lines)


def assert_succeeded(result: dict) -> None:
    assert result["state"] == "success", why(result)
    assert set(states(result)) == set(TASKS), why(result)
    assert set(states(result).values()) == {"success"}, why(result)


def folder(estate, name: str) -> dict:
    found = [f for f in slave_folders(estate.config_path, SLAVE) if f["name"] == name]
    assert found, f"folder {name!r} not configured: {slave_folders(estate.config_path, SLAVE)}"
    return found[0]


def job_rows(lab, host: str, event_ids: set[int] | None = None) -> dict[str, list]:
    """The job tables' rows (of `event_ids`, or all), for comparing hosts or moments."""
    where = ""
    if event_ids is not None:
        if not event_ids:
            return {}
        where = f" WHERE event_id IN ({', '.join(str(i) for i in sorted(event_ids))})"
    out = {}
    for table in JOB_TABLES:
        order = {"event": "event_id", "event_condition": "event_id, expression"}.get(table, "event_id, seq")
        rows = lab.sql(host, f"SELECT * FROM [{table}]{where} ORDER BY {order}")
        # task and condition ids are the tool's business; compare what the job is
        out[table] = [{k: v for k, v in r.items() if k not in ("task_id", "condition_id")} for r in rows]
    return out


def run_and_audit(estate, conf: dict | None = None) -> dict:
    lab = estate.lab
    before = snapshot(lab, SLAVE)
    jobs_before = job_rows(lab, SLAVE)
    result = estate.run(SLAVE, conf)
    return {
        "before": before,
        "after": snapshot(lab, SLAVE),
        "jobs_before": jobs_before,
        "jobs_after": job_rows(lab, SLAVE),
        "result": result,
    }


def parts(run: dict) -> tuple:
    return run["before"], run["after"], run["result"]


def history_of(snap, event_ids: set[int]) -> dict[tuple, dict]:
    return {k: r for k, r in snap.schedule.items() if r["event_id"] in event_ids}


def run_files_left(lab) -> dict[str, list[str]]:
    left = {}
    for host, info in lab.info["hosts"].items():
        names = sorted(p.name for p in Path(info["share_dir"]).iterdir() if p.name.startswith("dsrepl_"))
        if names:
            left[host] = names
    return left


def assert_nothing_lost(run: dict) -> None:
    audit = account(run["before"], run["after"])
    assert audit.lost == 0 and audit.detail_lost == 0 and audit.held == 0, why(run["result"], audit)
    assert audit.before > 0 and audit.detail_before > 0, audit


def assert_run_tables_gone(run: dict) -> None:
    left = set(RUN_TABLES) & run["after"].tables
    assert not left, why(run["result"], f"tables of the run left on the slave: {sorted(left)}")
