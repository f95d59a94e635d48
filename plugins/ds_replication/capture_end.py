"""The end of a night whose capture is still armed (import_jobs failed or timed out, or a later
step failed before restore_history disarmed it): cleanup disarms it once aximport has ended, so
the triggers do not keep capturing the DS console's deletes until the next night.

Only when the slave's `tasklist` shows no aximport.exe: an import still running (a timed-out
try's, on a host whose WinRM terminate did not end it) is still deleting history, and its
deletes must be captured. When that cannot be told (WinRM down), the capture stays armed: the
next run finds it (preflight's `captured_while_left_armed`) and its restore puts back what it
caught. Disarming is restore_history's own (history.disarm_capture): the capture's proof of
completeness is taken, the held rows stay in the backup for the next run to restore.
"""

from __future__ import annotations

import logging
from typing import Any

from ds_replication import capture_sessions, history
from ds_replication.ds_host import IMPORT_TOOL, DsHost

log = logging.getLogger(__name__)


def end_capture(slave: DsHost, timeout_seconds: float) -> dict[str, Any]:
    """Disarm a capture left armed when no aximport runs on `slave`; what was done and why. Never
    raises for the slave being out of reach: cleanup's files go whatever happens here."""
    try:
        with slave.connect() as conn:
            armed = history.capture_triggers(conn)
    except Exception as error:
        reason = f"the slave's database cannot be read ({type(error).__name__}: {error})"
        log.warning("whether the capture is still armed is unknown: %s; the next run disarms it", reason)
        return {"capture": "unknown", "reason": reason}
    if not armed:
        return {"capture": "not armed"}
    try:
        running = slave.import_running(timeout_seconds)
    except Exception as error:
        reason = f"cannot tell whether {IMPORT_TOOL} runs on {slave.name} ({type(error).__name__}: {error})"
        log.warning("capture triggers %s left armed: %s; the next run disarms them", ", ".join(armed), reason)
        return {"capture": "left armed", "armed": armed, "reason": reason}
    if running:
        reason = f"{IMPORT_TOOL} still runs on {slave.name} (pid {', '.join(map(str, running))})"
        log.warning("capture triggers %s left armed: %s; its deletes are still captured, the next run "
                    "disarms them", ", ".join(armed), reason)  # fmt: skip
        return {"capture": "left armed", "armed": armed, "reason": reason}
    with slave.connect() as conn:
        capture_sessions.close_window(conn, slave.database)  # aximport has ended: its window too
        figures = history.disarm_capture(conn, slave.database)
        held = history.held_rows(conn)
    log.warning(
        "no %s runs on %s: capture triggers %s disarmed; %d history rows stay held in %s for the next run to restore",
        IMPORT_TOOL, slave.name, ", ".join(armed), held, history.BACKUP_TABLE,
    )  # fmt: skip
    return {"capture": "disarmed", "disarmed": armed, "held_rows": held, **figures}
