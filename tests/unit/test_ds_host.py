"""DsHost from the validated config: the names a host's hooks use, and an operator holding
hosts is copied as Airflow copies tasks."""

from __future__ import annotations

import copy
import pickle

from ds_replication.config import parse_estate
from ds_replication.ds_host import DsHost

ESTATE = """
master: {name: hq, share: dsroot, ds_path: 'D:\\DS'}
slaves:
  - name: site_a
  - {name: site_b, mssql_conn_id: sql_b, database: ds_b}
"""


def test_hosts_take_the_config_entries_names():
    estate = parse_estate(ESTATE)
    master = DsHost.from_config("master", estate.master)
    assert master == DsHost("master", "hq", "ds_hq_winrm", "ds_hq_mssql", "ds_hq_smb", "dsroot", "express", "D:\\DS")
    site_a, site_b = (DsHost.from_config("slave", s) for s in estate.slave_configs())
    assert (site_a.mssql_conn_id, site_a.database, site_a.share) == ("ds_site_a_mssql", "express", "express")
    assert (site_b.role, site_b.mssql_conn_id, site_b.database) == ("slave", "sql_b", "ds_b")
    assert site_b.database_hook().mssql_conn_id == "sql_b" and site_b.database_hook().schema == "ds_b"


def test_an_operator_holding_hosts_copies_and_pickles():
    from ds_replication.factory import build_dags

    dag = build_dags(parse_estate(ESTATE))["replicate_site_b"]
    for task in dag.tasks:
        for host in (getattr(task, "master", None), getattr(task, "slave", None)):
            if host is not None:
                assert copy.deepcopy(host) == host == pickle.loads(pickle.dumps(host))  # noqa: S301 (our own bytes)
    assert copy.deepcopy(dag.get_task("import_jobs")).slave.name == "site_b"
