"""The DAG file as Airflow loads it: one DAG per slave, eleven gated tasks, sensors, alerts."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "include" / "config" / "replication.yaml"


def estate_yaml(slaves: int) -> str:
    config = yaml.safe_load(EXAMPLE.read_text())
    config["slaves"] = [{"name": f"site_{n}"} for n in range(1, slaves + 1)]
    return yaml.safe_dump(config)


@pytest.fixture
def load_dagbag(tmp_path, monkeypatch):
    """Load dags/ with Airflow's own DagBag, for an estate file written by the test."""

    def load(config_text: str):
        from airflow.dag_processing.dagbag import DagBag

        config = tmp_path / "replication.yaml"
        config.write_text(config_text)
        monkeypatch.setenv("DS_REPLICATION_CONFIG", str(config))
        return DagBag(dag_folder=str(REPO / "dags"))

    return load


@pytest.mark.parametrize("slaves", [1, 3])
def test_dagbag_loads_one_dag_per_slave(load_dagbag, slaves):
    bag = load_dagbag(estate_yaml(slaves))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == [f"replicate_site_{n}" for n in range(1, slaves + 1)] + ["survey_estate"]


def test_tasks_run_in_order_each_gated_by_the_one_before(load_dagbag):
    dag = load_dagbag(estate_yaml(1)).dags["replicate_site_1"]
    from ds_replication.factory import STEPS, TASK_IDS

    assert [t.task_id for t in dag.topological_sort()] == list(TASK_IDS)
    for before, step in itertools.pairwise(STEPS):
        # gated by the step before; also downstream of the steps whose results it takes (XComArgs)
        assert dag.get_task(step.task_id).upstream_task_ids == {before.task_id, *step.takes.values()}
    assert dag.max_active_runs == 1
    assert all(dag.get_task(s.task_id).doc_md == s.doc for s in STEPS)
    assert dag.doc_md
    assert "ds-replication" in dag.tags
    # cleanup runs whatever happened, and a failed step still fails the run
    assert dag.get_task("cleanup").is_teardown
    assert dag.get_task("cleanup").trigger_rule == "all_done_setup_success"


def test_sensors_hold_no_worker_slot(load_dagbag):
    from airflow.sdk import BaseSensorOperator

    dag = load_dagbag(estate_yaml(1)).dags["replicate_site_1"]
    sensors = [t for t in dag.tasks if isinstance(t, BaseSensorOperator)]
    assert sorted(t.task_id for t in sensors) == ["wait_for_backup", "wait_for_export", "wait_for_import"]
    for sensor in sensors:
        assert sensor.mode == "reschedule" or getattr(sensor, "deferrable", False)
        assert sensor.timeout > 0


def test_restore_and_verify_alert_on_failure(load_dagbag):
    from ds_replication.notifications.history_alert import HistoryAlertNotifier

    dag = load_dagbag(estate_yaml(1)).dags["replicate_site_1"]
    for task_id in ("import_jobs", "restore_history", "verify_history"):
        callbacks = dag.get_task(task_id).on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        notifiers = [c for c in callbacks if isinstance(c, HistoryAlertNotifier)]
        assert notifiers and notifiers[0].to == ["ds-admins@example.com"]


def test_every_alert_of_a_slave_is_built_from_its_configuration():
    """The notifiers read the slave (and the master) in one place, for_slave: each carries the
    slave's connection, database and mail settings; the run's also its bound and the export pool."""
    from ds_replication.config import parse_estate
    from ds_replication.factory import build_dag
    from ds_replication.notifications.history_alert import HistoryAlertNotifier
    from ds_replication.notifications.lost_worker import LostWorkerNotifier

    estate = parse_estate(estate_yaml(2))
    slave = estate.slave_configs()[1]
    dag = build_dag(estate, slave)
    import_jobs = dag.get_task("import_jobs")
    notifiers = [
        dag.on_failure_callback,
        *[c for c in import_jobs.on_failure_callback if isinstance(c, HistoryAlertNotifier)],
        *import_jobs.on_retry_callback,  # Airflow keeps a task's callbacks as a list
    ]
    assert [type(n).__name__ for n in notifiers] == ["RunTimeoutNotifier", "HistoryAlertNotifier", "LostWorkerNotifier"]
    assert isinstance(notifiers[2], LostWorkerNotifier)
    for notifier in notifiers:
        assert notifier.slave_name == slave.name == "site_2"
        assert (notifier.mssql_conn_id, notifier.database) == (slave.mssql_conn_id, slave.database)
        assert notifier.mail == {
            "smtp_conn_id": slave.smtp_conn_id,
            "from_email": slave.alert_from,
            "to": list(slave.alert_emails),
        }
    assert notifiers[0].run_minutes == slave.run_minutes()
    assert notifiers[0].export_pool == estate.master.export_pool
    # the mail settings the operators get are the same
    assert dag.get_task("preflight").alert == notifiers[1].mail == dag.get_task("approve_changes").alert


