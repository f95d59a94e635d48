"""The SMB side of a lab host: a private `smbd` (Debian samba) and a fault proxy in front of it.

smbd listens on a private port; clients connect to the proxy on the host's public SMB port.
The proxy forwards bytes and models network faults; it recognises a file name in a request
(SMB2 sends names as UTF-16LE) so that a fault can target one step of a run. While no SMB
fault is armed it only forwards (one `stat` of the faults file per chunk), so what goes
through it runs near smbd's own speed; `smbd_port` (in lab.json) is smbd itself.
- smb_disconnect: the connection is closed when a request names the matching file;
- smb_stall: the connection stops forwarding, without closing, until the lab stops.
share_full is real: the share is a small tmpfs, and while the fault is armed a ballast file
fills it, so smbd itself answers STATUS_DISK_FULL.
A host started with `smb1` runs smbd with SMB1 (NT1) only, as Windows Server 2003 does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

Fault = Callable[[str, str], bool]
Armed = Callable[[], list[dict]]
SHARE_SIZE = "256m"
BALLAST = ".lab-ballast"
STALL_SECONDS = 300
SOCKET_PATH_MAX = 107
PROXY_FAULTS = frozenset({"smb_disconnect", "smb_stall"})
CHUNK = 1 << 18


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(log: Path, lines: int = 15) -> str:
    """The last lines of a process's log, for an error that says why it did not start."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


def check_socket_room(host_dir: Path) -> None:
    """Refuse a host dir too deep for smbd (control.up asks before any host starts): smbd puts
    unix sockets in its lock directory (msg.sock/<pid>), and a path longer than a socket address
    holds (107 bytes) makes it exit with code 1 and no message."""
    socket_path = host_dir / "smb" / "lock" / "msg.sock" / ("9" * 10)
    if len(str(socket_path).encode()) > SOCKET_PATH_MAX:
        raise ValueError(
            f"lab dir too deep for smbd's unix sockets ({socket_path} is over {SOCKET_PATH_MAX} bytes): "
            "use a shorter --dir"
        )


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"smbd exited with code {process.returncode}; {log} ends:\n{log_tail(log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"smbd did not listen on port {port} within {timeout} s")


