"""One run's figures as the replication page shows them, taken from its task XComs (plain data
in, plain data out: the XCom keys are the operators', see plugins/ds_replication/operators)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ds_replication.config import STEP_IDS
from ds_replication.run_files import run_key

# XCom keys beside return_value: the alert a task sent (with the rows held when it was sent),
# the figures of a verification that found rows lost (notifications/mail.py, verify_history.py),
# the job archive import_jobs kept before it imported (operators/import_jobs.py), and the error of
# a failed task (notifications/task_error.py).
ALERT_KEY = "alert"
LOST_FIGURES_KEY = "figures"
ARCHIVE_KEY = "archive"
ERROR_KEY = "error"
RETURN_KEY = "return_value"
# The steps of a run in order (config.STEP_IDS, which factory.TASK_IDS equals, without cleanup),
# and where each counts held rows.
STEP_ORDER = tuple(step for step in STEP_IDS if step != "cleanup")
HELD_KEYS = {"preflight": "leftover_rows", "backup_history": "held_rows", "restore_history": "held_rows"}


@dataclass
class RunRecord:
    """A run of a replication DAG as the metadata DB holds it."""

    dag_id: str
    run_id: str
    state: str
    conf: dict[str, Any]
    run_after: dt.datetime | None = None
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None
    tasks: dict[str, str] = field(default_factory=dict)  # task_id -> state
    xcoms: dict[str, dict[str, Any]] = field(default_factory=dict)  # task_id -> key -> value

    @property
    def dry_run(self) -> bool:
        return bool((self.conf or {}).get("dry_run"))

    @property
    def when(self) -> dt.datetime | None:
        return self.end_date or self.start_date or self.run_after

    def value(self, task_id: str, key: str = RETURN_KEY) -> Any:
        return self.xcoms.get(task_id, {}).get(key)


@dataclass
class RunFigures:
    """What a run did; None where the run did not get that far (or was a dry run)."""

    jobs_imported: int | None
    jobs_by_folder: dict[str, int]
    backed_up: int | None
    restored: int | None
    restored_detail: int | None
    restored_at_preflight: int | None
    archived: int | None
    lost: int | None
    changed_jobs: int | None
    changed_job_names: list[str]
    archive_files: list[str]
    held: int | None  # rows held in the backup at the last point the run recorded
    held_at: str | None  # the task that recorded `held`
    alerts: list[dict[str, Any]]
    failed_tasks: list[str]
    errors: dict[str, str]  # failed task -> its error text, as the task recorded it
    master_jobs: dict[str, int]  # folder -> jobs exported from the master (export_jobs)
    copied_bytes: int | None  # bytes copied to the slave's share (copy_to_slave)
    # held rows another session than aximport deleted (the DS console's...), kept and restored
    outside_import: int | None = None

    @property
    def never_deleted(self) -> int | None:
        """Backed-up rows the import never deleted (jobs outside the imported folders: still live),
        so that backed up = restored + archived + never deleted (+ lost); None unless all known."""
        parts = (self.backed_up, self.restored, self.archived, self.lost)
        if any(p is None for p in parts):
            return None
        rest = self.backed_up - self.restored - self.archived - self.lost
        return rest if rest >= 0 else None


def _figure(record: RunRecord, task_id: str, key: str) -> int | None:
    value = record.value(task_id)
    if isinstance(value, dict) and isinstance(value.get(key), int):
        return value[key]
    return None


def held_figure(record: RunRecord) -> tuple[int | None, str | None]:
    """The rows held in the slave's backup as this run last recorded them, and the step that
    recorded it: preflight's count of a leftover backup, after the backup, after the restore,
    none once verified; a failed step's alert counted them when it failed (a failed task leaves
    no return value)."""
    held: tuple[int | None, str | None] = (None, None)
    for task_id in STEP_ORDER:
        if task_id in HELD_KEYS and (value := _figure(record, task_id, HELD_KEYS[task_id])) is not None:
            held = (value, task_id)
        if task_id == "verify_history" and record.tasks.get(task_id) == "success":
            held = (0, task_id)
        alert = record.value(task_id, ALERT_KEY)
        if isinstance(alert, dict) and isinstance(alert.get("held_rows"), int):
            held = (alert["held_rows"], task_id)
    return held


def alerts_of(record: RunRecord) -> list[dict[str, Any]]:
    """The alerts the run's tasks recorded, in step order."""
    return [
        {"task_id": task_id, **record.xcoms[task_id][ALERT_KEY]}
        for task_id in STEP_ORDER
        if isinstance(record.value(task_id, ALERT_KEY), dict)
    ]


