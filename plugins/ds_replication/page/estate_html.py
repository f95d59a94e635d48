"""The replication page's estate view: one section per slave, each made of SLAVE_SECTIONS in
order (a function of the slave's row and the links, returning HTML or ''): a new part of a
slave's section is one function added to that tuple."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from ds_replication.page.night_chart import COLOURS, night_chart
from ds_replication.page.page_html import (
    Links,
    document,
    figure,
    file_name,
    state_badge,
    trigger_button,
    when,
)
from ds_replication.page.run_figures import RunFigures, RunRecord, SlaveRow, figures

# What each figure means (shown under the page, and as each figure's hover text).
MEANINGS = {
    "jobs_imported": ("Jobs imported", "jobs in the slave's folders after the import (wait_for_import)"),
    "backed_up": ("Backed up", "live history rows copied into the backup before the import (backup_history)"),
    "restored": ("Restored", "history rows the import deleted and the run put back (restore_history)"),
    "archived": ("Archived", "rows of jobs gone from the slave, moved to the archive table (verify_history)"),
    "never_deleted": (
        "Never deleted",
        "backed-up rows the import did not delete (jobs outside the imported folders): still live; "
        "backed up minus restored, archived and lost",
    ),
    "lost": ("Lost", "rows neither live nor archived (verify_history; always 0 on a good night)"),
    "held_now": ("Held now", "history rows held in the slave's backup table now, as last counted"),
    "changed_jobs": ("Changed jobs", "jobs whose content changed in the import (restore_history)"),
    "alerts": ("Alerts", "alert mails the run sent"),
}


def _figure(name: str, value: object, title: str = "", css: str = "") -> str:
    label, meaning = MEANINGS[name]
    return figure(name, label, value, title or meaning, css)


def slave_head(row: SlaveRow, links: Links) -> str:
    """The slave, its DAG (linked), folders, schedule, next run, paused or not."""
    facts = row.dag
    state = ""
    dag_link = f'<a href="{escape(links.dag_page(row.dag_id))}" data-link="dag">{escape(row.dag_id)}</a>'
    parts = [f"<span>DAG {dag_link}</span>"]
    if facts is not None:
        state = '<span class="paused">paused</span>' if facts.paused else '<span class="active">active</span>'
        folders = ", ".join(facts.folders) or "none"
        parts.append(f'<span data-fact="folders">folders {escape(folders)}</span>')
        schedule = facts.schedule_text or facts.schedule or "none"
        cron = f" <small>({escape(facts.schedule)})</small>" if facts.schedule and facts.schedule_text else ""
        parts.append(f'<span data-fact="schedule">schedule {escape(schedule)}{cron}</span>')
        next_run = when(facts.next_run) if facts.next_run else "none"
        next_run = "none while paused" if facts.paused else next_run
        parts.append(f'<span data-fact="next_run">next run {next_run}</span>')
    return f'<h2>{escape(row.slave)} <span data-fact="paused">{state}</span></h2><p class="facts">{"".join(parts)}</p>'


def action(row: SlaveRow, links: Links, label: str, conf: dict[str, Any], confirm: str = "") -> str:
    """A trigger button, only for a user who may trigger runs of the DAG (slave_section says
    why the others see none): Airflow would refuse their click with 403."""
    if not row.may_trigger:
        return ""
    return trigger_button(row.dag_id, links, label, conf, bool(row.dag and row.dag.paused), confirm)


def empty_state(row: SlaveRow, links: Links) -> str:
    """No run at all yet: start with a dry run."""
    if row.runs:
        return ""
    paused = bool(row.dag and row.dag.paused)
    return (
        '<div class="empty" data-empty="1"><p><b>No run yet: trigger a dry run first.</b> It exports and copies '
        "the jobs and changes nothing on the slave; its figures show here.</p>"
        + action(row, links, "Trigger a dry run", {"dry_run": True})
        + (
            '<p class="hint">The DAG is paused: the run waits until you unpause it '
            f'(<a href="{escape(links.dag_page(row.dag_id))}">its DAG page</a>).</p>'
            if paused
            else ""
        )
        + "</div>"
    )


def figures_list(f: RunFigures, held_now: int | None, held_source: str) -> str:
    return (
        '<dl class="figures">'
        + _figure("jobs_imported", f.jobs_imported)
        + _figure("backed_up", f.backed_up)
        + _figure("restored", f.restored)
        + _figure("archived", f.archived)
        + _figure("never_deleted", f.never_deleted)
        + _figure("lost", f.lost, css="lost" if f.lost else "")
        + _figure("held_now", held_now, f"{MEANINGS['held_now'][1]}: {held_source}", "held" if held_now else "")
        + _figure("changed_jobs", f.changed_jobs, ", ".join(f.changed_job_names))
        + _figure("alerts", len(f.alerts), "; ".join(a.get("subject", "") for a in f.alerts))
        + "</dl>"
    )


def figures_sum(f: RunFigures) -> str:
    """The figures add up: backed up = restored + archived + never deleted (+ lost)."""
    if f.never_deleted is None:
        return ""
    lost = f" + lost {f.lost}" if f.lost else ""
    return (
        f'<p class="sum" data-sum="1">Backed up {f.backed_up} = restored {f.restored} + archived {f.archived} '
        f"+ never deleted {f.never_deleted}{lost} <small>(never deleted: rows of jobs outside the imported "
        "folders, which the import left live)</small></p>"
    )


def failure(record: RunRecord, f: RunFigures, links: Links) -> str:
    """A failed run: each failed task's error, and the job archive kept before the import."""
    if record.state != "failed":
        return ""
    errors = (
        "".join(
            f'<p data-error="{escape(task_id)}"><b>{escape(task_id)}</b> failed '
            f'(<a href="{escape(links.task_log(record.dag_id, record.run_id, task_id))}">its log</a>):</p>'
            f"<pre>{escape(text)}</pre>"
            for task_id, text in f.errors.items()
        )
        or "<p>The run failed; no task recorded an error (the run's time bound? see its Airflow run page).</p>"
    )
    archive = ""
    if f.archive_files:
        files = "".join(f"<li>{file_name(name)}</li>" for name in f.archive_files)
        archive = (
            "<p>The slave's own jobs from before this run, kept by import_jobs before it imported (the only "
            "copy of them; folder: file in the slave's DS folder):</p>"
            f'<ul data-figure="archive_files">{files}</ul>'
        )
    return f'<div class="error">{errors}{archive}</div>'