def test_params_form_has_described_fields(load_dagbag):
    dag = load_dagbag(estate_yaml(1)).dags["replicate_site_1"]
    params = dag.params
    assert set(params.keys()) == {"folders", "dry_run", "restore_changed_jobs", "rollback_to"}
    for name in params:
        description = params.get_param(name).description
        assert description and "[" not in description and "'" not in description, description  # no Python repr
    assert params["dry_run"] is False
    assert params.get_param("folders").schema["items"]["enum"] == ["Global"]


def test_the_trigger_form_offers_the_folders_and_requires_nothing(load_dagbag):
    """Airflow 3.3's form: a multi-select for an array with a top-level `examples`; a red
    "required" mark (and a greyed-out Trigger when emptied) for a type that excludes null."""
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    config = yaml.safe_load(estate_yaml(1))
    config["defaults"]["folders"] = [{"name": "Global"}, {"name": "Drivers\\Dell", "subfolders": False}]
    dag = load_dagbag(yaml.safe_dump(config)).dags["replicate_site_1"]
    folders = dag.params.get_param("folders").schema
    assert folders["examples"] == folders["items"]["enum"] == ["Global", "Drivers\\Dell"]
    assert "Global, Drivers\\Dell" in dag.params.get_param("folders").description
    for name in dag.params:
        assert "null" in dag.params.get_param(name).schema["type"], name
    for cleared in (None, [], ["Drivers\\Dell"]):
        params = ParamsDict(dag.params)
        params["folders"] = cleared
        assert params.validate()["folders"] == cleared
    with pytest.raises(ParamValidationError, match=r"param folders: 'Nope' is not one of \['Global', 'Drivers"):
        ParamsDict(dag.params)["folders"] = ["Nope"]


@pytest.mark.parametrize("now", ["2026-12-06T01:59:00", "2026-12-06T02:12:47", "2026-12-06T04:10:00"])
def test_a_new_dag_is_paused_and_its_first_night_is_the_next_one(load_dagbag, monkeypatch, now):
    """A first deploy starts nothing: the DAG is created paused (unless the estate says
    otherwise), and unpausing it does not start the night just past at once, even minutes
    after it (Airflow's default runs it when within a tenth of the interval: CI met that at
    02:12). The timetable's clock is pinned to `now`, so the test means the same at any hour."""
    import pendulum
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables import trigger
    from airflow.timetables.base import TimeRestriction

    config = yaml.safe_load(estate_yaml(2))
    config["slaves"][1]["paused_on_first_deploy"] = False
    bag = load_dagbag(yaml.safe_dump(config))
    assert bag.dags["replicate_site_1"].is_paused_upon_creation is True
    assert bag.dags["replicate_site_2"].is_paused_upon_creation is False
    dag = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags["replicate_site_1"]))
    clock = pendulum.parse(now, tz="UTC")
    monkeypatch.setattr(trigger, "utcnow", lambda: clock)
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=False)
    first = dag.timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first.run_after > clock
    assert first.run_after - clock <= pendulum.duration(days=1)


def test_export_runs_in_the_master_pool(load_dagbag):
    dag = load_dagbag(estate_yaml(3)).dags["replicate_site_2"]
    assert dag.get_task("export_jobs").pool == "ds_export_master"


def test_invalid_config_is_the_dag_files_import_error(load_dagbag):
    bag = load_dagbag("master: {name: master}\nslaves:\n  - name: 'bad name'\n")
    assert bag.dag_ids == []
    (message,) = bag.import_errors.values()
    assert "slaves[0].name" in message


def test_templated_sql_renders_for_the_slaves_catalog():
    from ds_replication.templates import render_samples, sample_scripts

    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"ds-sql-{os.getpid()}"
    try:
        written = render_samples(out)
        assert len(written) == 2 * len(sample_scripts(False)) and all(p.read_text().startswith("--") for p in written)
    finally:
        for p in out.glob("*.sql"):
            p.unlink()
        out.rmdir()


