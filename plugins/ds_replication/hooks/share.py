"""A DS share: `DsShareHook`, a `SambaHook` with a bound on a server's silence.

smbprotocol waits for an answer with no timeout of its own: a server that stops answering
without closing the connection holds the caller for 20 minutes, and `SambaHook.__exit__`
then waits again to log off. So the hook starts a watchdog when it connects: once a request
has waited longer than the connection's `timeout` extra (seconds, default 60), the watchdog
closes the socket, the waiting call raises ShareNotAnswering, and the hook exits without
logging off.

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
from typing import Any

from airflow.providers.samba.hooks.samba import SambaHook
from smbclient._io import SMBFileTransaction, SMBRawIO, set_info
from smbprotocol.file_info import FileRenameInformation
from smbprotocol.open import CreateOptions, FilePipePrinterAccessMask

from ds_replication.hooks import ConnectionFieldError
from ds_replication.lasting import LastingError

DEFAULT_TIMEOUT_SECONDS = 60.0
SMB_PORT = 445
# An SMB1 NEGOTIATE that also offers SMB 2: a server that speaks SMB 2 answers in SMB 2
# (MS-SMB2 3.3.5.3.1), one that speaks SMB1 only picks "NT LM 0.12".
_NEGOTIATE_DIALECTS = (b"NT LM 0.12", b"SMB 2.002", b"SMB 2.???")


class ShareNotAnswering(ConnectionError):
    pass


class Smb1OnlyServer(LastingError):
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


def _quiet_smbprotocol() -> None:
    """smbprotocol logs every SMB message at INFO (some 35 lines for one directory listing),
    which buries the task's own lines; a level an operator set for it is left alone."""
    logger = logging.getLogger("smbprotocol")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


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


class DsShareHook(SambaHook):
    """A DS server's share (its DS folder), each request bounded by the connection's `timeout`.

    Use it as a context manager, as `SambaHook`; a call the server leaves unanswered ends in
    ShareNotAnswering.

    :param smb_conn_id: the Airflow connection (type `samba`); extra `timeout`: seconds, > 0.
    :param share: the share name (`express`).
    """

    def __init__(self, smb_conn_id: str, share: str) -> None:
        _quiet_smbprotocol()
        super().__init__(samba_conn_id=smb_conn_id, share=share)
        self.smb_conn_id = smb_conn_id
        self.share = share
        self.timeout = self.check_fields()
        self._watchdog: _Watchdog | None = None

    def check_fields(self) -> float:
        """The connection's `timeout` extra in seconds; ConnectionFieldError when unusable."""
        conn = self.get_connection(self.smb_conn_id)
        if not conn.host:
            raise ConnectionFieldError(self.smb_conn_id, "host", "must be set (the DS server)")
        value = conn.extra_dejson.get("timeout", DEFAULT_TIMEOUT_SECONDS)
        try:
            timeout = float(value)
        except (TypeError, ValueError):
            raise ConnectionFieldError(
                self.smb_conn_id, "extra 'timeout'", f"must be a number of seconds, not {value!r}"
            ) from None
        if timeout <= 0:
            raise ConnectionFieldError(self.smb_conn_id, "extra 'timeout'", f"must be greater than 0, not {value!r}")
        return timeout

    def _not_answering(self) -> ShareNotAnswering | None:
        if self._watchdog is None or not self._watchdog.fired:
            return None
        return ShareNotAnswering(
            f"SMB server of connection {self.smb_conn_id} (share {self.share}) left a request unanswered for "
            f"{self.timeout:.0f} s; the connection was closed"
        )

    def __enter__(self) -> DsShareHook:
        # SambaHook keeps this hook's connections in its own cache (not smbclient's global
        # pool): those are the ones to watch. This is the one place that knows.
        self._watchdog = _Watchdog(self._connection_cache, self.timeout)
        self._watchdog.start()
        try:
            return super().__enter__()
        except Exception as error:
            self._watchdog.stopped.set()
            if (silence := self._not_answering()) is not None:
                raise silence from error
            raise

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        error = exc_value
        try:
            super().__exit__(exc_type, exc_value, traceback)
        except Exception as exit_error:
            error = exit_error
            if self._not_answering() is None:
                raise
        finally:
            if self._watchdog is not None:
                self._watchdog.stopped.set()
        if isinstance(error, Exception) and (silence := self._not_answering()) is not None:
            raise silence from error

    def refuse_smb1(self) -> None:
        """Raise Smb1OnlyServer, naming host and dialect, when the server speaks SMB1 only."""
        conn = self.get_connection(self.smb_conn_id)
        port = conn.port or SMB_PORT
        dialect = smb1_dialect(conn.host, port, min(self.timeout, 30.0))
        if dialect is not None:
            raise Smb1OnlyServer(
                f"the SMB server {conn.host}:{port} of connection {self.smb_conn_id} speaks only SMB1 (dialect "
                f"{dialect}, as Windows Server 2003 and older): this package needs SMB 2 or later (Windows Server "
                "2008 and later). See docs/supported-servers.md."
            )

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.refuse_smb1()
            with self:
                names = self.listdir("")
        except Exception as error:
            return False, str(error)
        return True, f"share {self.share}: {len(names)} entries"


def replace_file(hook: SambaHook, src: str, dst: str) -> None:
    """Rename `src` to `dst` on the hook's share, replacing `dst`: as `SambaHook.replace`, in one
    round trip (open, rename, close in one compound request) instead of three, which counts
    for the small files a DS exports. No DFS: both names on the share the hook opened."""
    raw = SMBRawIO(
        hook._join_path(src),
        mode="r",
        share_access="rwd",
        desired_access=FilePipePrinterAccessMask.DELETE,
        create_options=CreateOptions.FILE_OPEN_REPARSE_POINT,
        **hook._conn_kwargs,
    )
    with SMBFileTransaction(raw) as transaction:
        rename = FileRenameInformation()
        rename["replace_if_exists"] = True
        rename["file_name"] = dst.replace("/", "\\").lstrip("\\")
        set_info(transaction, rename)
