"""The lab's WinRM service: the WS-Management shell protocol as pywinrm speaks it.

HTTP at /wsman with Basic or NTLM (Negotiate) authentication and no message encryption
(connections say `message_encryption: never`; a real estate uses HTTPS). Create, Command,
Receive (with the OperationTimeout fault for long commands), Signal and Delete; each
command runs in a thread of the cmd-like shell (cmdexe.py).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from tests.lab.cmdexe import DS_PATH, Processes, Shell

log = logging.getLogger(__name__)

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
TIMED_OUT = 2150858793  # WSMAN_ERROR_OPERATION_TIMEDOUT: pywinrm's WinRMOperationTimeoutError
CONNECTION_HOLD_SECONDS = 120
Fault = Callable[[str, str], bool]


@dataclass
class Command:
    thread: threading.Thread
    line: str = ""
    done: threading.Event = field(default_factory=threading.Event)
    exit_code: int = 0
    stdout: bytes = b""
    stderr: bytes = b""


@dataclass
class ShellState:
    shell: Shell
    commands: dict[str, Command] = field(default_factory=dict)


def _envelope(action: str, body: str, relates_to: str) -> bytes:
    namespaces = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items())
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {namespaces} '
        'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer">'
        f"<s:Header><a:Action>{action}</a:Action><a:RelatesTo>{relates_to}</a:RelatesTo>"
        f"<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _fault(code: int, reason: str, subcode: str = "w:InternalError") -> bytes:
    return _envelope(
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault",
        f"<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode>"
        f'</s:Code><s:Reason><s:Text xml:lang="en-US">{escape(reason)}</s:Text></s:Reason><s:Detail>'
        f'<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="{code}" '
        f'Machine="dslab"><f:Message>{escape(reason)}</f:Message></f:WSManFault></s:Detail></s:Fault>',
        "",
    )


def _seconds(duration: str | None, default: float = 20.0) -> float:
    m = re.match(r"^PT(\d+(?:\.\d+)?)S$", duration or "")
    return float(m.group(1)) if m else default


class WinRMServer:
    def __init__(
        self,
        share_dir: str,
        db_path: str,
        user: str,
        password: str,
        state_dir: str,
        host: str = "127.0.0.1",
        port: int = 0,
        fault: Fault | None = None,
        hostname: str = "DSLAB",
        journal: Callable[[str], None] | None = None,
    ) -> None:
        self.share_dir, self.db_path = Path(share_dir), db_path
        self.user, self.password, self.hostname = user, password, hostname
        self.fault = fault or (lambda name, subject: False)
        self.journal = journal or (lambda line: None)  # every command line run (requests_journal)
        self.shells: dict[str, ShellState] = {}
        self.processes = Processes()  # the host's running tools, seen by every shell
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        # in the host's own dir (not a system temp dir): gone with the lab even after a SIGKILL
        self._ntlm_users = Path(state_dir) / "ntlm_users"
        self._ntlm_users.write_text(f"DSLAB:{user}:{password}\n:{user}:{password}\n")
        os.environ["NTLM_USER_FILE"] = str(self._ntlm_users)  # pyspnego's NTLM acceptor reads it
        outer = self

        class Handler(_Handler):
            server_state = outer

        self._http = ThreadingHTTPServer((host, port), Handler)
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, name=f"winrm-{self.port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            for state in self.shells.values():
                state.shell.stop.set()
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)
        self._ntlm_users.unlink(missing_ok=True)

    # -- operations -------------------------------------------------------------------------

    def create(self, root: ET.Element) -> str:
        shell_id = str(uuid.uuid4()).upper()
        cwd = root.findtext(".//rsp:Shell/rsp:WorkingDirectory", default=DS_PATH, namespaces=NS)
        shell = Shell(
            self.share_dir,
            self.db_path,
            hostname=self.hostname,
            cwd=cwd or DS_PATH,
            fault=self.fault,
            processes=self.processes,
        )
        with self._lock:
            self.shells[shell_id] = ShellState(shell)
        return shell_id

    def command(self, shell_id: str, line: str) -> str:
        state = self.shells[shell_id]
        command_id = str(uuid.uuid4()).upper()
        self.journal(line)

        def run() -> None:
            try:
                command.exit_code, command.stdout, command.stderr = state.shell.run(line)
            except Exception as error:  # a broken tool must not kill the service
                log.exception("command failed")
                command.exit_code, command.stderr = 1, f"lab shell error: {error}\r\n".encode()
            command.done.set()

        command = Command(threading.Thread(target=run, name="winrm-command", daemon=True), line=line)
        state.commands[command_id] = command
        command.thread.start()
        return command_id


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # NTLM authenticates a connection, so keep it open
    server_state: WinRMServer

    def log_message(self, format: str, *args: object) -> None:
        log.debug("winrm: " + format, *args)

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body:
            self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authenticated(self) -> bool:
        state = self.server_state
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "basic":
            user, _, password = base64.b64decode(token).decode().partition(":")
            if user.split("\\")[-1] == state.user and password == state.password:
                return True
        elif scheme.lower() in ("negotiate", "ntlm") and token:
            import spnego

            ctx = getattr(self, "_ntlm", None)
            if ctx is None:
                ctx = self._ntlm = spnego.server(protocol="ntlm")
            try:
                reply = ctx.step(base64.b64decode(token))
            except Exception:
                self._ntlm = None
                self._reply(401, headers={"WWW-Authenticate": "Negotiate"})
                return False
            if not ctx.complete:
                self._reply(401, headers={"WWW-Authenticate": f"{scheme} {base64.b64encode(reply).decode()}"})
                return False
            self._ntlm = None
            return True
        self._reply(401, headers={"WWW-Authenticate": 'Negotiate, Basic realm="WSMAN"'})
        return False

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        if self.path.rstrip("/").lower() != "/wsman":
            self._reply(404)
            return
        if not self._authenticated():
            return
        state = self.server_state
        if self.headers.get("Content-Type", "").startswith("multipart/encrypted"):
            self._reply(400, _fault(2150858770, "the DS lab needs message_encryption 'never' on WinRM connections"))
            return
        subject = body.decode("utf-8", "ignore")  # lets a fault target one command line
        if state.fault("winrm_timeout", subject):
            state.stopping.wait(CONNECTION_HOLD_SECONDS)  # no answer: the client's read timeout ends it
            self.close_connection = True
            return
        if state.fault("winrm_500", subject):
            self._reply(500, _fault(2147500037, "The WinRM service failed (lab fault winrm_500)."))
            return
        try:
            # the lab's own clients on loopback, not untrusted input
            self._reply(200, self._operate(ET.fromstring(body)))  # noqa: S314
        except _WsmanError as error:
            self._reply(500, error.body)
        except _Dropped:
            self.close_connection = True  # no answer at all: the client sees the connection closed

    def _operate(self, root: ET.Element) -> bytes:
        state = self.server_state
        action = root.findtext(".//a:Action", default="", namespaces=NS)
        message_id = root.findtext(".//a:MessageID", default="", namespaces=NS)
        shell_id = next((s.text for s in root.iterfind(".//w:Selector", NS) if s.get("Name") == "ShellId"), None)
        verb = action.rsplit("/", 1)[-1]
        if verb == "Create":
            new_id = state.create(root)
            body = (
                f"<x:ResourceCreated><a:Address>http://dslab/wsman</a:Address><a:ReferenceParameters>"
                f"<w:ResourceURI>{SHELL_URI}/cmd</w:ResourceURI><w:SelectorSet>"
                f'<w:Selector Name="ShellId">{new_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
                f"</x:ResourceCreated><rsp:Shell><rsp:ShellId>{new_id}</rsp:ShellId></rsp:Shell>"
            )
            return _envelope(action + "Response", body, message_id)
        if shell_id not in state.shells:
            raise _WsmanError(_fault(2150858843, "The request for the Windows Remote Shell with ShellId "
                                     f"{shell_id} failed because the shell was not found on the server."))  # fmt: skip
        if verb == "Command":
            command = root.findtext(".//rsp:CommandLine/rsp:Command", default="", namespaces=NS)
            arguments = root.findtext(".//rsp:CommandLine/rsp:Arguments", default="", namespaces=NS)
            line = f"{command} {arguments}".strip()
            command_id = state.command(shell_id, line)
            body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
            return _envelope(f"{SHELL_URI}/CommandResponse", body, message_id)
        if verb == "Receive":
            stream = root.find(".//rsp:Receive/rsp:DesiredStream", NS)
            command_id = stream.get("CommandId") if stream is not None else None
            return self._receive(state.shells[shell_id], command_id or "", root, message_id)
        if verb == "Signal":
            command_id = root.find(".//rsp:Signal", NS).get("CommandId")
            shell_state = state.shells[shell_id]
            shell_state.shell.stop.set()  # terminate: ends a hung command
            shell_state.commands.pop(command_id, None)
            return _envelope(f"{SHELL_URI}/SignalResponse", "<rsp:SignalResponse/>", message_id)
        if verb == "Delete":
            state.shells.pop(shell_id).shell.stop.set()
            return _envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", "", message_id)
        raise _WsmanError(_fault(2150858771, f"DS lab: unsupported WS-Management action {action}"))

    def _receive(self, shell: ShellState, command_id: str, root: ET.Element, message_id: str) -> bytes:
        command = shell.commands.get(command_id)
        if command is None:
            raise _WsmanError(_fault(2150858843, f"unknown command {command_id}"))
        if self.server_state.fault("winrm_receive_drop", command.line):
            raise _Dropped  # the poll is lost; the command runs on
        timeout = _seconds(root.findtext(".//w:OperationTimeout", namespaces=NS))
        deadline = time.monotonic() + timeout
        while not command.done.wait(0.05):
            if time.monotonic() >= deadline or self.server_state.stopping.is_set():
                raise _WsmanError(
                    _fault(
                        TIMED_OUT,
                        "The WS-Management service cannot complete the operation within the time "
                        "specified in OperationTimeout.",
                        subcode="w:TimedOut",
                    )
                )
        streams = ""
        for name, data in (("stdout", command.stdout), ("stderr", command.stderr)):
            if data:
                streams += (
                    f'<rsp:Stream Name="{name}" CommandId="{command_id}">{base64.b64encode(data).decode()}</rsp:Stream>'
                )
            streams += f'<rsp:Stream Name="{name}" CommandId="{command_id}" End="true"></rsp:Stream>'
        done = (
            f'<rsp:CommandState CommandId="{command_id}" State="{SHELL_URI}/CommandState/Done">'
            f"<rsp:ExitCode>{command.exit_code}</rsp:ExitCode></rsp:CommandState>"
        )
        body = f"<rsp:ReceiveResponse>{streams}{done}</rsp:ReceiveResponse>"
        return _envelope(f"{SHELL_URI}/ReceiveResponse", body, message_id)


class _WsmanError(Exception):
    def __init__(self, body: bytes) -> None:
        super().__init__("wsman fault")
        self.body = body


class _Dropped(Exception):
    """Close the connection without an answer (a network drop in the middle of a request)."""