class SmbServer:
    def __init__(
        self,
        host_dir: Path,
        share_dir: Path,
        user: str,
        password: str,
        fault: Fault,
        armed: Armed,
        name: str,
        smb1: bool = False,
    ) -> None:
        self.dir = host_dir / "smb"
        self.smb1 = smb1
        self.share_dir = share_dir
        self.user, self.password, self.name = user, password, name
        self.fault, self.armed = fault, armed
        self.process: subprocess.Popen | None = None
        self.proxy: FaultProxy | None = None
        self.mounted = False
        self._stop = threading.Event()
        self._ballast_thread = threading.Thread(target=self._keep_ballast, name="smb-ballast", daemon=True)

    @property
    def port(self) -> int:
        assert self.proxy is not None
        return self.proxy.port

    @property
    def smbd_port(self) -> int:
        """smbd's own port, behind the proxy (no faults there: for measuring)."""
        assert self.proxy is not None
        return self.proxy.target_port

    def start(self) -> None:
        self.share_dir.mkdir(parents=True, exist_ok=True)
        self._mount_share()
        for sub in ("private", "lock", "state", "cache", "pid", "ncalrpc"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        log = self.dir / "smbd.log"
        # A port picked free can be taken by another process before smbd binds it: try another.
        for attempt in range(3):
            port = free_port()
            conf = self._write_config(port)
            self._add_user(conf)
            self.process = subprocess.Popen(
                ["smbd", "--foreground", "--no-process-group", "--debug-stdout", f"--configfile={conf}"],
                stdout=open(log, "ab"),  # noqa: SIM115 - the child owns it
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_for_port(port, 15, self.process, log)
                break
            except RuntimeError:
                self._stop_smbd()
                if attempt == 2:
                    raise
        self.proxy = FaultProxy(port, self.fault, self.armed, self._stop)
        self.proxy.start()
        self._ballast_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.proxy is not None:
            self.proxy.stop()
        self._stop_smbd()
        if self._ballast_thread.is_alive():
            self._ballast_thread.join(timeout=2)
        self._unmount_share()

    def _stop_smbd(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def _mount_share(self) -> None:
        # A small tmpfs, so that "share full" can be made real (see the module docstring).
        if os.geteuid() != 0 or os.path.ismount(self.share_dir):
            return
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SHARE_SIZE},mode=0777", "tmpfs", str(self.share_dir)],
            capture_output=True,
            text=True,
        )
        self.mounted = result.returncode == 0
        if not self.mounted:
            log.warning("share not on tmpfs (%s): the share_full fault is not available", result.stderr.strip())

    def _unmount_share(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.share_dir)], capture_output=True)
            self.mounted = False

    def _write_config(self, port: int) -> Path:
        d = self.dir
        conf = d / "smb.conf"
        # Windows Server 2003 speaks SMB1 only; the lab's other hosts SMB 2.1 and later
        protocols = (
            "server min protocol = NT1\n  server max protocol = NT1" if self.smb1 else "server min protocol = SMB2_10"
        )
        conf.write_text(
            f"""[global]
  netbios name = {self.name.upper()[:15]}
  workgroup = DSLAB
  server role = standalone server
  smb ports = {port}
  bind interfaces only = yes
  interfaces = 127.0.0.1
  private dir = {d}/private
  lock directory = {d}/lock
  state directory = {d}/state
  cache directory = {d}/cache
  pid directory = {d}/pid
  ncalrpc dir = {d}/ncalrpc
  passdb backend = tdbsam:{d}/private/passdb.tdb
  username map = {d}/users.map
  log level = 1
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  {protocols}
  map to guest = Never
  disable netbios = yes

[express]
  path = {self.share_dir}
  read only = no
  force user = root
  create mask = 0644
  directory mask = 0755
"""
        )
        # The lab user is a Samba account of the local root user (no system account needed).
        (d / "users.map").write_text(f"root = {self.user}\n")
        return conf

    def _add_user(self, conf: Path) -> None:
        secret = f"{self.password}\n{self.password}\n"
        result = subprocess.run(
            ["smbpasswd", "-c", str(conf), "-s", "-a", "root"], input=secret, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"smbpasswd failed: {result.stderr.strip() or result.stdout.strip()}")

    def _keep_ballast(self) -> None:
        """While share_full is armed, a ballast file fills the share (kept 3 s past the last firing)."""
        ballast = self.share_dir / BALLAST
        last_armed = 0.0
        while not self._stop.wait(0.1):
            if not self.mounted:
                return
            if any(f["name"] == "share_full" for f in self.armed()):
                last_armed = time.monotonic()
                if not ballast.exists():
                    with contextlib.suppress(OSError), open(ballast, "wb") as f:
                        while True:
                            f.write(b"\0" * (1 << 20))
            elif ballast.exists() and time.monotonic() - last_armed > 3:
                ballast.unlink(missing_ok=True)


class FaultProxy:
    """TCP forwarding from the host's public SMB port to its smbd, with network faults."""

    def __init__(self, target_port: int, fault: Fault, armed: Armed, stopping: threading.Event) -> None:
        self.target_port = target_port
        self.fault = fault
        self.armed = armed
        self.stopping = stopping
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name=f"smb-proxy-{self.port}", daemon=True)
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self._lock:
            for sock in list(self._sockets):
                with contextlib.suppress(OSError):
                    sock.close()
        self._thread.join(timeout=2)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name="smb-proxy-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets.update((client, upstream))
        try:
            self._pump(client, upstream)
        finally:
            with self._lock:
                self._sockets.difference_update((client, upstream))
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.close()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        while not self.stopping.is_set():
            readable, _, _ = select.select(list(peers), [], [], 0.5)
            for sock in readable:
                data = sock.recv(CHUNK)
                if not data:
                    return
                if sock is client and any(f["name"] in PROXY_FAULTS for f in self.armed()):
                    # names are UTF-16LE at either byte alignment of this chunk
                    subject = "|".join((data.decode("utf-16-le", "ignore"), data[1:].decode("utf-16-le", "ignore")))
                    if self.fault("smb_disconnect", subject):
                        return  # both sides closed by _serve, mid-conversation
                    if self.fault("smb_stall", subject):
                        self.stopping.wait(STALL_SECONDS)  # silence, the connection left open
                        return
                peers[sock].sendall(data)
