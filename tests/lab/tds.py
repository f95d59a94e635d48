"""The lab's SQL Server on the wire: a TDS 7.1-7.4 server in front of tests.lab.tsql sessions.

Enough of MS-TDS for pymssql (FreeTDS) and the mssql provider: PRELOGIN (no encryption),
LOGIN7, SQL batches, ATTENTION, result sets, row counts and errors as SQL Server sends
them. Each connection has its own engine session; a batch runs in a worker thread so that
an ATTENTION can cancel it. Faults (tests/lab/faults.py) drop or stall connections.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from decimal import Decimal

from tests.lab.tsql import Column, ConnectionDropped, Engine, ResultSet, Session, SqlError
from tests.lab.tsql.errors import RESOURCE_FAULTS, resource_error

log = logging.getLogger(__name__)

PRELOGIN, LOGIN7, SQL_BATCH, RPC, ATTENTION, REPLY = 0x12, 0x10, 0x01, 0x03, 0x06, 0x04
EOM = 0x01
DONE_MORE, DONE_ERROR, DONE_COUNT, DONE_ATTN = 0x01, 0x02, 0x10, 0x20
COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])  # SQL_Latin1_General_CP1_CI_AS
EPOCH = dt.datetime(1900, 1, 1)
Fault = Callable[[str, str], bool]


class _Dropped(Exception):
    pass


def _b_varchar(text: str) -> bytes:
    data = text.encode("utf-16-le")
    return bytes([len(text)]) + data


def _us_varchar(text: str) -> bytes:
    return struct.pack("<H", len(text)) + text.encode("utf-16-le")


class TokenWriter:
    """Builds the token stream of one reply for the client's TDS version."""

    def __init__(self, tds_version: int) -> None:
        self.modern = tds_version >= 0x72000000  # 7.2+: 8-byte counts, 4-byte user types
        self.buf = bytearray()

    def done(self, status: int, count: int = 0, token: int = 0xFD) -> None:
        self.buf += struct.pack("<BHH", token, status, 0xC1)
        self.buf += struct.pack("<Q" if self.modern else "<I", count)

    def error(self, error: SqlError, server: str, info: bool = False) -> None:
        body = struct.pack("<iBB", error.number, error.state, error.severity)
        body += _us_varchar(error.message) + _b_varchar(server) + _b_varchar("")
        body += struct.pack("<i" if self.modern else "<H", error.line)
        self.buf += bytes([0xAB if info else 0xAA]) + struct.pack("<H", len(body)) + body

    def envchange(self, kind: int, new: bytes, old: bytes) -> None:
        body = bytes([kind]) + new + old
        self.buf += bytes([0xE3]) + struct.pack("<H", len(body)) + body

    def loginack(self, tds_version: int) -> None:
        body = bytes([1]) + struct.pack(">I", tds_version) + _b_varchar("Microsoft SQL Server") + bytes([10, 0, 0, 0])
        self.buf += bytes([0xAD]) + struct.pack("<H", len(body)) + body

    def result(self, rs: ResultSet) -> None:
        encoders = [_encoder(c, [r[i] for r in rs.rows]) for i, c in enumerate(rs.columns)]
        self.buf += bytes([0x81]) + struct.pack("<H", len(rs.columns))
        for column, (type_info, _) in zip(rs.columns, encoders, strict=True):
            self.buf += struct.pack("<I" if self.modern else "<H", 0) + struct.pack("<H", 0x0001 | 0x0008)
            self.buf += type_info + _b_varchar(column.name[:128])
        for row in rs.rows:
            self.buf.append(0xD1)
            for value, (_, encode) in zip(row, encoders, strict=True):
                self.buf += encode(value)


