"""The replication page's view of one run ("What this run did"), made of RUN_SECTIONS in order
(a function of the run, its figures and the links, returning HTML or ''): a new part of the
view is one function added to that tuple."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from ds_replication.page.estate_html import dry_run_outcome, failure, figures_sum
from ds_replication.page.page_html import Links, document, figure, file_name, state_badge, when
from ds_replication.page.run_figures import STEP_ORDER, RunFigures, RunRecord, figures


def _figure_rows(f: RunFigures) -> list[tuple[str, str, Any, str]]:
    """(name, label, value, where it comes from)."""
    return [
        ("jobs_imported", "Jobs imported", f.jobs_imported, "wait_for_import: slave_jobs, summed"),
        ("backed_up", "History rows backed up", f.backed_up, "backup_history: backed_up_rows"),
        ("restored_at_preflight", "Rows put back by preflight", f.restored_at_preflight, "preflight: restored_rows"),
        ("restored", "History rows restored", f.restored, "restore_history: restored_rows"),
        ("restored_detail", "Detail rows restored", f.restored_detail, "restore_history: restored_detail_rows"),
        ("archived", "Rows archived (job gone)", f.archived, "verify_history: archived_rows"),
        ("never_deleted", "Rows never deleted", f.never_deleted, "backed up - restored - archived - lost"),
        ("lost", "Rows lost", f.lost, "verify_history: lost_rows"),
        ("held", "Rows held in the backup at the end", f.held, f"recorded by {f.held_at or 'no step'}"),
        ("changed_jobs", "Changed jobs", f.changed_jobs, "restore_history: changed_jobs"),
        (
            "outside_import",
            "Held rows deleted by another session than aximport",
            f.outside_import,
            "restore_history: outside_import_rows (restored like the others; its log names each session)",
        ),
    ]


def heading(record: RunRecord, f: RunFigures, links: Links) -> str:
    dry = ' <span class="dry">dry run</span>' if record.dry_run else ""
    return (
        f'<nav class="top"><a href="{escape(links.estate())}">&larr; every slave</a>'
        f'<a href="{escape(links.dag_page(record.dag_id))}">the DAG</a>'
        f'<a href="{escape(links.run_page(record.dag_id, record.run_id))}" data-link="run_page">Airflow run page</a>'
        "</nav>"
        f"<h1>What this run did</h1>"
        f'<p class="meta">{escape(record.dag_id)} &middot; <span data-figure="run_id">{escape(record.run_id)}</span> '
        f"&middot; {state_badge(record.state)}{dry} &middot; {when(record.when)}</p>"
    )


def dry_run(record: RunRecord, f: RunFigures, links: Links) -> str:
    if not record.dry_run:
        return ""
    return f'<p class="empty" data-dry-run="{escape(record.run_id)}">This dry run {escape(dry_run_outcome(f))}.</p>'


def rollback(record: RunRecord, f: RunFigures, links: Links) -> str:
    """A rollback run: whose job archive it imported instead of the master's jobs."""
    to = (record.conf or {}).get("rollback_to")
    if not to:
        return ""
    return (
        f'<p class="empty" data-rollback="{escape(str(to))}">A rollback: this run imported the slave\'s own jobs '
        f"as run {escape(str(to))} kept them before its import, not the master's.</p>"
    )


def approval(record: RunRecord, f: RunFigures, links: Links) -> str:
    """approve_changes: whether the run asked before importing, the answer, and about which jobs."""
    outcome = record.value("approve_changes")
    if not isinstance(outcome, dict) or not outcome.get("asked"):
        return ""
    if outcome.get("approved"):
        said = f"approved by {escape(str(outcome.get('answered_by')))}: imported"
    elif outcome.get("timed_out"):
        said = "not answered in time: nothing imported, nothing changed on the slave"
    else:
        said = f"rejected by {escape(str(outcome.get('answered_by')))}: nothing imported, nothing changed on the slave"
    jobs = "".join(
        f"<li>{escape(c['folder'])}\\{escape(c['job'])}: {escape(c['change'])}</li>" for c in outcome["local_changes"]
    )
    answer = "approved" if outcome.get("approved") else "rejected"
    return f'<h3>Approval</h3><p data-approval="{answer}">{said}</p><ul>{jobs}</ul>'


