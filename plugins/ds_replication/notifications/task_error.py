"""`record_error`: a failed task's error, kept for the replication page (XCom `error`), since
Airflow keeps a task's error only in its log. Every step's failure callback (factory.py)."""

from __future__ import annotations

import logging
from typing import Any

from ds_replication.notifications.history_alert import error_text

log = logging.getLogger(__name__)

ERROR_XCOM_KEY = "error"
ERROR_LIMIT = 4000  # characters kept: the page shows the error, the log keeps it whole


def record_error(context: Any) -> None:
    try:
        context["ti"].xcom_push(key=ERROR_XCOM_KEY, value=error_text(context)[:ERROR_LIMIT])
    except Exception:  # the failure stands whatever happens here
        log.exception("the task's error could not be recorded for the replication page")
