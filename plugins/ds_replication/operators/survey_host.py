"""`survey_<host>`: the estate survey of one host (ds_replication.survey), as a task of DAG
`survey_estate`."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from ds_replication import host_checks, survey
from ds_replication.ds_host import DsHost

SURVEY_XCOM_KEY = "survey"


class SurveyHostOperator(BaseOperator):
    """Run every read-only check of `host` (what the slave DAG's preflight refuses a night with,
    and its warnings); the result goes to XCom (key `survey`: name, role, verdict, checks) and
    the task fails on a no-go, naming the failing checks.

    :param host: the master or a slave.
    """

    ui_color = "#e2f0d9"

    def __init__(self, *, host: DsHost, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = host

    def execute(self, context: Context) -> dict[str, Any]:
        result = survey.survey_host(self.host)
        for check in result.checks:
            level = self.log.warning if not check.ok or check.warning else self.log.info
            level("%s: %s%s", check.check, check.found, f" ({check.why})" if check.why else "")
        record = result.as_dict()
        context["ti"].xcom_push(key=SURVEY_XCOM_KEY, value=record)
        if result.verdict != "go":
            failing = [c for c in result.checks if not c.ok]
            raise AirflowFailException(host_checks.refusal_text(f"{self.host.role} {self.host.name}: no-go", failing))
        return record
