"""The replication DAGs' runs, task states and XComs, read from Airflow's metadata DB as
Airflow's own API reads them (its models and session; XComModel.deserialize_value). Read only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ds_replication.page.run_figures import DagFacts, RunRecord

# The factory tags every replication DAG with these (factory.build_dag).
DAG_TAG = "ds-replication"
SLAVE_TAG_PREFIX = "slave:"
NIGHTS = 30


def replication_dags(allowed: Iterable[str] | None = None) -> dict[str, str]:
    """dag_id -> slave name of every replication DAG the metadata DB knows (the estate's
    `replicate_*` DAGs, by their tags), limited to `allowed` dag ids when given."""
    from airflow.models.dag import DagModel, DagTag
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tagged = set(session.scalars(select(DagTag.dag_id).where(DagTag.name == DAG_TAG)))
        live = set(session.scalars(select(DagModel.dag_id).where(DagModel.is_stale.is_(False))))
        rows = session.execute(select(DagTag.dag_id, DagTag.name).where(DagTag.name.startswith(SLAVE_TAG_PREFIX))).all()
    names = {dag_id: name.removeprefix(SLAVE_TAG_PREFIX) for dag_id, name in rows}
    dags = {dag_id: names.get(dag_id, dag_id.removeprefix("replicate_")) for dag_id in tagged & live}
    if allowed is not None:
        dags = {d: s for d, s in dags.items() if d in set(allowed)}
    return dict(sorted(dags.items(), key=lambda item: item[1]))


def runs(dag_id: str, limit: int = NIGHTS * 2, run_id: str | None = None) -> list[RunRecord]:
    """The DAG's newest runs (or the one `run_id`), newest first, with task states and XComs."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(DagRun).where(DagRun.dag_id == dag_id)
        if run_id is not None:
            query = query.where(DagRun.run_id == run_id)
        dag_runs = list(session.scalars(query.order_by(DagRun.run_after.desc(), DagRun.id.desc()).limit(limit)))
        if not dag_runs:
            return []
        run_ids = [r.run_id for r in dag_runs]
        states: dict[str, dict[str, str]] = {r: {} for r in run_ids}
        for ti_run, task_id, state in session.execute(
            select(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id.in_(run_ids)
            )
        ):
            states[ti_run][task_id] = str(state.value if hasattr(state, "value") else state) if state else "none"
        xcoms: dict[str, dict[str, dict[str, Any]]] = {r: {} for r in run_ids}
        for xcom in session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.run_id.in_(run_ids), XComModel.map_index == -1
            )
        ):
            xcoms[xcom.run_id].setdefault(xcom.task_id, {})[xcom.key] = XComModel.deserialize_value(xcom)
        return [
            RunRecord(
                dag_id=dag_id,
                run_id=r.run_id,
                state=str(r.state.value if hasattr(r.state, "value") else r.state),
                conf=dict(r.conf or {}),
                run_after=r.run_after,
                start_date=r.start_date,
                end_date=r.end_date,
                tasks=states[r.run_id],
                xcoms=xcoms[r.run_id],
            )
            for r in dag_runs
        ]


def dag_facts(dag_id: str) -> DagFacts | None:
    """The DAG's folders (its trigger form's pick list), schedule, next run and paused state."""
    from airflow.models.dag import DagModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        if model is None:
            return None
        folders: list[str] = []
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        if dag is not None and "folders" in dag.params:
            schema = dag.params.get_param("folders").schema
            folders = [str(name) for name in (schema.get("items") or {}).get("enum") or []]
        return DagFacts(
            folders=folders,
            schedule=model.timetable_summary,
            schedule_text=model.timetable_description,
            next_run=model.next_dagrun_create_after,
            paused=bool(model.is_paused),
        )
