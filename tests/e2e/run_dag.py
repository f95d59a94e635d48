"""Run one DagRun of a replication DAG with `dag.test()` and print its outcome as JSON.

Run in its own process (tests.airflow_env.run_dag) so every run starts from a clean import.
"""

from __future__ import annotations

import argparse
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dag_id")
    parser.add_argument("--conf", default="{}")
    args = parser.parse_args()

    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    dag = bag.get_dag(args.dag_id)
    dag_run = dag.test(run_conf=json.loads(args.conf))
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
        result = {
            "dag_id": dag.dag_id,
            "run_id": dag_run.run_id,
            "state": str(dag_run.state),
            "tasks": {ti.task_id: {"state": str(ti.state), "try_number": ti.try_number} for ti in tis},
            "xcom": {x.task_id: XComModel.deserialize_value(x) for x in xcoms},
            "durations": {ti.task_id: ti.duration for ti in tis},
        }
    print("DAGRUN-RESULT " + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
