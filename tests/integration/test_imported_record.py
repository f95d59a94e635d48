"""The record of the last import's jobs (`ds_replication_imported_job`, issue 20) after a run
of some folders only: the folders it imported get their jobs' fingerprints anew, the others
keep theirs, so an edit made on the slave in a folder that run did not import is still asked
about by the next full night."""

from __future__ import annotations

from ds_replication import local_changes
from ds_replication.ds_host import DsHost
from tests.lab.cmdexe import DS_PATH
from tests.labctl import lab_in_environ

GLOBAL = {"name": "Global", "subfolders": True}
DRIVERS = {"name": "Drivers", "subfolders": False}
EDIT = "/silent /edited-on-the-slave"


def host(role: str, name: str) -> DsHost:
    return DsHost(role, name, f"ds_{name}_winrm", f"ds_{name}_mssql", f"ds_{name}_smb", "express", "express", DS_PATH)


def first_job_of(lab, folder: str) -> tuple[int, str]:
    row = lab.sql(
        "slave1",
        "SELECT TOP 1 e.event_id, e.name FROM event AS e INNER JOIN event_folder AS f ON f.folder_id = e.folder_id "
        f"INNER JOIN install_task AS t ON t.event_id = e.event_id WHERE f.name = N'{folder}' ORDER BY e.event_id",
    )[0]
    return int(row["event_id"]), str(row["name"])


def record(slave: DsHost, folders: list[dict]) -> int:
    with slave.connect() as conn:
        return local_changes.record_imported(conn, slave.database, folders)


def test_a_run_of_some_folders_keeps_the_record_of_the_others():
    with lab_in_environ("imported-record") as lab:
        master, slave = host("master", "master"), host("slave", "slave1")
        record(slave, [GLOBAL, DRIVERS])  # a full night
        global_id, global_job = first_job_of(lab, "Global")
        drivers_id, drivers_job = first_job_of(lab, "Drivers")
        for event_id in (global_id, drivers_id):
            lab.sql("slave1", f"UPDATE install_task SET arguments = N'{EDIT}' WHERE event_id = {event_id}")
        edited = {"change": local_changes.EDITED}
        changes = local_changes.find(slave, master, [GLOBAL, DRIVERS])
        assert {"job": drivers_job, "folder": "Drivers", **edited} in changes, changes
        assert {"job": global_job, "folder": "Global", **edited} in changes, changes

        record(slave, [GLOBAL])  # a manual run of Global only: it imported (here: took as is) Global's jobs
        changes = local_changes.find(slave, master, [GLOBAL, DRIVERS])
        assert {"job": drivers_job, "folder": "Drivers", **edited} in changes, changes  # still asked about
        assert global_job not in {c["job"] for c in changes}, changes  # Global's record is the new one

        record(slave, [GLOBAL, DRIVERS])  # the next full night records both
        assert drivers_job not in {c["job"] for c in local_changes.find(slave, master, [GLOBAL, DRIVERS])}