def test_dag_file_does_no_io_beyond_reading_its_config(tmp_path):
    """Parsing the DAG file opens no socket: hosts may be down when the scheduler parses."""
    config = tmp_path / "replication.yaml"
    config.write_text(estate_yaml(2))
    script = textwrap.dedent(
        f"""
        import socket, runpy
        def refuse(*a, **k):
            raise AssertionError("network I/O while parsing the DAG file")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        ns = runpy.run_path({str(REPO / "dags" / "ds_replication.py")!r})
        print(sorted(k for k in ns if k.startswith("replicate_")))
        """
    )
    env = os.environ | {"DS_REPLICATION_CONFIG": str(config), "PYTHONPATH": str(REPO / "plugins")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "['replicate_site_1', 'replicate_site_2']" in out.stdout


def test_airflow_plugin_manager_can_load_the_package(tmp_path):
    """Airflow imports every file under plugins/ (__main__.py as "__main__"): nothing may run."""
    env = os.environ | {
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW_HOME": str(tmp_path),
        "PYTHONPATH": str(REPO / "plugins"),
    }
    script = "from airflow import plugins_manager as p; p.ensure_plugins_loaded(); print('loaded')"
    out = subprocess.run(
        [sys.executable, "-c", script, "not-a-command"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "loaded" in out.stdout, out.stderr[-2000:]


def test_the_step_table_is_the_configs_list_of_steps():
    """config.STEP_IDS sums the run's bound over the steps: it must name the table's tasks."""
    from ds_replication.config import STEP_IDS
    from ds_replication.factory import ALERTING_TASKS, STEPS, TASK_IDS

    assert TASK_IDS == STEP_IDS
    assert ALERTING_TASKS == ("import_jobs", "wait_for_import", "restore_history", "verify_history")
    for step in STEPS:
        assert set(step.takes.values()) <= set(TASK_IDS[: TASK_IDS.index(step.task_id)]), step
        assert set(step.takes) <= set(step.operator.template_fields), f"{step.task_id}: an input rendered at run time"


def test_the_dag_survives_serialization_as_the_scheduler_stores_it(load_dagbag):
    from airflow.serialization.serialized_objects import DagSerialization

    from ds_replication.factory import STEPS

    dag = load_dagbag(estate_yaml(1)).dags["replicate_site_1"]
    back = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert sorted(back.task_ids) == sorted(dag.task_ids)
    for step in STEPS:
        for name, source in step.takes.items():
            assert f"task_ids='{source}'" in str(getattr(back.get_task(step.task_id), name))


def test_params_are_the_dags_alone_yet_every_task_sees_them(load_dagbag):
    """The trigger form's params live on the DAG only: a copy in each task made Airflow check
    their schemas again for every task it serialized (most of the DAG processor's time)."""
    from airflow.sdk.definitions.param import process_params
    from airflow.serialization.serialized_objects import DagSerialization

    dag = load_dagbag(estate_yaml(1)).dags["replicate_site_1"]
    assert [task.task_id for task in dag.tasks if task.params] == []
    data = DagSerialization.to_dict(dag)
    assert [name for name, _ in data["dag"]["params"]] == ["folders", "dry_run", "restore_changed_jobs", "rollback_to"]
    assert [task["__var"]["task_id"] for task in data["dag"]["tasks"] if "params" in task["__var"]] == []
    back = DagSerialization.from_dict(data)  # what the scheduler and the trigger form read
    assert back.params.get_param("folders").schema == dag.params.get_param("folders").schema
    assert back.params.get_param("dry_run").description == dag.params.get_param("dry_run").description
    # what the task runner puts in a task's context: the DAG's params, with the run's conf over them
    for task in dag.tasks:
        assert process_params(dag, task, {"dry_run": True}, suppress_exception=False) == {
            "folders": [],
            "dry_run": True,
            "restore_changed_jobs": True,
            "rollback_to": None,
        }


def test_a_task_run_builds_only_its_own_dag_but_reads_the_whole_estate(tmp_path, monkeypatch):
    from ds_replication.config import ConfigError
    from ds_replication.factory import build_dags

    config = tmp_path / "replication.yaml"
    config.write_text(estate_yaml(3))
    monkeypatch.setenv("DS_REPLICATION_CONFIG", str(config))
    assert sorted(build_dags()) == ["replicate_site_1", "replicate_site_2", "replicate_site_3", "survey_estate"]
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "replicate_site_2")
    assert list(build_dags()) == ["replicate_site_2"]
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "survey_estate")
    assert list(build_dags()) == ["survey_estate"]
    broken = yaml.safe_load(estate_yaml(3))
    broken["slaves"][2]["name"] = "bad name"
    config.write_text(yaml.safe_dump(broken))
    with pytest.raises(ConfigError, match=r"slaves\[2\]\.name"):
        build_dags()


def test_every_task_runs_on_its_slaves_queue_else_airflows_default(load_dagbag):
    """The queue (CeleryExecutor: which workers run it) reaches every task, sensors and the
    teardown too, and the serialized DAG the scheduler queues from; unset, Airflow's default."""
    from airflow.configuration import conf
    from airflow.serialization.serialized_objects import DagSerialization

    config = yaml.safe_load(estate_yaml(3))
    config["defaults"]["queue"] = "site_south"
    config["slaves"][1]["queue"] = "site_north"
    config["slaves"][2]["queue"] = None
    bag = load_dagbag(yaml.safe_dump(config))
    assert bag.import_errors == {}
    default = conf.get("operators", "default_queue")
    expected = {"replicate_site_1": "site_south", "replicate_site_2": "site_north", "replicate_site_3": default}
    for dag_id, queue in expected.items():
        dag = bag.dags[dag_id]
        back = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        assert {t.queue for t in dag.tasks} == {queue}, dag_id
        assert {t.queue for t in back.tasks} == {queue}, dag_id


def test_approve_changes_takes_its_slaves_approval_and_timeout_and_defaults_to_reject(load_dagbag):
    """approval and approval_timeout_minutes reach each slave's approve_changes (a slave's own
    value over the defaults); no answer in time is a Reject."""
    import datetime as dt

    config = yaml.safe_load(estate_yaml(3))
    config["defaults"].update(approval="always", approval_timeout_minutes=90)
    config["slaves"][1].update(approval="never")
    config["slaves"][2].update(approval="on_local_changes", approval_timeout_minutes=15)
    bag = load_dagbag(yaml.safe_dump(config))
    assert bag.import_errors == {}
    tasks = [bag.dags[f"replicate_site_{n}"].get_task("approve_changes") for n in (1, 2, 3)]
    assert [(t.approval, t.response_timeout) for t in tasks] == [
        ("always", dt.timedelta(minutes=90)),
        ("never", dt.timedelta(minutes=90)),
        ("on_local_changes", dt.timedelta(minutes=15)),
    ]
    assert {tuple(t.defaults) for t in tasks} == {("Reject",)}
    assert {tuple(t.options) for t in tasks} == {("Approve", "Reject")}


def test_the_survey_dag_has_one_task_per_host_manual_and_paused_like_the_slaves(load_dagbag):
    """`survey_estate`: no schedule, a task per host (master first), each slave's on its queue;
    paused when new unless every slave says otherwise; serializable."""
    from airflow.serialization.serialized_objects import DagSerialization

    config = yaml.safe_load(estate_yaml(2))
    config["slaves"][1]["queue"] = "site_north"
    bag = load_dagbag(yaml.safe_dump(config))
    assert bag.import_errors == {}
    dag = bag.dags["survey_estate"]
    assert dag.schedule is None
    assert [t.task_id for t in dag.tasks] == ["survey_master", "survey_site_1", "survey_site_2"]
    assert [t.host.role for t in dag.tasks] == ["master", "slave", "slave"]
    assert dag.get_task("survey_site_2").queue == "site_north"
    assert dag.is_paused_upon_creation is True
    assert not dag.task_dict["survey_site_1"].upstream_task_ids, "the hosts are surveyed independently"
    DagSerialization.from_dict(DagSerialization.to_dict(dag))
    config["defaults"]["paused_on_first_deploy"] = False
    config["slaves"] = [{k: v for k, v in s.items() if k != "paused_on_first_deploy"} for s in config["slaves"]]
    assert load_dagbag(yaml.safe_dump(config)).dags["survey_estate"].is_paused_upon_creation is False


def test_parsing_the_dag_file_imports_no_winrm_or_smb_client(tmp_path):
    """Every task start parses the DAG file; the WinRM and SMB clients (with requests, NTLM and
    their providers) cost each about 0.1 s of CPU to import, so only the task that talks to a
    host over WinRM or SMB imports them (docs/performance.md, "Airflow's share of a task")."""
    config = tmp_path / "replication.yaml"
    config.write_text(estate_yaml(2))
    script = textwrap.dedent(
        """
        import sys
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder=sys.argv[1])
        assert not bag.import_errors, bag.import_errors
        clients = ("winrm", "smbclient", "smbprotocol", "requests_ntlm", "airflow.providers.samba.hooks.samba",
                   "airflow.providers.microsoft.winrm.hooks.winrm")
        print(sorted(bag.dag_ids), [name for name in clients if name in sys.modules])
        """
    )
    env = os.environ | {"DS_REPLICATION_CONFIG": str(config), "PYTHONPATH": str(REPO / "plugins")}
    out = subprocess.run(
        [sys.executable, "-c", script, str(REPO / "dags")], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("[]"), out.stdout
    assert "'replicate_site_1', 'replicate_site_2'" in out.stdout
