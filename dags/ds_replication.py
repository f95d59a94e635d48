"""DS job replication: one Airflow DAG per slave server, built from
include/config/replication.yaml (or the file named by DS_REPLICATION_CONFIG).
All logic lives in plugins/ds_replication; this file only publishes the DAGs."""

from ds_replication.factory import build_dags

globals().update(build_dags())
