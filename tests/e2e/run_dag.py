"""Run DagRuns of a replication DAG with `dag.test()` and print each outcome as JSON.

`run_dag DAG_ID [--conf JSON]` runs one DagRun in this process (tests.airflow_env.run_dag starts
a fresh process for each run). `run_dag --serve` runs the DagRuns asked on stdin one after
another in one process (tests.airflow_env.DagRunner): Airflow's imports and its in-process
Execution API then start once, not for every run (about 9 of a run's 11 s of CPU). The DAG file
is parsed again for every run, so each run sees the estate file as it is then.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Iterator

MARKER = "DAGRUN-RESULT "


def run_once(dag_id: str, conf: dict) -> dict:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    dag_run = dag.test(run_conf=conf)
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == dag_run.run_id)
        ).all()
        xcoms = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.key == "return_value",
            )
        ).all()
        return {
            "dag_id": dag.dag_id,
            "run_id": dag_run.run_id,
            "state": str(dag_run.state),
            "tasks": {ti.task_id: {"state": str(ti.state), "try_number": ti.try_number} for ti in tis},
            "xcom": {x.task_id: XComModel.deserialize_value(x) for x in xcoms},
            "durations": {ti.task_id: ti.duration for ti in tis},
        }


@contextlib.contextmanager
def _output_to(path: str) -> Iterator[None]:
    """This process's stdout and stderr (the file descriptors, so Airflow's log handlers follow)
    go to `path` for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.dup2(log, 1)
        os.dup2(log, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (log, *saved):
            os.close(fd)


def serve() -> None:
    """One JSON request a line on stdin ({"dag_id", "conf", "log"}); one result line on stdout
    for each, after its run: the run's own output is in its `log` file."""
    results = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        request = json.loads(line)
        result = None
        with _output_to(request["log"]):
            try:
                result = run_once(request["dag_id"], request["conf"])
            except BaseException:  # said in the run's log; the caller raises with it
                traceback.print_exc()
        results.write(MARKER + json.dumps(result, default=str) + "\n")
        results.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dag_id", nargs="?")
    parser.add_argument("--conf", default="{}")
    parser.add_argument("--serve", action="store_true", help="run the DagRuns asked on stdin")
    args = parser.parse_args()
    if args.serve:
        serve()
        # every result is written and flushed; Airflow's exit hooks took over 5 s here (the
        # caller then stopped the runner with a signal) and have nothing left to keep
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    result = run_once(args.dag_id, json.loads(args.conf))
    print(MARKER + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
