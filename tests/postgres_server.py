"""A private PostgreSQL for a test: Debian's `postgresql` binaries, a cluster made with initdb in
a temporary directory, its own free port on 127.0.0.1 and its unix socket in that directory.

PostgreSQL refuses to run as root: as root, the cluster belongs to and runs as the `postgres`
user (Debian's package creates it), else `nobody`; as anyone else, as that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.lab.smb import free_port

READY_TIMEOUT = 120
USER = "airflow"  # the cluster's superuser; local connections are trusted (a private test cluster)


def binaries() -> Path:
    """The directory of initdb and postgres: on PATH, else Debian's /usr/lib/postgresql/<n>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (no initdb): run `make system-deps` (Debian's postgresql)")
    return Path(versions[-1]).parent


def _owner() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and neither a 'postgres' nor a 'nobody' user to run PostgreSQL as")


class Postgres:
    """One cluster, one database; `url()` is how Airflow and Celery reach it."""

    def __init__(self, database: str = "airflow") -> None:
        self.database = database
        self.port = free_port()
        self.bin = binaries()
        self.owner = _owner()
        # its own directory in the temp folder (not under a root-only test directory), owned by the user
        self.dir = Path(tempfile.mkdtemp(prefix="ds-pg-"))
        os.chown(self.dir, self.owner.pw_uid, self.owner.pw_gid)
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.proc: subprocess.Popen | None = None

    def _as_owner(self) -> dict:
        if os.geteuid() != 0:
            return {}
        return {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}

    def url(self, driver: str = "psycopg") -> str:
        return f"postgresql+{driver}://{USER}@127.0.0.1:{self.port}/{self.database}"

    def start(self) -> Postgres:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        subprocess.run(
            [self.bin / "initdb", "-D", self.data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-locale", "-N"],
            cwd=self.dir,
            check=True,
            capture_output=True,
            timeout=300,
            **self._as_owner(),
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "max_connections": "300",  # every Airflow component and Celery pool process has its own
            "fsync": "off",  # a throw-away cluster
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        options = [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [self.bin / "postgres", "-D", self.data, "-p", str(self.port), "-k", str(self.dir), *options],
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._as_owner(),
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited ({self.proc.returncode}):\n{self.log.read_text(errors='replace')}")
            try:
                self._create_database()
                return
            except Exception as error:  # not accepting connections yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres not ready in {READY_TIMEOUT}s: {error}") from error
            time.sleep(0.5)

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, dbname="postgres", autocommit=True, connect_timeout=5
        ) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone():
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the postmaster, its group killed if it lingers; the directory removed."""
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
            if self.proc:  # backends left in the group once the postmaster is gone
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
