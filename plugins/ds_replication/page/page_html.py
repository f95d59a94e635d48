"""What every view of the replication page shares: its links, times, badges, figures, and the
document around them (style and one small script). Every value is escaped. No connection data
ever reaches these functions: only run ids, states and the XCom figures.

The views themselves: estate_html (every slave) and run_html (one run); each is a list of
section functions, so that a new section is one function added to that list."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 0; padding: 12px; color: #1a1a1a;
  max-width: 1100px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 0 0 6px; } h2.section { margin-top: 18px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
p { margin: 4px 0; } p.meta, .facts { color: #444; } small, .hint { color: #666; }
a { color: #1565c0; }
nav.top { display: flex; flex-wrap: wrap; gap: 4px 14px; margin-bottom: 10px; }
section.slave { border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; margin: 12px 0; }
.facts { display: flex; flex-wrap: wrap; gap: 2px 16px; margin: 2px 0 8px; }
dl.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(8.5em, 1fr)); gap: 6px 12px;
  margin: 6px 0; }
dl.figures div { border-left: 3px solid #ddd; padding-left: 6px; }
dl.figures dt { color: #555; font-size: 12px; }
dl.figures dd { margin: 0; font-size: 17px; font-variant-numeric: tabular-nums; }
.sum { color: #333; margin: 6px 0; }
.state { border-radius: 4px; padding: 1px 6px; color: #fff; white-space: nowrap; }
.success { background: #3a7d44; } .failed { background: #c62828; } .running, .queued { background: #1565c0; }
.other { background: #777; } .dry { background: #6a4fb3; color: #fff; border-radius: 4px; padding: 1px 6px; }
.paused { background: #777; color: #fff; border-radius: 4px; padding: 1px 6px; font-size: 12px; }
.active { background: #3a7d44; color: #fff; border-radius: 4px; padding: 1px 6px; font-size: 12px; }
.held { color: #b26a00; } .lost { color: #c62828; }
.error { border-left: 4px solid #c62828; background: #fdecea; padding: 6px 10px; margin: 8px 0; }
.error pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 4px 0; font-size: 12px; }
.empty { border-left: 4px solid #1565c0; background: #e8f0fe; padding: 6px 10px; margin: 8px 0; }
code.file { overflow-wrap: anywhere; font-size: 12px; }
ul { margin: 4px 0; padding-left: 20px; }
button { font: inherit; padding: 4px 10px; border-radius: 4px; border: 1px solid #1565c0; background: #1565c0;
  color: #fff; cursor: pointer; }
button:disabled { opacity: .6; cursor: default; }
.outcome { margin-left: 8px; }
table { border-collapse: collapse; } th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }
svg.nights { max-width: 100%; height: auto; display: block; margin-top: 4px; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 8px; }
details { margin-top: 14px; } summary { cursor: pointer; color: #555; }
"""

# One script for every view:
# - Airflow's UI shows the run view in a sandboxed iframe without allow-top-navigation: the
#   frame may not navigate the window, so a link followed there would do nothing. A link
#   followed from the window's own document may: a click on a link is re-made there.
# - Times are written in UTC; shown in the operator's zone: the one chosen in Airflow's UI (its
#   local storage key "timezone", same origin), else the browser's.
# - "Trigger a new run" posts to Airflow's REST API as the signed-in user (the session cookie):
#   the user's own rights decide, as in Airflow's trigger form.
SCRIPT = r"""
(function () {
  if (window.top !== window) {
    document.addEventListener('click', function (event) {
      var link = event.target.closest('a[href]');
      if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey) return;
      var href = new URL(link.getAttribute('href'), location.href).href;
      event.preventDefault();
      var doc = window.top.document, top = doc.createElement('a');
      top.href = href; doc.body.appendChild(top); top.click(); top.remove();
    });
  }
  var zone;
  try { var chosen = localStorage.getItem('timezone'); zone = chosen ? JSON.parse(chosen) : undefined; } catch (e) {}
  zone = zone || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  function parts(iso, opts) {
    var out = {};
    new Intl.DateTimeFormat('en-CA', Object.assign({timeZone: zone, hourCycle: 'h23'}, opts))
      .formatToParts(new Date(iso)).forEach(function (p) { out[p.type] = p.value; });
    return out;
  }
  try {
    document.querySelectorAll('time[datetime]').forEach(function (el) {
      var p = parts(el.getAttribute('datetime'), {year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit', timeZoneName: 'short'});
      el.textContent = p.year + '-' + p.month + '-' + p.day + ' ' + p.hour + ':' + p.minute + ' ' + p.timeZoneName;
      el.title = zone;
    });
    document.querySelectorAll('[data-date]').forEach(function (el) {
      var p = parts(el.getAttribute('data-date'), {month: '2-digit', day: '2-digit'});
      el.textContent = p.month + '-' + p.day;
    });
    document.querySelectorAll('[data-zone]').forEach(function (el) { el.textContent = zone; });
  } catch (e) { /* an unknown zone: the UTC times stay */ }
  document.querySelectorAll('button[data-trigger]').forEach(function (button) {
    button.addEventListener('click', function () {
      if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
      var outcome = button.parentNode.querySelector('.outcome');
      button.disabled = true; outcome.textContent = 'triggering ...';
      fetch(button.dataset.trigger, {method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
        body: button.dataset.body})
        .then(function (r) { return r.json().catch(function () { return {}; }).then(function (b) { return [r, b]; }); })
        .then(function (rb) {
          var r = rb[0], body = rb[1];
          if (!r.ok) {
            var why = typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail || body);
            if (r.status === 401) why = 'signed out: reload the page to sign in again (' + why + ')';
            if (r.status === 403) {
              why = 'your Airflow user may not trigger runs of this DAG; ask an Airflow admin (' + why + ')';
            }
            outcome.textContent = 'not triggered (' + r.status + '): ' + why; button.disabled = false; return;
          }
          var paused = button.dataset.paused ? ' (the DAG is paused: it starts once you unpause it)' : '';
          outcome.textContent = 'run ' + body.dag_run_id + ' queued' + paused + ': ';
          var link = document.createElement('a');
          link.href = button.dataset.runs + encodeURIComponent(body.dag_run_id);
          link.textContent = 'its Airflow run page';
          outcome.appendChild(link);
        })
        .catch(function (e) { outcome.textContent = 'not triggered: ' + e; button.disabled = false; });
    });
  });
})();
"""


