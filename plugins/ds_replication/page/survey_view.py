"""The replication page's "Last survey" section: each host's verdict in the newest run of DAG
`survey_estate`, its date and its failing checks (XCom `survey` of each task). Read only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any

from ds_replication.page.run_records import runs

SURVEY_DAG_ID = "survey_estate"  # factory.SURVEY_DAG_ID (not imported: the page needs no DAG code)
SURVEY_XCOM_KEY = "survey"


@dataclass(frozen=True)
class LastSurvey:
    run_id: str
    state: str
    when: dt.datetime | None
    hosts: list[dict[str, Any]]  # as the task pushed it: name, role, verdict, checks


def last_survey(allowed: Iterable[str] | None) -> LastSurvey | None:
    """The newest run of survey_estate, when the user may read that DAG and it has run."""
    if allowed is not None and SURVEY_DAG_ID not in set(allowed):
        return None
    found = runs(SURVEY_DAG_ID, limit=1)
    if not found:
        return None
    record = found[0]
    hosts = [
        xcoms[SURVEY_XCOM_KEY]
        for _, xcoms in sorted(record.xcoms.items())
        if isinstance(xcoms.get(SURVEY_XCOM_KEY), dict) and "verdict" in xcoms[SURVEY_XCOM_KEY]
    ]
    hosts.sort(key=lambda h: (h.get("role") != "master", str(h.get("name"))))
    return LastSurvey(record.run_id, record.state, record.when, hosts)


def _when(moment: dt.datetime | None) -> str:
    return "" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _failing_check(check: dict[str, Any]) -> str:
    why = f" <small>({escape(str(check['why']))})</small>" if check.get("why") else ""
    return f"<li><b>{escape(str(check.get('check')))}</b>: {escape(str(check.get('found')))}{why}</li>"


def survey_section(survey: LastSurvey | None, run_page: str = "") -> str:
    """The section's HTML; `run_page`: the Airflow page of that run."""
    head = '<h2 class="section">Last survey</h2>'
    if survey is None:
        return head + (
            '<p id="survey" class="meta">No survey yet: trigger the DAG survey_estate (or run '
            "<code>ds-replication survey FILE</code>) to check every host before its first night.</p>"
        )
    link = f' &middot; <a href="{escape(run_page)}" target="_top">Airflow run page</a>' if run_page else ""
    rows = []
    for host in survey.hosts:
        verdict = str(host.get("verdict"))
        css = "success" if verdict == "go" else "failed"
        failing = [c for c in host.get("checks", []) if isinstance(c, dict) and not c.get("ok")]
        checks = "".join(_failing_check(c) for c in failing)
        rows.append(
            f'<tr data-survey-host="{escape(str(host.get("name")))}"><td><b>{escape(str(host.get("name")))}</b>'
            f"<br><small>{escape(str(host.get('role')))}</small></td>"
            f'<td data-figure="verdict"><span class="state {css}">{escape(verdict)}</span></td>'
            f'<td class="when">{escape(_when(survey.when))}</td>'
            f"<td>{f'<ul>{checks}</ul>' if checks else '<small>none</small>'}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="4">the run recorded no host (see its task logs)</td></tr>'
    return (
        f'{head}<p class="meta">Run {escape(survey.run_id)} ({escape(survey.state)}){link}</p>'
        '<table id="survey"><thead><tr><th>Host</th><th>Verdict</th><th>When</th><th>Failing checks</th></tr>'
        f"</thead><tbody>{body}</tbody></table>"
    )
