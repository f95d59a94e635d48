"""The replication page's FastAPI app, mounted in Airflow's API server by the plugin
(plugins/ds_replication_plugin.py). Every route needs Airflow's sign-in (the UI's session cookie
or a bearer token) and shows only the DAGs the user may read. Without a valid sign-in a browser
is sent to Airflow's login page (and back here after it); any other client gets 401."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ds_replication.notifications.mail import PAGE_ROUTE
from ds_replication.page import estate_html, page_html, run_html, run_records, survey_view
from ds_replication.page.run_figures import slave_row

# Where the plugin mounts the app in the API server: the page's address, one path segment.
URL_PREFIX = "/" + PAGE_ROUTE

app = FastAPI(title="DS replication", docs_url=None, redoc_url=None, openapi_url=None)
_bearer = HTTPBearer(auto_error=False)


class SignInNeeded(Exception):
    """No valid sign-in: a browser goes to the login page, any other client gets 401."""

    def __init__(self, detail: str) -> None:
        self.detail = detail


async def signed_in_user(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Any:
    """The signed-in user as Airflow's API resolves it (airflow...security.get_user), with every
    refusal one status: 401, as for a missing sign-in (Airflow answers 403 to a malformed token)."""
    from airflow.api_fastapi.core_api.security import get_user

    try:
        return await get_user(request, None, bearer)
    except HTTPException as error:
        raise SignInNeeded(str(error.detail)) from None


User = Annotated[Any, Depends(signed_in_user)]


def _wants_html(request: Request) -> bool:
    return "authorization" not in request.headers and "text/html" in request.headers.get("accept", "")


@app.exception_handler(SignInNeeded)
async def _sign_in(request: Request, error: SignInNeeded):
    if _wants_html(request):
        from airflow.api_fastapi.app import get_auth_manager

        here = str(request.url)
        login = get_auth_manager().get_url_login(next_url=here)
        return RedirectResponse(_links(request).ui_root + login if login.startswith("/") else login, 303)
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": error.detail}, 401, headers={"WWW-Authenticate": "Bearer"})


def _allowed(user: object) -> set[str]:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_authorized_dag_ids(user=user, method="GET")


def _may_trigger(user: object, dag_id: str) -> bool:
    """What Airflow's REST API asks before it triggers a run (requires_access_dag, POST on the
    DAG's runs), so the page shows a run button only where the click would be accepted."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(
        method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
    )


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
def estate(request: Request, user: User) -> str:
    rows = [
        replace(
            slave_row(slave, dag_id, run_records.runs(dag_id), run_records.dag_facts(dag_id)),
            may_trigger=_may_trigger(user, dag_id),
        )
        for dag_id, slave in _readable_dags(user).items()
    ]
    links = _links(request)
    page = estate_html.estate_page(rows, user.get_name(), links)
    return page.replace("</body>", _survey(user, links) + "</body>", 1)


@app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse)
def run(request: Request, dag_id: str, run_id: str, user: User) -> str:
    if dag_id not in _readable_dags(user):
        raise HTTPException(404, f"{dag_id} is not a replication DAG you may read")
    found = run_records.runs(dag_id, limit=1, run_id=run_id)
    if not found:
        raise HTTPException(404, f"{dag_id} has no run {run_id}")
    return run_html.run_page(found[0], user.get_name(), _links(request))
