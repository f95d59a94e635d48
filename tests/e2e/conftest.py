"""End-to-end fixtures: a seeded DS lab and a private Airflow pointed at it, per test module."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.airflow_env import DagRunner, airflow_env, migrate, read_connections_env, run_dag
from tests.airflow_server import Airflow
from tests.labctl import Lab

# Short waits so a failing step shows within seconds in tests; production keeps the defaults.
FAST_SETTINGS = {
    "retries": 1,
    "retry_delay_minutes": 0.05,
    "sensor_poke_seconds": 2,
    "sensor_timeout_minutes": 1,
    "command_timeout_minutes": 0.3,
    "task_timeout_minutes": 0.75,
}
# A hung SQL batch or a silent SMB server must end within seconds in tests (pymssql's query
# timeout; the samba connection's `timeout` extra, read by ds_replication.hooks.share).
SQL_TIMEOUT_SECONDS = 10
SMB_TIMEOUT_SECONDS = 10


def fast_connections(connections: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in connections.items():
        conn = json.loads(value)
        if conn.get("conn_type") == "mssql":
            conn.setdefault("extra", {}).update({"timeout": SQL_TIMEOUT_SECONDS, "login_timeout": 5})
        if conn.get("conn_type") == "samba":
            conn.setdefault("extra", {}).update({"timeout": SMB_TIMEOUT_SECONDS})
        out[key] = json.dumps(conn)
    return out


class Estate:
    """A running lab and the Airflow that replicates it. With `one_process` (the default), the
    estate's runs share one long-lived `dag.test()` process (tests.airflow_env.DagRunner)
    instead of a fresh process each: about 2 s of CPU a run instead of 11. Each run still parses
    the DAG file, so it sees the estate file as it is then."""

    def __init__(
        self,
        root: Path,
        slaves: int,
        identity: bool,
        settings: dict,
        lab_options: tuple[str, ...] = (),
        one_process: bool = True,
    ) -> None:
        self.root = root
        self.runner: DagRunner | None = None
        self.lab = Lab(root / "lab").up(slaves=slaves, identity=identity, options=lab_options)
        try:
            config = yaml.safe_load(self.lab.config_path.read_text())
            config["defaults"].update(settings)
            self.config_path = root / "replication.yaml"
            self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            self.env = airflow_env(
                root / "airflow",
                self.config_path,
                fast_connections(read_connections_env(self.lab.connections_path)),
            )
            migrate(self.env)
            if one_process:
                self.runner = DagRunner(self.env, root / "runs")
        except BaseException:
            self.lab.down()
            raise

    def run(self, slave: str, conf: dict | None = None) -> dict:
        return self.run_dag(f"replicate_{slave}", conf)

    def run_dag(self, dag_id: str, conf: dict | None = None) -> dict:
        if self.runner:
            return self.runner.run(dag_id, conf)
        return run_dag(self.env, dag_id, conf)

    def stop(self) -> None:
        try:
            if self.runner:
                self.runner.stop()
        finally:
            self.lab.down()


def _estate(
    request,
    slaves: int,
    identity: bool,
    settings: dict | None = None,
    lab_options: tuple[str, ...] = (),
    one_process: bool = True,
):
    root = Path(tempfile.mkdtemp(prefix="ds-e2e-"))
    estate = Estate(root, slaves, identity, settings or FAST_SETTINGS, lab_options, one_process)
    request.addfinalizer(lambda: (estate.stop(), shutil.rmtree(root, ignore_errors=True)))
    return estate


@pytest.fixture(scope="module")
def estate(request):
    return _estate(request, slaves=2, identity=False)


@pytest.fixture(scope="module")
def identity_estate(request):
    return _estate(request, slaves=1, identity=True)


class SchedulerEstate:
    """A DS lab and an Airflow under a real scheduler (api-server, scheduler, dag-processor, and
    any more `components`) replicating it, each in its own process group: what the scheduler
    tests share (test_approval, test_page, test_concurrency, test_celery). Manual runs only
    (`schedule: null`); every `replicate_<slave>` DAG is parsed and unpaused before the tests.

    :param slaves: how many slaves the lab has.
    :param defaults: estate defaults over FAST_SETTINGS.
    :param configure: changes the estate file's dict before it is written (queues, export slots).
    :param extra_env: more variables for every component.
    :param sign_in: an `admin` user whose REST token is `self.token`.
    Subclasses start what Airflow needs beside the lab in `_start_services` (PostgreSQL, Redis)
    and stop it in `_stop_services`.
    """

    def __init__(
        self,
        root: Path,
        slaves: int = 2,
        defaults: dict | None = None,
        configure: Callable[[dict], None] | None = None,
        components: dict[str, list[str]] | None = None,
        extra_env: dict[str, str] | None = None,
        sign_in: bool = False,
    ) -> None:
        self.root = root
        self.lab = Lab(root / "lab").up(slaves=slaves)
        self.airflow: Airflow | None = None
        try:
            config = yaml.safe_load(self.lab.config_path.read_text())
            config["defaults"].update({**FAST_SETTINGS, **(defaults or {}), "schedule": None})
            if configure:
                configure(config)
            self.config = config
            self.config_path = root / "replication.yaml"
            self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            services_env = self._start_services()
            env = airflow_env(
                root / "airflow", self.config_path, fast_connections(read_connections_env(self.lab.connections_path))
            )
            env.update(services_env)
            migrate(env)
            self.airflow = Airflow(root, env, components=components, extra_env={**services_env, **(extra_env or {})})
            self.base = self.airflow.url
            self.airflow.env["AIRFLOW__API__BASE_URL"] = self.base  # the links in alerts and on the page
            password = self.airflow.add_user("admin", "admin") if sign_in else None
            master = config["master"]
            self.pool = f"ds_export_{master['name']}"
            slots = str(master.get("export_slots", 2))
            self.airflow.cli("pools", "set", self.pool, slots, "DS exports on the master")
            self.airflow.start()
            self.dag_ids = tuple(f"replicate_{s['name']}" for s in config["slaves"])
            self.airflow.wait_ready(self.dag_ids)
            self.airflow.cli("dags", "unpause", "-y", "--treat-dag-id-as-regex", "^replicate_")
            self.token = self.airflow.token("admin", password) if password else None
        except BaseException:
            self.stop()
            raise

    def _start_services(self) -> dict[str, str]:
        """Start what Airflow needs beside the lab; the variables that point Airflow at it."""
        return {}

    def _stop_services(self) -> None:
        pass

    def stop(self) -> None:
        try:
            if self.airflow:
                self.airflow.stop()
        finally:
            try:
                self._stop_services()
            finally:
                self.lab.down()


def scheduler_estate(request, estate_class: type[SchedulerEstate] = SchedulerEstate, **options) -> SchedulerEstate:
    """A module's SchedulerEstate (or subclass), stopped and removed when the module ends; one
    whose set-up fails stops what it started itself."""
    root = Path(tempfile.mkdtemp(prefix="ds-sched-"))
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    estate = estate_class(root, **options)
    request.addfinalizer(estate.stop)
    return estate