def _encoder(column: Column, values: list) -> tuple[bytes, Callable]:
    """TYPE_INFO of a column and the encoder of its values."""
    kind = column.type
    if kind in ("int", "smallint", "tinyint", "bigint"):
        size = {"tinyint": 1, "smallint": 2, "int": 4, "bigint": 8}[kind]
        if any(v is not None and not -(2 ** (8 * size - 1)) <= int(v) < 2 ** (8 * size - 1) for v in values):
            size = 8
        fmt = {1: "<B", 2: "<h", 4: "<i", 8: "<q"}[size]
        return bytes([0x26, size]), lambda v: b"\x00" if v is None else bytes([size]) + struct.pack(fmt, int(v))
    if kind == "bit":
        return bytes([0x68, 1]), lambda v: b"\x00" if v is None else b"\x01" + bytes([1 if v else 0])
    if kind == "float":
        return bytes([0x6D, 8]), lambda v: b"\x00" if v is None else b"\x08" + struct.pack("<d", float(v))
    if kind == "datetime":
        return bytes([0x6F, 8]), lambda v: b"\x00" if v is None else b"\x08" + _datetime(v)
    if kind == "decimal":
        return bytes([0x6A, 17, 38, 4]), _decimal
    if kind == "varbinary":
        return bytes([0xA5]) + struct.pack(
            "<H", 8000
        ), lambda v: b"\xff\xff" if v is None else struct.pack("<H", len(v)) + bytes(v)
    # text, ntext, image (TDS TEXTTYPE 0x23, NTEXTTYPE 0x63, IMAGETYPE 0x22): a text pointer, then the value
    if kind == "text":
        return bytes([0x23]) + struct.pack("<i", 0x7FFFFFFF) + COLLATION + b"\x00", _lob("cp1252")
    if kind == "ntext":
        return bytes([0x63]) + struct.pack("<i", 0x7FFFFFFF) + COLLATION + b"\x00", _ntext
    if kind == "image":
        return bytes([0x22]) + struct.pack("<i", 0x7FFFFFFF) + b"\x00", _lob(None)
    # strings: nvarchar(4000) when every value fits, else ntext
    texts = [None if v is None else str(v) for v in values]
    if all(t is None or len(t) <= 4000 for t in texts):
        return bytes([0xE7]) + struct.pack("<H", 8000) + COLLATION, _nvarchar
    return bytes([0x63]) + struct.pack("<i", 0x7FFFFFFF) + COLLATION + b"\x00", _ntext


def _nvarchar(value: object) -> bytes:
    if value is None:
        return b"\xff\xff"
    data = str(value).encode("utf-16-le")
    return struct.pack("<H", len(data)) + data


def _ntext(value: object) -> bytes:
    if value is None:
        return b"\x00"
    data = str(value).encode("utf-16-le")
    return b"\x10" + b"\x00" * 16 + b"\x00" * 8 + struct.pack("<i", len(data)) + data


def _lob(encoding: str | None) -> Callable:
    """A text (`encoding` its code page) or image (None) value: text pointer, timestamp, length, data."""

    def encode(value: object) -> bytes:
        if value is None:
            return b"\x00"
        data = bytes(value) if encoding is None else str(value).encode(encoding, "replace")  # type: ignore[arg-type]
        return b"\x10" + b"\x00" * 16 + b"\x00" * 8 + struct.pack("<i", len(data)) + data

    return encode


def _datetime(value: dt.datetime | str) -> bytes:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    delta = value - EPOCH
    ticks = round((delta.seconds + delta.microseconds / 1e6) * 300)
    return struct.pack("<iI", delta.days, ticks)


def _decimal(value: object) -> bytes:
    if value is None:
        return b"\x00"
    number = Decimal(value).scaleb(4).to_integral_value()
    return bytes([17, 1 if number >= 0 else 0]) + int(abs(number)).to_bytes(16, "little")


class TdsServer:
    """A threaded TDS server for one lab host."""

    def __init__(
        self,
        engine: Engine,
        user: str,
        password: str,
        host: str = "127.0.0.1",
        port: int = 0,
        fault: Fault | None = None,
        server_name: str = "LAB",
        journal: Callable[[str], None] | None = None,
    ) -> None:
        self.engine, self.user, self.password = engine, user, password
        self.fault = fault or (lambda name, subject: False)
        self.journal = journal or (lambda text: None)  # every batch received (requests_journal)
        self.server_name = server_name
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                _Connection(outer, self.request).serve()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"tds-{self.port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in list(self._connections):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self._thread.join(timeout=5)

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(sock)