def last_real_run(row: SlaveRow, links: Links) -> str:
    if row.last is None or row.figures is None:
        return "" if not row.runs else '<p class="hint">No real run yet (dry runs only).</p>'
    last, f = row.last, row.figures
    held_source = f"as of run {row.held_run.run_id}" if row.held_run else "no run has counted it yet"
    head = (
        f'<h3>Last real run: <a href="{escape(links.run_view(last.dag_id, last.run_id))}" data-figure="run_id">'
        f"{escape(last.run_id)}</a> {state_badge(last.state)}</h3>"
        f'<p class="meta">{when(last.when)} &middot; <a href="{escape(links.run_page(last.dag_id, last.run_id))}" '
        'data-link="run_page">Airflow run page</a> &middot; '
        f'<a href="{escape(links.run_view(last.dag_id, last.run_id))}">what this run did</a></p>'
    )
    new_run = action(row, links, "Trigger a new run", {}) if last.state == "failed" else ""
    return head + figures_list(f, row.held, held_source) + figures_sum(f) + failure(last, f, links) + new_run


def dry_run_outcome(f: RunFigures) -> str:
    """What a dry run would have done: the jobs it would have imported, per folder."""
    if not f.master_jobs:
        return "stopped before its export"
    jobs = sum(f.master_jobs.values())
    folders = ", ".join(f"{name} {n}" for name, n in f.master_jobs.items())
    copied = f", {f.copied_bytes} bytes copied to the slave's share" if f.copied_bytes is not None else ""
    return (
        f"would import {jobs} job{'' if jobs == 1 else 's'} ({folders}) with aximport /o, after archiving the "
        f"slave's own jobs of those folders and backing up their history{copied}; nothing changed on the slave"
    )


