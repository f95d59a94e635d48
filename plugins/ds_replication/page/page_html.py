"""The replication page as HTML (the estate, and one run), from plain data; every value escaped.
No connection data ever reaches these functions: only run ids, states and the XCom figures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from ds_replication.page.night_chart import COLOURS, night_chart
from ds_replication.page.run_figures import STEP_ORDER, RunFigures, RunRecord, SlaveRow, figures

STYLE = """
body { font-family: system-ui, sans-serif; font-size: 13px; margin: 16px; color: #1a1a1a; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 20px 0 6px; }
p.meta { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; } th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; vertical-align: top; }
th { text-align: left; background: #f4f4f4; font-weight: 600; }
td.when { white-space: nowrap; } td.files { max-width: 13em; overflow-wrap: anywhere; font-size: 12px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.state { border-radius: 4px; padding: 1px 6px; color: #fff; white-space: nowrap; }
.success { background: #3a7d44; } .failed { background: #c62828; } .running, .queued { background: #1565c0; }
.other { background: #777; } .dry { background: #777; color: #fff; border-radius: 4px; padding: 1px 6px; }
.held { color: #b26a00; font-weight: 600; } .lost { color: #c62828; font-weight: 600; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; }
small { color: #666; } details { margin-top: 16px; } summary { cursor: pointer; color: #555; }
"""

ESTATE_COLUMNS = (
    ("Slave", "the slave, its DAG"),
    ("Last real run", "the newest run that was not a dry run; the view of what it did"),
    ("State", "that run's state"),
    ("When", "when it ended (or started), UTC"),
    ("Jobs imported", "jobs in the slave's folders after the import (wait_for_import)"),
    ("Backed up", "live history rows copied into the backup before the import (backup_history)"),
    ("Restored", "history rows put back after the import (restore_history)"),
    ("Archived", "rows of jobs gone from the slave, moved to the archive table (verify_history)"),
    ("Lost", "rows neither live nor archived (verify_history; always 0 on a good night)"),
    ("Held now", "history rows held in the slave's backup table now, as last recorded"),
    ("Changed jobs", "jobs whose content changed in the import (restore_history)"),
    ("Job archive", "the file(s) the slave's own jobs were kept in before the import (import_jobs)"),
    ("Alerts", "alert mails the run sent"),
    ("Last 30 nights", "history rows kept (green), held (orange), lost (red); a red mark: the run failed"),
)


@dataclass(frozen=True)
class Links:
    """Where the page links to: `ui_root` is the Airflow UI's path ('' at the server's root),
    `page_root` the page's own app (ui_root + its url_prefix)."""

    ui_root: str
    page_root: str

    def run_page(self, dag_id: str, run_id: str) -> str:
        return f"{self.ui_root}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"

    def run_view(self, dag_id: str, run_id: str) -> str:
        return f"{self.page_root}/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"

    def estate(self) -> str:
        return f"{self.page_root}/"


def when(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def state_badge(state: str) -> str:
    css = state if state in ("success", "failed", "running", "queued") else "other"
    return f'<span class="state {css}">{escape(state)}</span>'


def number(value: int | None) -> str:
    return "" if value is None else str(value)


def cell(name: str, value: Any, css: str = "n", title: str = "") -> str:
    hint = f' title="{escape(title)}"' if title else ""
    shown = escape(number(value))
    return f'<td class="{css}"{hint} data-figure="{escape(name)}" data-value="{shown}">{shown}</td>'


def document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


def _held_cell(row: SlaveRow) -> str:
    held = row.held
    source = f"as of run {row.held_run.run_id}" if row.held_run else "no run has counted it yet"
    css = "n held" if held else "n"
    return cell("held_now", held, css, source)


def estate_row(row: SlaveRow, links: Links) -> str:
    def run_href(run_id: str) -> str:
        return links.run_view(row.dag_id, run_id)

    chart = night_chart(row.nights, run_href)
    head = f"<td><b>{escape(row.slave)}</b><br><small>{escape(row.dag_id)}</small></td>"
    if row.last is None or row.figures is None:
        empty = '<td colspan="8"><small>no real run yet</small></td>'  # up to Lost
        rest = '<td colspan="3"></td>'  # Changed jobs, Job archive, Alerts
        return f'<tr data-slave="{escape(row.slave)}">{head}{empty}{_held_cell(row)}{rest}<td>{chart}</td></tr>'
    last, f = row.last, row.figures
    run = (
        f'<a href="{escape(run_href(last.run_id))}" data-figure="run_id">{escape(last.run_id)}</a><br>'
        f'<small><a href="{escape(links.run_page(last.dag_id, last.run_id))}" target="_top">'
        "Airflow run page</a></small>"
    )
    changed_title = ", ".join(f.changed_job_names)
    cells = [
        head,
        f"<td>{run}</td>",
        f'<td data-figure="state">{state_badge(last.state)}</td>',
        f'<td class="when">{escape(when(last.when)).replace(" ", "<br>", 1)}</td>',
        cell("jobs_imported", f.jobs_imported),
        cell("backed_up", f.backed_up),
        cell("restored", f.restored),
        cell("archived", f.archived),
        cell("lost", f.lost, "n lost" if f.lost else "n"),
        _held_cell(row),
        cell("changed_jobs", f.changed_jobs, title=changed_title),
        f'<td class="files" data-figure="archive_files" title="{escape(", ".join(f.archive_files))}">'
        f"{'<br>'.join(escape(name.rsplit(chr(92), 1)[-1]) for name in f.archive_files)}</td>",
        cell("alerts", len(f.alerts), title="; ".join(a.get("subject", "") for a in f.alerts)),
        f"<td>{chart}</td>",
    ]
    return f'<tr data-slave="{escape(row.slave)}">{"".join(cells)}</tr>'


def estate_page(rows: list[SlaveRow], user: str, links: Links) -> str:
    header = "".join(f'<th title="{escape(why)}">{escape(name)}</th>' for name, why in ESTATE_COLUMNS)
    body = "".join(estate_row(row, links) for row in rows) or (
        f'<tr><td colspan="{len(ESTATE_COLUMNS)}">no replication DAG found (tag ds-replication)</td></tr>'
    )
    legend = "".join(f'<span style="background:{c}"></span>{escape(n)}' for n, c in COLOURS.items())
    explained = "".join(f"<dt>{escape(n)}</dt><dd>{escape(why)}</dd>" for n, why in ESTATE_COLUMNS)
    return document(
        "DS replication",
        f"<h1>DS replication</h1>"
        f'<p class="meta">Every slave at a glance; figures from the runs\' task XComs. Signed in as '
        f'{escape(user)}. <span class="legend">Chart:{legend}</span></p>'
        f'<table id="estate"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'
        f"<details><summary>What each column means</summary><dl>{explained}</dl></details>",
    )


def _figure_rows(f: RunFigures) -> list[tuple[str, str, Any, str]]:
    """(name, label, value, where it comes from)."""
    return [
        ("jobs_imported", "Jobs imported", f.jobs_imported, "wait_for_import: slave_jobs, summed"),
        ("backed_up", "History rows backed up", f.backed_up, "backup_history: backed_up_rows"),
        ("restored_at_preflight", "Rows put back by preflight", f.restored_at_preflight, "preflight: restored_rows"),
        ("restored", "History rows restored", f.restored, "restore_history: restored_rows"),
        ("restored_detail", "Detail rows restored", f.restored_detail, "restore_history: restored_detail_rows"),
        ("archived", "Rows archived (job gone)", f.archived, "verify_history: archived_rows"),
        ("lost", "Rows lost", f.lost, "verify_history: lost_rows"),
        ("held", "Rows held in the backup at the end", f.held, f"recorded by {f.held_at or 'no step'}"),
        ("changed_jobs", "Changed jobs", f.changed_jobs, "restore_history: changed_jobs"),
    ]


def run_page(record: RunRecord, user: str, links: Links) -> str:
    f = figures(record)
    dry = ' <span class="dry">dry run</span>' if record.dry_run else ""
    rows = "".join(
        f"<tr><th>{escape(label)}</th>{cell(name, value)}<td><small>{escape(source)}</small></td></tr>"
        for name, label, value, source in _figure_rows(f)
    )
    order = {task_id: n for n, task_id in enumerate(STEP_ORDER)}
    tasks = "".join(
        f"<tr><td>{escape(task_id)}</td><td>{state_badge(record.tasks[task_id])}</td></tr>"
        for task_id in sorted(record.tasks, key=lambda t: (order.get(t, len(order)), t))
    )
    folders = "".join(
        f"<li>{escape(name)}: {n} job{'' if n == 1 else 's'}</li>" for name, n in f.jobs_by_folder.items()
    )
    archive = "".join(f"<li>{escape(name)}</li>" for name in f.archive_files)
    changed = "".join(f"<li>{escape(name)}</li>" for name in f.changed_job_names)
    alerts = "".join(
        f'<li data-alert="{escape(a["task_id"])}">{escape(a["task_id"])}: {escape(a.get("subject", ""))} '
        f"<small>to {escape(', '.join(a.get('to', [])))}</small></li>"
        for a in f.alerts
    )
    return document(
        f"DS replication: {record.run_id}",
        f'<p><a href="{escape(links.estate())}">&larr; every slave</a></p>'
        f"<h1>What this run did</h1>"
        f'<p class="meta">{escape(record.dag_id)} &middot; <span data-figure="run_id">{escape(record.run_id)}</span> '
        f"&middot; {state_badge(record.state)}{dry} &middot; {escape(when(record.when))} &middot; "
        f'<a href="{escape(links.run_page(record.dag_id, record.run_id))}" target="_top">Airflow run page</a>'
        f" &middot; signed in as {escape(user)}</p>"
        f'<table id="figures">{rows}</table>'
        f"<h2>Jobs per folder</h2><ul>{folders or '<li>none imported</li>'}</ul>"
        f"<h2>Job archive</h2><ul>{archive or '<li>none</li>'}</ul>"
        f"<h2>Changed jobs</h2><ul>{changed or '<li>none</li>'}</ul>"
        f"<h2>Alerts sent</h2><ul>{alerts or '<li>none</li>'}</ul>"
        f'<h2>Tasks</h2><table id="tasks">{tasks}</table>',
    )
