"""`make ui`: the Airflow UI on a seeded DS lab, to try the DAGs by hand.

Starts a DS lab (a master and two slaves, seeded) and a private Airflow (api-server,
scheduler, dag-processor, triggerer) with the project's DAGs, the lab's connections, the
export pool and the lab's estate file, on free ports, in a temp dir; `[api] base_url` is its
address, so the alert mails (the lab's SMTP sink: `python -m tests.lab mail`) link to it.
Prints the URL, how to sign in, and the file that sets up Airflow's command line for it;
Ctrl-C (or SIGTERM) stops every process it started, by pid, and removes the temp dir.

The DAGs are created paused, as on a first deploy of a real estate (docs/ui.md, "The Airflow
UI"). `--ready-file F` writes what a test needs to drive it (url, user, password, lab dir,
pids) as JSON to F once everything is up.

`--lab DIR` uses a lab already running (`make demo DEMO_ARGS=--keep` leaves one) and leaves
it running; `--estate FILE` and `--airflow-home DIR` use that estate file and that Airflow
home (its DB: the demo's runs) instead of new ones, and keep them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

import yaml

from tests.airflow_env import airflow_env, migrate, read_connections_env
from tests.airflow_server import COMPONENTS, Airflow
from tests.lab.smb import free_port
from tests.labctl import Lab

USER = "admin"
# A second user with Airflow's "viewer" role: reads every DAG and the page, may trigger nothing
# (to see what an operator without the rights meets).
VIEWER = "viewer"
# Short waits and one retry, so a run by hand ends in a minute on the lab (production: 30 s polls).
SETTINGS = {"sensor_poke_seconds": 3, "retries": 1, "retry_delay_minutes": 0.1}
# As `airflow standalone` runs it: the triggerer too (deferred tasks; Airflow's home page shows it).
UI_COMPONENTS = {**COMPONENTS, "triggerer": ["triggerer"]}


class AirflowUi:
    """A seeded DS lab and the Airflow that replicates it, signed in as `USER` with `password`."""

    def __init__(
        self,
        root: Path,
        slaves: int = 2,
        lab_dir: Path | None = None,
        estate: Path | None = None,
        home: Path | None = None,
    ) -> None:
        self.root = root
        self.slaves = slaves
        self.own_lab = lab_dir is None
        self.lab = Lab(root / "lab" if lab_dir is None else lab_dir)
        self.config_path = estate or root / "replication.yaml"
        self.own_estate = estate is None
        self.home = home or root / "airflow"
        self.airflow: Airflow | None = None
        self.password = ""
        self.viewer_password = ""
        # Airflow's settings, as shell exports: `. <file>` and the `airflow` CLI (the alert
        # mails' commands) talks to this Airflow
        self.cli_env = root / "airflow.env"

    def start(self) -> None:
        if self.own_lab:
            self.lab.up(slaves=self.slaves)
        if self.own_estate:
            estate = yaml.safe_load(self.lab.config_path.read_text())
            estate["defaults"].update(SETTINGS)
            # the lab's estate opts out of pausing; here the DAGs start paused, as on a first deploy
            estate["defaults"].pop("paused_on_first_deploy", None)
            self.config_path.write_text(yaml.safe_dump(estate, sort_keys=False, allow_unicode=True))
        estate = yaml.safe_load(self.config_path.read_text())
        env = airflow_env(self.home, self.config_path, read_connections_env(self.lab.connections_path))
        migrate(env)
        self.airflow = Airflow(
            self.root,
            env,
            UI_COMPONENTS,
            # the triggerer serves its logs on a port of its own (8794 unless told otherwise)
            extra_env={"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())},
        )
        # the address users open the UI at: the alert mails link to the failed run and the page
        self.airflow.env["AIRFLOW__API__BASE_URL"] = self.airflow.url
        self.password = self.airflow.add_user(USER)
        self.viewer_password = self.airflow.add_user(VIEWER, "viewer")
        master = estate["master"]
        pool = f"ds_export_{master['name']}"
        self.airflow.cli("pools", "set", pool, str(master.get("export_slots", 2)), "DS exports on the master")
        self.airflow.start()
        self.airflow.wait_ready(self.dag_ids)
        self.cli_env.touch(mode=0o600)  # the lab's connection passwords are among the settings
        self.cli_env.write_text(
            "".join(f"export {name}={shlex.quote(value)}\n" for name, value in sorted(self.airflow.env.items()))
        )
        token = self.airflow.token(USER, self.password)  # signing in works before anyone is told to
        dags = self.airflow.rest("GET", "/api/v2/dags?tags=ds-replication", token)["dags"]
        self.paused = all(d["is_paused"] for d in dags)

    @property
    def dag_ids(self) -> tuple[str, ...]:
        return tuple(f"replicate_{slave}" for slave in self.lab.slaves())

    def ready_info(self) -> dict:
        lab = self.lab.info
        lab_pids = [lab["smtp_pid"], *[h[k] for h in lab["hosts"].values() for k in ("pid", "smbd_pid") if h.get(k)]]
        return {
            "url": self.airflow.url,
            "user": USER,
            "password": self.password,
            "viewer": VIEWER,
            "viewer_password": self.viewer_password,
            "root": str(self.root),
            "lab_dir": str(self.lab.dir),
            "config": str(self.config_path),
            "component_logs": str(self.airflow.logs),
            "airflow_pids": {name: proc.pid for name, proc in self.airflow.procs.items()},
            "lab_pids": lab_pids,
            "dag_ids": list(self.dag_ids),
            "cli_env": str(self.cli_env),
        }

    def stop(self) -> None:
        """Airflow first (its tasks talk to the lab), then the lab; each part even if another fails."""
        try:
            if self.airflow is not None:
                self.airflow.stop()
        finally:
            if self.own_lab and (self.lab.dir / "lab.json").exists():
                self.lab.down()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slaves", type=int, default=2)
    parser.add_argument("--ready-file", help="write url, user, password and pids here as JSON once up")
    parser.add_argument("--lab", type=Path, help="a running lab to use (left running)")
    parser.add_argument("--estate", type=Path, help="the estate file (default: the lab's, DAGs created paused)")
    parser.add_argument("--airflow-home", type=Path, help="an Airflow home to use and keep (default: a new one)")
    args = parser.parse_args()
    # also when started in the background of a shell, which starts it with SIGINT ignored
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    root = Path(tempfile.mkdtemp(prefix="ds-ui-"))
    ui = AirflowUi(root, args.slaves, args.lab, args.estate, args.airflow_home)
    started = time.monotonic()
    try:
        lab = f"the DS lab in {args.lab}" if args.lab else f"a DS lab (master + {args.slaves} slaves, seeded)"
        print(f"starting Airflow on {lab}, in {root} ...", flush=True)
        ui.start()
        if args.ready_file:
            tmp = Path(args.ready_file + ".tmp")  # whole, then renamed: a reader waits for the file to exist
            tmp.write_text(json.dumps(ui.ready_info()))
            tmp.replace(args.ready_file)
        print(
            f"\nAirflow is up ({time.monotonic() - started:.0f} s): {ui.airflow.url}\n"
            f"  sign in as {USER}, password {ui.password} (or as {VIEWER}, password {ui.viewer_password}: "
            "reads everything, may trigger nothing)\n"
            f"  DAGs {', '.join(ui.dag_ids)}"
            + (
                ', paused as on a first deploy: trigger one with "Dry run" on '
                '(the form\'s "Unpause ... on trigger" lets it start).\n'
                if ui.paused
                else ".\n"
            )
            + f"  estate file {ui.config_path}; lab {ui.lab.dir} (python -m tests.lab ... --dir {ui.lab.dir})\n"
            f"  alert mails: python -m tests.lab mail --dir {ui.lab.dir}; their airflow commands run after\n"
            f"    . {ui.cli_env}\n"
            f"Ctrl-C stops Airflow{'' if args.lab else ' and the lab'} and removes the temp dir.",
            flush=True,
        )
        while True:
            signal.pause()
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        # a second Ctrl-C must not leave processes behind
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            ui.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    print("stopped: every process ended, temp dir removed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