def dry_runs(row: SlaveRow, links: Links) -> str:
    if not row.dry_runs:
        return ""
    items = "".join(
        f'<li data-dry-run="{escape(r.run_id)}"><span class="dry">dry run</span> '
        f'<a href="{escape(links.run_view(r.dag_id, r.run_id))}">{escape(r.run_id)}</a> {state_badge(r.state)} '
        f"{when(r.when)}: {escape(dry_run_outcome(figures(r)))}</li>"
        for r in row.dry_runs
    )
    return f"<h3>Dry runs</h3><ul>{items}</ul>"


def job_archives(row: SlaveRow, links: Links) -> str:
    """The runs whose job archive a rollback can import (param rollback_to), each with a button
    that triggers it: Airflow 3.3's trigger form can neither list them (its params are fixed
    when the DAG file is parsed) nor be opened prefilled from a link."""
    if not row.archives:
        return ""
    items = "".join(
        f'<li data-archive="{escape(r.run_id)}"><a href="{escape(links.run_view(r.dag_id, r.run_id))}">'
        f"{escape(r.run_id)}</a> {when(r.when)}: {'; '.join(file_name(f) for f in figures(r).archive_files)}"
        + action(
            row,
            links,
            "Roll back to these jobs",
            {"rollback_to": r.run_id},
            confirm=f"Replace the jobs of slave {row.slave} with those it had before run {r.run_id}?",
        )
        + "</li>"
        for r in row.archives
    )
    return (
        "<h3>Job archives</h3>"
        '<p class="hint">The slave\'s own jobs as each run found them before its import, newest first. '
        '"Roll back to these jobs" triggers a run that imports them instead of the master\'s (param '
        "rollback_to: the run id); history is kept as on any night. Archives the retention has removed are "
        "not listed (a rollback to one is refused by name).</p>"
        f"<ul>{items}</ul>"
    )


def chart(row: SlaveRow, links: Links) -> str:
    if not row.nights:
        return ""
    legend = "".join(f'<span style="background:{c}"></span>{escape(n)}' for n, c in COLOURS.items())
    svg = night_chart(row.nights, lambda run_id: links.run_view(row.dag_id, run_id))
    return f'<h3>Last 30 nights <small class="legend">history rows:{legend}</small></h3>{svg}'


# A slave's section, in order. Each: (row, links) -> HTML ('' to show nothing).
SLAVE_SECTIONS: tuple[Callable[[SlaveRow, Links], str], ...] = (
    slave_head,
    empty_state,
    last_real_run,
    dry_runs,
    job_archives,
    chart,
)


def slave_section(row: SlaveRow, links: Links) -> str:
    body = "".join(section(row, links) for section in SLAVE_SECTIONS)
    if not row.may_trigger:
        body += (
            '<p class="hint" data-no-trigger="1">Your Airflow user may not trigger runs of this DAG, so the page '
            "offers no run buttons here (an administrator can give you a role that may).</p>"
        )
    return f'<section class="slave" data-slave="{escape(row.slave)}">{body}</section>'


def estate_page(rows: list[SlaveRow], user: str, links: Links) -> str:
    body = "".join(slave_section(row, links) for row in rows) or (
        '<p class="empty">No replication DAG found (tag ds-replication) that you may read.</p>'
    )
    explained = "".join(f"<dt>{escape(label)}</dt><dd>{escape(why)}</dd>" for label, why in MEANINGS.values())
    return document(
        "DS replication",
        '<nav class="top"><a href="' + escape(links.ui_root + "/dags?tags=ds-replication") + '">Airflow: the DAGs</a>'
        f'<a href="{escape(links.ui_root + "/")}">Airflow home</a></nav>'
        "<h1>DS replication</h1>"
        f'<p class="meta">Every slave at a glance, from the runs\' task XComs. Signed in as {escape(user)}; '
        'times in <span data-zone="1">UTC</span>.</p>'
        f'<div id="estate">{body}</div>'
        f"<details><summary>What each figure means</summary><dl>{explained}</dl></details>",
    )
