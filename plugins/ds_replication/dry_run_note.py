"""A dry run shows as one in the grid: its run gets a note when it starts.

Tasks have no access to the metadata DB in Airflow 3, and a run's note is set only by a person
(UI, REST) or at trigger time. A listener runs inside the scheduler, on the run it is starting:
it writes the note there, in the scheduler's own session. The grid marks a run with a note
(its bar is hatched) and shows the note on the run's page; the skipped history steps show the rest.
Registered by the package's plugin, plugins/ds_replication_plugin.py.
"""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl

NOTE_LIMIT = 1000  # the dag_run_note.content column
TAG = "ds-replication"  # every replication DAG has it (factory.build_dag)


def dry_run_note(conf: dict[str, Any] | None) -> str | None:
    """The note of a run triggered with `conf`: None unless it is a dry run."""
    conf = conf or {}
    if not conf.get("dry_run"):
        return None
    folders = conf.get("folders") or []
    which = ", ".join(str(f) for f in folders) if folders else "every configured folder"
    return (
        f"**Dry run** of {which}: the jobs are exported and copied, nothing changes on the slave "
        "(backup, import, restore and verify are skipped)."
    )


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    dag = getattr(dag_run, "dag", None)
    if dag is None or TAG not in (dag.tags or ()):
        return
    note = dry_run_note(dag_run.conf)
    if note is None or (dag_run.note or "").startswith(note):
        return
    dag_run.note = (f"{note}\n\n{dag_run.note}" if dag_run.note else note)[:NOTE_LIMIT]