class _Connection:
    def __init__(self, server: TdsServer, sock: socket.socket) -> None:
        self.server, self.sock = server, sock
        self.tds_version = 0x71000001
        self.packet_size = 4096
        self.session: Session | None = None
        self.release = threading.Event()  # ends a stalled batch (attention, disconnect, stop)
        self.attention = threading.Event()
        self.packets: list[tuple[int, bytes]] = []
        self.packet_ready = threading.Condition()
        self.closed = False

    # -- framing ----------------------------------------------------------------------------

    def _read_exact(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise _Dropped
            data += chunk
        return bytes(data)

    def _read_message(self) -> tuple[int, bytes]:
        payload, kind = bytearray(), None
        while True:
            header = self._read_exact(8)
            kind, status, length = header[0], header[1], struct.unpack(">H", header[2:4])[0]
            payload += self._read_exact(length - 8)
            if status & EOM:
                return kind, bytes(payload)

    def _send(self, kind: int, payload: bytes) -> None:
        size = max(512, self.packet_size) - 8
        chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
        out = bytearray()
        for n, chunk in enumerate(chunks):
            status = EOM if n == len(chunks) - 1 else 0
            out += struct.pack(">BBHHBB", kind, status, len(chunk) + 8, 0, (n + 1) % 256, 0) + chunk
        self.sock.sendall(bytes(out))

    # -- the conversation -------------------------------------------------------------------

    def serve(self) -> None:
        self.server._track(self.sock, True)
        try:
            self._serve()
        except (_Dropped, ConnectionError, OSError):
            pass
        except Exception:
            log.exception("TDS connection failed")
        finally:
            self.closed = True
            self.release.set()
            if self.session is not None:
                try:
                    self.session.close()
                except Exception:
                    log.exception("closing session")
            self.server._track(self.sock, False)
            with contextlib.suppress(OSError):
                self.sock.close()

    def _serve(self) -> None:
        kind, payload = self._read_message()
        if kind == PRELOGIN:
            self._send(REPLY, self._prelogin_reply(payload))
            kind, payload = self._read_message()
        if kind != LOGIN7:
            raise _Dropped
        if not self._login(payload):
            return
        while not self.server._stopping.is_set():
            kind, payload = self._read_message()
            if kind == SQL_BATCH:
                self._batch(payload)
            elif kind == ATTENTION:
                self._reply_attention()
            else:
                writer = TokenWriter(self.tds_version)
                writer.error(
                    SqlError(50001, "DS lab: unsupported TDS request (only SQL batches)"),
                    self.server.server_name,
                )
                writer.done(DONE_ERROR)
                self._send(REPLY, bytes(writer.buf))

    def _prelogin_reply(self, payload: bytes) -> bytes:
        options = [
            (0x00, bytes([10, 0, 0x0F, 0xA0, 0, 0])),
            (0x01, b"\x02"),
            (0x02, b"\x00"),
            (0x03, b""),
            (0x04, b"\x00"),
        ]
        requested = self._prelogin_encryption(payload)
        if requested == 0x03:  # the client requires encryption: the lab cannot give it
            options[1] = (0x01, b"\x02")
        header_len = len(options) * 5 + 1
        head, body, offset = bytearray(), bytearray(), header_len
        for token, data in options:
            head += struct.pack(">BHH", token, offset, len(data))
            body += data
            offset += len(data)
        return bytes(head + b"\xff" + body)

    @staticmethod
    def _prelogin_encryption(payload: bytes) -> int | None:
        i = 0
        while i < len(payload) and payload[i] != 0xFF:
            token, offset, length = struct.unpack(">BHH", payload[i : i + 5])
            if token == 0x01 and length:
                return payload[offset]
            i += 5
        return None

    def _login(self, payload: bytes) -> bool:
        self.tds_version = struct.unpack("<I", payload[4:8])[0]
        self.tds_version = min(max(self.tds_version, 0x71000001), 0x74000004)
        self.packet_size = struct.unpack("<I", payload[8:12])[0] or 4096

        def field(at: int, password: bool = False) -> str:
            offset, chars = struct.unpack("<HH", payload[at : at + 4])
            raw = payload[offset : offset + chars * 2]
            if password:  # MS-TDS: swap the nibbles of each byte, then XOR 0xA5 (reversed here)
                raw = bytes((((b ^ 0xA5) & 0x0F) << 4) | (((b ^ 0xA5) & 0xF0) >> 4) for b in raw)
            return raw.decode("utf-16-le")

        user, password, database = field(40), field(44, password=True), field(68)
        # MS-TDS 2.2.6.4 LOGIN7: ibHostName at 36, ibAppName at 48; what APP_NAME() and HOST_NAME() return
        host_name, app_name = field(36), field(48)
        writer = TokenWriter(self.tds_version)
        if user != self.server.user or password != self.server.password:
            writer.error(SqlError(18456, f"Login failed for user '{user}'.", severity=14), self.server.server_name)
            writer.done(DONE_ERROR)
            self._send(REPLY, bytes(writer.buf))
            return False
        engine = self.server.engine
        if database and database.lower() not in (engine.database.lower(), "master"):
            error = SqlError(4060, f'Cannot open database "{database}" requested by the login. The login failed.', 11)
            writer.error(error, self.server.server_name)
            # as SQL Server: the login failure follows the database's
            writer.error(SqlError(18456, f"Login failed for user '{user}'.", severity=14), self.server.server_name)
            writer.done(DONE_ERROR)
            self._send(REPLY, bytes(writer.buf))
            return False
        self.session = engine.session(hook=self._hook, app_name=app_name, host_name=host_name, login=user)
        writer.envchange(1, _b_varchar(engine.database), _b_varchar("master"))
        writer.envchange(7, bytes([5]) + COLLATION, b"\x00")
        writer.envchange(2, _b_varchar(self.session.language), _b_varchar(""))
        writer.loginack(self.tds_version)
        writer.envchange(4, _b_varchar(str(self.packet_size)), _b_varchar("4096"))
        writer.done(0)
        self._send(REPLY, bytes(writer.buf))
        return True

    def _hook(self, point: str, statement: str, batch: str) -> None:
        fault = self.server.fault
        if point == "statement" and fault("sql_drop", statement):
            raise ConnectionDropped
        if point == "statement":
            for name in RESOURCE_FAULTS:
                if fault(name, statement):
                    raise resource_error(name, statement, self.server.engine.database)
        if point == "commit" and fault("sql_drop_before_commit", batch):
            raise ConnectionDropped
        if point == "committed" and fault("sql_drop_after_commit", batch):
            raise ConnectionDropped

    def _batch(self, payload: bytes) -> None:
        if self.tds_version >= 0x72000000 and len(payload) >= 4:
            payload = payload[struct.unpack("<I", payload[:4])[0] :]  # skip ALL_HEADERS
        text = payload.decode("utf-16-le", errors="replace")
        log.debug("batch: %s", text[:200])
        self.server.journal(text)
        self.attention.clear()
        if self.server.fault("sql_hang", text):
            # As on a lock wait: no reply until the client cancels or leaves.
            self._wait_for_attention()
            return
        items: list = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                assert self.session is not None
                items.extend(self.session.execute(text))
            except BaseException as error:  # handed to the connection thread
                failure.append(error)

        worker = threading.Thread(target=run, name="tds-batch", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(timeout=0.05)
            if self._attention_pending():
                assert self.session is not None
                self.session.cancel()
        if failure:
            if isinstance(failure[0], ConnectionDropped):
                raise _Dropped
            raise failure[0]
        if self.attention.is_set():
            self._reply_attention()
            return
        self._send(REPLY, self._reply(items))

    def _attention_pending(self) -> bool:
        """Look for an ATTENTION packet without blocking the running batch."""
        self.sock.setblocking(False)
        try:
            header = self.sock.recv(8, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        finally:
            self.sock.setblocking(True)
        if not header:
            raise _Dropped
        if len(header) == 8 and header[0] == ATTENTION:
            self._read_message()
            self.attention.set()
            return True
        return False

    def _wait_for_attention(self) -> None:
        while not self.server._stopping.is_set():
            kind, _ = self._read_message()
            if kind == ATTENTION:
                self._reply_attention()
                return

    def _reply_attention(self) -> None:
        writer = TokenWriter(self.tds_version)
        writer.done(DONE_ATTN)
        self._send(REPLY, bytes(writer.buf))

    def _reply(self, items: list) -> bytes:
        """One DONE per result, count or error; the last one without DONE_MORE ends the reply."""
        writer = TokenWriter(self.tds_version)
        if not items:
            writer.done(0)
        for n, item in enumerate(items):
            more = DONE_MORE if n < len(items) - 1 else 0
            if isinstance(item, ResultSet):
                writer.result(item)
                writer.done(more | DONE_COUNT, len(item.rows))
            elif isinstance(item, SqlError):
                writer.error(item, self.server.server_name)
                writer.done(more | DONE_ERROR)
            else:
                writer.done(more | DONE_COUNT, int(item))
        return bytes(writer.buf)
