"""The DS shares, through the samba provider, with a bound on a server's silence.

smbprotocol waits for an answer with no timeout of its own: a server that stops answering
without closing the connection holds the caller for 20 minutes, and `SambaHook.__exit__`
then waits again to log off. Every share is therefore opened with a watchdog: once a
request has waited longer than the connection's `timeout` extra (seconds, default 60), the
watchdog closes the socket, the waiting call raises, and the hook exits without logging off.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

DEFAULT_TIMEOUT_SECONDS = 60.0


class ShareNotAnswering(ConnectionError):
    pass


class _Watchdog(threading.Thread):
    """Cuts the hook's SMB connections once one of their requests has waited too long."""

    def __init__(self, connections: dict[str, Any], timeout: float) -> None:
        super().__init__(name="smb-watchdog", daemon=True)
        self.connections = connections
        self.timeout = timeout
        self.stopped = threading.Event()
        self.fired = False

    def _waiting(self) -> set[tuple[int, int]]:
        return {
            (id(conn), message_id)
            for conn in list(self.connections.values())
            for message_id, request in list(conn.outstanding_requests.items())
            if request.response is None
        }

    def run(self) -> None:
        since: dict[tuple[int, int], float] = {}
        while not self.stopped.wait(min(1.0, self.timeout / 4)):
            now = time.monotonic()
            since = {request: since.get(request, now) for request in self._waiting()}
            if any(now - started > self.timeout for started in since.values()):
                self.fired = True
                for conn in list(self.connections.values()):
                    with contextlib.suppress(Exception):
                        conn.disconnect(close=False)  # the socket only: no logoff to wait for
                return


def share_timeout(hook: Any, conn_id: str) -> float:
    value = hook.get_connection(conn_id).extra_dejson.get("timeout", DEFAULT_TIMEOUT_SECONDS)
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"connection {conn_id}: extra 'timeout' must be a number of seconds, not {value!r}") from None
    if timeout <= 0:
        raise ValueError(f"connection {conn_id}: extra 'timeout' must be greater than 0, not {value!r}")
    return timeout


def _quiet_smbprotocol() -> None:
    """smbprotocol logs every SMB message at INFO (some 35 lines for one directory listing),
    which buries the task's own lines; a level an operator set for it is left alone."""
    logger = logging.getLogger("smbprotocol")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


@contextlib.contextmanager
def open_share(conn_id: str, share: str) -> Iterator[Any]:
    """A connected `SambaHook` for `share`; a call the server leaves unanswered ends in ShareNotAnswering."""
    from airflow.providers.samba.hooks.samba import SambaHook

    _quiet_smbprotocol()
    hook = SambaHook(samba_conn_id=conn_id, share=share)
    # the hook keeps its own connections (not smbclient's global pool): those are the ones to watch
    watchdog = _Watchdog(hook._connection_cache, share_timeout(hook, conn_id))
    watchdog.start()
    try:
        with hook:
            yield hook
    except Exception as error:
        if watchdog.fired:
            raise ShareNotAnswering(
                f"SMB server of connection {conn_id} (share {share}) left a request unanswered for "
                f"{watchdog.timeout:.0f} s; the connection was closed"
            ) from error
        raise
    finally:
        watchdog.stopped.set()