@dataclass(frozen=True)
class Links:
    """Where the page links to: `ui_root` is the Airflow UI's path ('' at the server's root),
    `page_root` the page's own app (ui_root + its url_prefix)."""

    ui_root: str
    page_root: str

    def dag_page(self, dag_id: str) -> str:
        return f"{self.ui_root}/dags/{quote(dag_id, safe='')}"

    def run_page(self, dag_id: str, run_id: str) -> str:
        return f"{self.dag_page(dag_id)}/runs/{quote(run_id, safe='')}"

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"{self.run_page(dag_id, run_id)}/tasks/{quote(task_id, safe='')}"

    def run_view(self, dag_id: str, run_id: str) -> str:
        return f"{self.page_root}/runs/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"

    def trigger_api(self, dag_id: str) -> str:
        """Airflow's REST API: a new run of the DAG (POST)."""
        return f"{self.ui_root}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns"

    def estate(self) -> str:
        return f"{self.page_root}/"


def when(moment: dt.datetime | None) -> str:
    """A moment as a <time>: UTC as written, the operator's zone once the script ran."""
    if moment is None:
        return ""
    utc = moment.astimezone(dt.UTC)
    return f'<time datetime="{utc.isoformat()}">{utc.strftime("%Y-%m-%d %H:%M UTC")}</time>'


def state_badge(state: str) -> str:
    css = state if state in ("success", "failed", "running", "queued") else "other"
    return f'<span class="state {css}">{escape(state)}</span>'


def number(value: int | None) -> str:
    return "" if value is None else str(value)


def figure(name: str, label: str, value: Any, title: str = "", css: str = "") -> str:
    """One figure of a run, named for tests and scripts (data-figure, data-value)."""
    shown = escape(number(value)) if value is None or isinstance(value, int) else escape(str(value))
    hint = f' title="{escape(title)}"' if title else ""
    klass = f' class="{css}"' if css else ""
    return (
        f"<div{hint}><dt>{escape(label)}</dt>"
        f'<dd{klass} data-figure="{escape(name)}" data-value="{shown}">{shown or "&ndash;"}</dd></div>'
    )


def file_name(path: str) -> str:
    """A Windows path, whole, that may wrap after each backslash rather than mid-word."""
    return f'<code class="file">{escape(path).replace(chr(92), chr(92) + "<wbr>")}</code>'


def trigger_button(dag_id: str, links: Links, label: str, conf: dict[str, Any], paused: bool, confirm: str = "") -> str:
    """A button that triggers a new run of the DAG through Airflow's REST API, as the user
    (after the browser's OK/Cancel question `confirm`, if given)."""
    body = json.dumps({"logical_date": None, "conf": conf})
    paused_mark = ' data-paused="1"' if paused else ""
    paused_mark += f' data-confirm="{escape(confirm)}"' if confirm else ""
    return (
        f'<p class="action"><button type="button" data-trigger="{escape(links.trigger_api(dag_id))}" '
        f'data-body="{escape(body)}" data-runs="{escape(links.dag_page(dag_id) + "/runs/")}"'
        f"{paused_mark}>{escape(label)}</button>"
        '<span class="outcome" role="status"></span></p>'
    )


def document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}"
        f"<script>{SCRIPT}</script></body></html>"
    )