def retention(record: RunRecord, f: RunFigures, links: Links) -> str:
    """The cleanup's retention: the job archives it kept and removed, the archive-table rows removed."""
    kept = (record.value("cleanup") or {}).get("retention")
    if not isinstance(kept, dict) or "kept" not in kept:
        return ""
    rows = ", ".join(f"{escape(table)} {n}" for table, n in kept.get("archive_rows_removed", {}).items()) or "none"
    return (
        f'<h3>Retention</h3><p data-retention="kept">Job archives kept: {len(kept["kept"])} '
        f"({', '.join(escape(a['date']) for a in kept['kept']) or 'none'}); removed: {len(kept.get('removed', []))}. "
        f"Archive-table rows archived before {escape(str(kept.get('rows_archived_before', '-')))} removed: {rows}.</p>"
    )


def figure_list(record: RunRecord, f: RunFigures, links: Links) -> str:
    items = "".join(figure(name, label, value, source) for name, label, value, source in _figure_rows(f))
    return f'<dl class="figures" id="figures">{items}</dl>{figures_sum(f)}'


def failed(record: RunRecord, f: RunFigures, links: Links) -> str:
    return failure(record, f, links)


def details(record: RunRecord, f: RunFigures, links: Links) -> str:
    folders = "".join(
        f"<li>{escape(name)}: {n} job{'' if n == 1 else 's'}</li>" for name, n in f.jobs_by_folder.items()
    )
    archive = "".join(f"<li>{file_name(name)}</li>" for name in f.archive_files)
    changed = "".join(f"<li>{escape(name)}</li>" for name in f.changed_job_names)
    alerts = "".join(
        f'<li data-alert="{escape(a["task_id"])}">{escape(a["task_id"])}: {escape(a.get("subject", ""))} '
        f"<small>to {escape(', '.join(a.get('to', [])))}</small></li>"
        for a in f.alerts
    )
    return (
        f"<h3>Jobs per folder</h3><ul>{folders or '<li>none imported</li>'}</ul>"
        f"<h3>Job archive</h3><ul>{archive or '<li>none</li>'}</ul>"
        f"<h3>Changed jobs</h3><ul>{changed or '<li>none</li>'}</ul>"
        f"<h3>Alerts sent</h3><ul>{alerts or '<li>none</li>'}</ul>"
    )


def tasks(record: RunRecord, f: RunFigures, links: Links) -> str:
    order = {task_id: n for n, task_id in enumerate(STEP_ORDER)}
    rows = "".join(
        f'<tr><td><a href="{escape(links.task_log(record.dag_id, record.run_id, task_id))}">{escape(task_id)}</a>'
        f"</td><td>{state_badge(record.tasks[task_id])}</td></tr>"
        for task_id in sorted(record.tasks, key=lambda t: (order.get(t, len(order)), t))
    )
    return f'<h3>Tasks</h3><table id="tasks">{rows}</table>'


# The run view, in order. Each: (record, its figures, links) -> HTML ('' to show nothing).
RUN_SECTIONS: tuple[Callable[[RunRecord, RunFigures, Links], str], ...] = (
    heading,
    dry_run,
    rollback,
    failed,
    approval,
    figure_list,
    details,
    retention,
    tasks,
)


def run_page(record: RunRecord, user: str, links: Links) -> str:
    f = figures(record)
    body = "".join(section(record, f, links) for section in RUN_SECTIONS)
    return document(
        f"DS replication: {record.run_id}",
        body + f'<p class="hint">Signed in as {escape(user)}; times in <span data-zone="1">UTC</span>.</p>',
    )
