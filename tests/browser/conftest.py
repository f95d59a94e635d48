"""Browser tests: the Airflow UI of `make ui`, driven by Playwright in Debian's headless Chromium.

Fixtures (any module under tests/browser/ may use them; each module starts one Airflow):

- `airflow_ui` (module): `make ui`'s launcher (tests/ui.py) started as a subprocess: a seeded
  DS lab (master, slave1, slave2) and Airflow replicating it, DAGs created paused (a module
  may override it, e.g. `AirflowUi(work, ("--lab", dir, "--estate", file))`). Its
  attributes: `url`, `user`, `password` (an admin), `viewer`, `viewer_password` (Airflow's
  viewer role: may read, not trigger), `lab` (tests.labctl.Lab), `dag_ids`; `token()` (a
  bearer token), `api(method, path, body=None)` (REST with that token, JSON back),
  `wait_run(dag_id, run_id)` (the finished run, or a failure with the task states and logs),
  `wait_worker_reported(dag_id, run_id, task_id, try_number)` (the scheduler has handled the
  end of the task's process: answer a question only then, Airflow 3.3 races before),
  `logs()` (the components' log tails), `stop()` (Ctrl-C to the launcher; the pids still
  alive afterwards, [] when clean). Stopped at the end of the module if a test has not.
- `browser` (module): Chromium launched with the flags this machine needs; Playwright gives
  each launch a fresh, empty profile (its own --user-data-dir) and removes it on close.
- `page` (function): a page in a new browser context already signed in to `airflow_ui`
  (the session cookie of one sign-in per module, reused), the browser's time zone UTC.
- `sign_in(page, ui, user=None, password=None)`: Airflow's sign-in form filled as a person
  does (default: the admin `make ui` prints; `ui.viewer`/`ui.viewer_password`: its viewer).
- `screenshot(page, name)` (function): saves `test-artifacts/browser/<module>/<name>.png`
  (git-ignored) for a person to look at; returns its path.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.airflow_env import PYTHON, REPO
from tests.airflow_server import FINISHED, READY_TIMEOUT, RUN_TIMEOUT, tail, wait_worker_reported
from tests.labctl import Lab

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts" / "browser"
# Starting the lab, migrating the DB and Airflow's first parse, on a loaded 2-core machine.
START_TIMEOUT = 300 + READY_TIMEOUT


class AirflowUi:
    """`make ui` running in a subprocess, as a person would start it."""

    def __init__(self, work: Path, launcher_args: tuple[str, ...] = ()) -> None:
        self.work = work
        ready = work / "ready.json"
        self.output = work / "launcher.log"
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "tests.ui", "--ready-file", str(ready), *launcher_args],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"`make ui` did not come up:\n{tail(self.output, 80)}")
            time.sleep(1)
        self.info: dict[str, Any] = json.loads(ready.read_text())
        self.url, self.user, self.password = self.info["url"], self.info["user"], self.info["password"]
        self.viewer, self.viewer_password = self.info["viewer"], self.info["viewer_password"]
        self.dag_ids: list[str] = self.info["dag_ids"]
        self.lab = Lab(Path(self.info["lab_dir"]))
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            self._token = self.api("POST", "/auth/token", {"username": self.user, "password": self.password})[
                "access_token"
            ]
        return self._token

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        import httpx

        headers = {} if path == "/auth/token" else {"Authorization": f"Bearer {token or self.token()}"}
        response = httpx.request(method, self.url + path, json=body, headers=headers, timeout=60)
        response.raise_for_status()
        return response.json() if response.content else None

    def wait_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in FINISHED:
                return run
            time.sleep(2)
        raise AssertionError(f"{dag_id} {run_id} not finished within {timeout}s\n{self.describe(dag_id, run_id)}")

    def wait_worker_reported(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> None:
        """Until the scheduler has handled the end of the task's process of that try (tests.airflow_server)."""
        wait_worker_reported(
            Path(self.info["component_logs"]) / "scheduler.log",
            dag_id,
            run_id,
            task_id,
            check=self._check_running,
            describe=lambda: self.describe(dag_id, run_id),
            try_number=try_number,
        )

    def _check_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"`make ui` exited ({self.proc.returncode}):\n{tail(self.output, 80)}")

    def describe(self, dag_id: str, run_id: str) -> str:
        tis = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        states = "\n".join(f"  {ti['task_id']}: {ti['state']} try {ti['try_number']}" for ti in tis)
        return f"{states}\n{self.task_logs(dag_id, run_id, tis)}{self.logs()}"

    def task_logs(self, dag_id: str, run_id: str, tis: list[dict[str, Any]]) -> str:
        """The tail of every try of each task not ended in success or skipped: why it retried."""
        out = []
        for ti in tis:
            if ti["state"] in ("success", "skipped", None):
                continue
            for attempt in range(1, ti["try_number"] + 1):
                path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{attempt}"
                try:
                    content = self.api("GET", path + "?full_content=true").get("content", [])
                except Exception as error:  # a failure message must still come out
                    content = [f"(log not read: {error})"]
                lines = [str(c.get("event", c)) if isinstance(c, dict) else str(c) for c in content][-30:]
                out.append(f"--- {ti['task_id']} try {attempt} ---\n" + "\n".join(lines))
        return "\n".join(out) + ("\n" if out else "")

    def logs(self) -> str:
        logs = Path(self.info["component_logs"])
        return "\n".join(f"--- {log.name} ---\n{tail(log)}" for log in sorted(logs.glob("*.log")))

    def stop(self) -> list[int]:
        """Ctrl-C to the launcher, as a person stops it; the pids it started still alive after."""
        if self.proc.poll() is None:
            before = _tree(self.proc.pid)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            started = before | set(getattr(self, "info", {}).get("lab_pids", []))
            return sorted(pid for pid in started if _alive(pid))
        return []


def _tree(pid: int) -> set[int]:
    with contextlib.suppress(psutil.Error):
        return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
    return {pid}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def airflow_ui():
    work = Path(tempfile.mkdtemp(prefix="ds-browser-"))
    try:
        ui = AirflowUi(work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    yield ui
    left = ui.stop()
    shutil.rmtree(work, ignore_errors=True)
    assert not left, f"processes left running by `make ui`: {left}"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def sign_in(page, ui: AirflowUi, user: str | None = None, password: str | None = None) -> None:
    """Airflow's own sign-in form, as a person fills it (as `make ui`'s admin unless told)."""
    page.goto(ui.url + "/")
    page.get_by_label("Username").fill(user or ui.user)
    page.get_by_label("Password").fill(password or ui.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Welcome").wait_for()


@pytest.fixture(scope="module")
def _session_state(browser, airflow_ui):
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, airflow_ui)
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture
def page(browser, _session_state):
    # the browser's time zone UTC whatever the machine's (a test may open a context in another)
    context = browser.new_context(
        storage_state=_session_state, viewport={"width": 1400, "height": 1000}, timezone_id="UTC"
    )
    context.set_default_timeout(60_000)  # a loaded machine: the UI's first render takes seconds
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(request):
    folder = ARTIFACTS / request.module.__name__.rsplit(".", 1)[-1]
    folder.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
