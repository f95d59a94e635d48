"""The package's one Airflow plugin: the "DS replication" page in the Airflow UI (the app:
ds_replication/page) and the scheduler listener that notes a dry run on its run
(ds_replication/dry_run_note.py).

Airflow imports every .py file under plugins/ as a top-level module named after the file, so this
is the only file that defines an AirflowPlugin, and the package's modules have names no other
module takes (tests/unit/test_page.py checks both).
"""

from __future__ import annotations

from airflow.sdk.plugins_manager import AirflowPlugin

from ds_replication import dry_run_note
from ds_replication.notifications.mail import PAGE_ROUTE
from ds_replication.page.web_app import URL_PREFIX, app


class DsReplicationPlugin(AirflowPlugin):
    name = "ds_replication"
    listeners = [dry_run_note]
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "DS replication"}]
    # Browse -> DS replication: with no url_route Airflow's menu links to the page (a new tab)
    # rather than showing it in its sandboxed iframe, where no link may navigate the window and
    # the address doubles (/plugin/ds-replication/ds-replication/). The run view stays a tab of
    # the run's page; its links re-make a click in the window (page_html.SCRIPT).
    external_views = [
        {
            "name": "DS replication",
            "href": URL_PREFIX.lstrip("/") + "/",
            "destination": "nav",
            "category": "browse",
        },
        {
            "name": "What this run did",
            "href": URL_PREFIX.lstrip("/") + "/runs/{DAG_ID}/{RUN_ID}",
            "url_route": PAGE_ROUTE + "-run",
            "destination": "dag_run",
        },
    ]
