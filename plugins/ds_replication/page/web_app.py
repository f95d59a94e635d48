"""The replication page's FastAPI app, mounted in Airflow's API server by the plugin
(plugins/ds_replication_plugin.py). Every route needs Airflow's sign-in (GetUserDep: the UI's
session cookie or a bearer token; 401 without), and shows only the DAGs the user may read."""

from __future__ import annotations

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse

from ds_replication.page import page_html, run_records, survey_view
from ds_replication.page.run_figures import slave_row

# Where the plugin mounts the app in the API server.
URL_PREFIX = "/ds-replication"

app = FastAPI(title="DS replication", docs_url=None, redoc_url=None, openapi_url=None)


def _allowed(user: object) -> set[str]:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_authorized_dag_ids(user=user, method="GET")


def _readable_dags(user: object) -> dict[str, str]:
    return run_records.replication_dags(_allowed(user))


def _survey(user: object, links: page_html.Links) -> str:
    """The "Last survey" section (survey_view), when the user may read DAG survey_estate."""
    survey = survey_view.last_survey(_allowed(user))
    run_page = links.run_page(survey_view.SURVEY_DAG_ID, survey.run_id) if survey else ""
    return survey_view.survey_section(survey, run_page)


def _links(request: Request) -> page_html.Links:
    page_root = request.scope.get("root_path", "").rstrip("/")
    return page_html.Links(ui_root=page_root.removesuffix(URL_PREFIX), page_root=page_root)


@app.get("/", response_class=HTMLResponse)
def estate(request: Request, user: GetUserDep) -> str:
    rows = [slave_row(slave, dag_id, run_records.runs(dag_id)) for dag_id, slave in _readable_dags(user).items()]
    links = _links(request)
    return page_html.estate_page(rows, user.get_name(), links).replace("</body>", _survey(user, links) + "</body>", 1)


@app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse)
def run(request: Request, dag_id: str, run_id: str, user: GetUserDep) -> str:
    if dag_id not in _readable_dags(user):
        raise HTTPException(404, f"{dag_id} is not a replication DAG you may read")
    found = run_records.runs(dag_id, limit=1, run_id=run_id)
    if not found:
        raise HTTPException(404, f"{dag_id} has no run {run_id}")
    return page_html.run_page(found[0], user.get_name(), _links(request))
