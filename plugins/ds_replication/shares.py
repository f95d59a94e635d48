"""The DS shares, through the samba provider, with a bound on a server's silence.

smbprotocol waits for an answer with no timeout of its own: a server that stops answering
without closing the connection holds the caller for 20 minutes, and `SambaHook.__exit__`
then waits again to log off. Every share is therefore opened with a watchdog: once a
request has waited longer than the connection's `timeout` extra (seconds, default 60), the
watchdog closes the socket, the waiting call raises, and the hook exits without logging off.

smbprotocol speaks SMB 2 and 3 only. Against an SMB1-only server (Windows Server 2003) it
fails with a closed connection or a silence; `refuse_smb1` asks the server which dialect it
speaks and names it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

from ds_replication.lasting import LastingError

DEFAULT_TIMEOUT_SECONDS = 60.0
SMB_PORT = 445
# An SMB1 NEGOTIATE that also offers SMB 2: a server that speaks SMB 2 answers in SMB 2
# (MS-SMB2 3.3.5.3.1), one that speaks SMB1 only picks "NT LM 0.12".
_NEGOTIATE_DIALECTS = (b"NT LM 0.12", b"SMB 2.002", b"SMB 2.???")


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


class Smb1OnlyServer(LastingError):
    pass


def _negotiate_request() -> bytes:
    dialects = b"".join(b"\x02" + name + b"\x00" for name in _NEGOTIATE_DIALECTS)
    # SMB header: NEGOTIATE (0x72), flags: case-insensitive paths; flags2: unicode, NT status,
    # extended security, long names; no tree, process 0xFEFF
    header = b"\xffSMB\x72" + b"\x00" * 4 + b"\x18" + struct.pack("<H", 0xC801) + b"\x00" * 12
    header += struct.pack("<HHHH", 0xFFFF, 0xFEFF, 0, 0)
    message = header + b"\x00" + struct.pack("<H", len(dialects)) + dialects
    return struct.pack(">I", len(message)) + message  # the direct-TCP (NetBIOS session) length


def smb1_dialect(host: str, port: int, timeout: float) -> str | None:
    """The SMB1 dialect the server picks when SMB 2 is offered too; None when it answers in
    SMB 2 or later, or does not answer clearly (then the share's own errors tell)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_negotiate_request())
            answer = b""
            while len(answer) < 4 + 37:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return None
    if answer[4:8] != b"\xffSMB" or len(answer) < 4 + 35:
        return None
    index = struct.unpack("<H", answer[4 + 33 : 4 + 35])[0]  # after the word count of 17
    return _NEGOTIATE_DIALECTS[index].decode() if index < len(_NEGOTIATE_DIALECTS) else "an SMB1 dialect"


def refuse_smb1(conn_id: str) -> None:
    """Raise Smb1OnlyServer, naming host and dialect, when the server of `conn_id` speaks SMB1 only."""
    from airflow.providers.samba.hooks.samba import SambaHook

    hook = SambaHook(samba_conn_id=conn_id)
    conn = hook.get_connection(conn_id)
    port = conn.port or SMB_PORT
    dialect = smb1_dialect(conn.host, port, min(share_timeout(hook, conn_id), 30.0))
    if dialect is not None:
        raise Smb1OnlyServer(
            f"the SMB server {conn.host}:{port} of connection {conn_id} speaks only SMB1 (dialect {dialect}, "
            "as Windows Server 2003 and older): this package needs SMB 2 or later (Windows Server 2008 and "
            "later). See README, 'Supported servers'."
        )


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
