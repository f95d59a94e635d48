"""A private Redis for a test: Debian's `redis-server` on its own free port on 127.0.0.1, nothing
saved to disk, its working directory a temporary one."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.lab.smb import free_port

READY_TIMEOUT = 60


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ds-redis-"))
        self.log = self.dir / "redis.log"
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> Redis:
        binary = shutil.which("redis-server")
        if not binary:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("redis-server is not installed: run `make system-deps` (Debian's redis-server)")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    *(binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no"),
                ],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}):\n{self.log.read_text()}")
            with contextlib.suppress(redis.exceptions.ConnectionError):
                client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server not ready in {READY_TIMEOUT}s")
            time.sleep(0.2)

    def stop(self) -> None:
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
