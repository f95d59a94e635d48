"""End-to-end fixtures: a seeded DS lab and a private Airflow pointed at it, per test module."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from tests.airflow_env import airflow_env, migrate, read_connections_env
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
    """A running lab and the Airflow that replicates it."""

    def __init__(
        self, root: Path, slaves: int, identity: bool, settings: dict, lab_options: tuple[str, ...] = ()
    ) -> None:
        self.root = root
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
        except BaseException:
            self.lab.down()
            raise

    def run(self, slave: str, conf: dict | None = None) -> dict:
        from tests.airflow_env import run_dag

        return run_dag(self.env, f"replicate_{slave}", conf)

    def stop(self) -> None:
        self.lab.down()


def _estate(request, slaves: int, identity: bool, settings: dict | None = None, lab_options: tuple[str, ...] = ()):
    root = Path(tempfile.mkdtemp(prefix="ds-e2e-"))
    estate = Estate(root, slaves, identity, settings or FAST_SETTINGS, lab_options)
    request.addfinalizer(lambda: (estate.stop(), shutil.rmtree(root, ignore_errors=True)))
    return estate


@pytest.fixture(scope="module")
def estate(request):
    return _estate(request, slaves=2, identity=False)


@pytest.fixture(scope="module")
def identity_estate(request):
    return _estate(request, slaves=1, identity=True)