def figures(record: RunRecord) -> RunFigures:
    imported = record.value("wait_for_import")
    by_folder = dict(imported.get("slave_jobs") or {}) if isinstance(imported, dict) else {}
    restore = record.value("restore_history")
    changed_names = list(restore.get("changed_job_names") or []) if isinstance(restore, dict) else []
    imports = record.value("import_jobs")
    archive = imports.get("archive") if isinstance(imports, dict) else None
    if not isinstance(archive, dict):  # a failed import leaves no return value: the archive it kept first
        archive = record.value("import_jobs", ARCHIVE_KEY)
    export = record.value("export_jobs")
    master_jobs = dict(export.get("master_jobs") or {}) if isinstance(export, dict) else {}
    copied = _figure(record, "copy_to_slave", "bytes")
    lost = _figure(record, "verify_history", "lost_rows")
    lost_figures = record.value("verify_history", LOST_FIGURES_KEY)
    if lost is None and isinstance(lost_figures, dict) and isinstance(lost_figures.get("lost_rows"), int):
        lost = lost_figures["lost_rows"]
    held, held_at = held_figure(record)
    preflight_restored = _figure(record, "preflight", "restored_rows")
    return RunFigures(
        jobs_imported=sum(by_folder.values()) if by_folder else None,
        jobs_by_folder=by_folder,
        backed_up=_figure(record, "backup_history", "backed_up_rows"),
        restored=_figure(record, "restore_history", "restored_rows"),
        restored_detail=_figure(record, "restore_history", "restored_detail_rows"),
        restored_at_preflight=preflight_restored,
        archived=_figure(record, "verify_history", "archived_rows"),
        lost=lost,
        changed_jobs=_figure(record, "restore_history", "changed_jobs"),
        changed_job_names=changed_names,
        archive_files=archive_files(archive),
        held=held,
        held_at=held_at,
        alerts=alerts_of(record),
        failed_tasks=sorted(t for t, state in record.tasks.items() if state in ("failed", "upstream_failed")),
        errors=errors_of(record),
        master_jobs=master_jobs,
        copied_bytes=copied,
        outside_import=_figure(record, "restore_history", "outside_import_rows"),
    )


def archive_files(archive: Any) -> list[str]:
    """The job archive's files, whole: 'folder: path' per archived folder."""
    if not isinstance(archive, dict):
        return []
    return [f"{folder}: {entry['file']}" for folder, entry in archive.items() if isinstance(entry, dict)]


def errors_of(record: RunRecord) -> dict[str, str]:
    """The failed tasks' error texts in step order: the one the task recorded, else its alert's."""
    out = {}
    for task_id in sorted(record.tasks, key=lambda t: STEP_ORDER.index(t) if t in STEP_ORDER else len(STEP_ORDER)):
        if record.tasks[task_id] != "failed":
            continue
        error = record.value(task_id, ERROR_KEY)
        alert = record.value(task_id, ALERT_KEY)
        if not isinstance(error, str) and isinstance(alert, dict):
            error = alert.get("error")
        out[task_id] = error if isinstance(error, str) else "no error recorded: see the task's log"
    return out


def held_now(records: list[RunRecord]) -> tuple[int | None, RunRecord | None]:
    """The rows held in the slave's backup now: the figure of the newest run (dry runs too:
    their preflight counts them) that recorded one; `records` newest first."""
    for record in records:
        held, _ = held_figure(record)
        if held is not None:
            return held, record
    return None, None


def last_real_run(records: list[RunRecord]) -> RunRecord | None:
    """The newest run that was not a dry run; `records` newest first."""
    return next((r for r in records if not r.dry_run), None)


@dataclass
class Night:
    """One real run in the slave's chart: history rows kept, held at its end, lost."""

    run_id: str
    state: str
    when: dt.datetime | None
    kept: int
    held: int
    lost: int


def nights(records: list[RunRecord], count: int = 30) -> list[Night]:
    """The last `count` real runs, oldest first, for the chart."""
    out = []
    for record in [r for r in records if not r.dry_run][:count]:
        f = figures(record)
        held, lost = f.held or 0, f.lost or 0
        kept = max((f.backed_up or 0) - held - lost, 0)
        out.append(Night(record.run_id, record.state, record.when, kept, held, lost))
    return out[::-1]


@dataclass
class SlaveRow:
    """A slave's line on the estate page."""

    slave: str
    dag_id: str
    last: RunRecord | None  # the last real (not dry) run
    figures: RunFigures | None  # of `last`
    held: int | None  # rows held in the backup now
    held_run: RunRecord | None  # the run that recorded `held`
    nights: list[Night]
    dry_runs: list[RunRecord] = field(default_factory=list)  # the newest dry runs, newest first
    dag: DagFacts | None = None
    runs: int = 0  # runs of any kind
    archives: list[RunRecord] = field(default_factory=list)  # the newest runs that kept a job archive
    may_trigger: bool = True  # the signed-in user may trigger runs of the DAG (its buttons shown)


@dataclass
class DagFacts:
    """What the slave's DAG says about itself (the metadata DB's DAG row and its trigger form)."""

    folders: list[str]
    schedule: str | None  # the cron, as Airflow's summary
    schedule_text: str | None  # Airflow's description of it ("At 02:00")
    next_run: dt.datetime | None
    paused: bool


DRY_RUNS_SHOWN = 5
ARCHIVES_SHOWN = 10


def removed_archives(records: list[RunRecord]) -> set[str]:
    """The run keys of the archives a cleanup's retention removed: no rollback can import them."""
    reports = [(r.value("cleanup") or {}).get("retention") for r in records]
    return {a["run_key"] for report in reports if isinstance(report, dict) for a in report.get("removed", [])}


def slave_row(slave: str, dag_id: str, records: list[RunRecord], dag: DagFacts | None = None) -> SlaveRow:
    """`records`: the DAG's runs, newest first."""
    last = last_real_run(records)
    held, held_run = held_now(records)
    dry = [r for r in records if r.dry_run][:DRY_RUNS_SHOWN]
    gone = removed_archives(records)
    archives = [r for r in records if not r.dry_run and figures(r).archive_files and run_key(r.run_id) not in gone][
        :ARCHIVES_SHOWN
    ]
    last_figures = figures(last) if last else None
    return SlaveRow(
        slave, dag_id, last, last_figures, held, held_run, nights(records), dry, dag, len(records), archives
    )
