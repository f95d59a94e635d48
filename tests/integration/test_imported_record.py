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


def test_jobs_made_on_the_slave_since_the_last_import_are_asked_about():
    """A job made on the slave after the last import: removed by the import if the master has no
    job of its name, else replaced by the master's; both are asked about, with what happens."""
    with lab_in_environ("made-on-slave") as lab:
        master, slave = host("master", "master"), host("slave", "slave1")
        record(slave, [GLOBAL, DRIVERS])  # a full night
        seeded = local_changes.find(slave, master, [GLOBAL, DRIVERS])  # the seed's jobs the master lacks
        assert {c["change"] for c in seeded} == {local_changes.NOT_ON_MASTER}, seeded
        replaced_id, replaced_name = first_job_of(lab, "Drivers")
        (folder,) = lab.sql("slave1", "SELECT folder_id FROM event_folder WHERE name = N'Global'")
        (drivers,) = lab.sql("slave1", f"SELECT folder_id FROM event WHERE event_id = {replaced_id}")
        # a new job of the slave's own; a job deleted and made again under its name (a new event_id)
        lab.sql(
            "slave1",
            "INSERT INTO event (event_id, folder_id, name, description, modified) "
            f"VALUES (9900001, {folder['folder_id']}, N'[I] Site tool 1.0', NULL, '2026-12-01T10:00:00'); "
            f"DELETE FROM event WHERE event_id = {replaced_id}; "
            "INSERT INTO event (event_id, folder_id, name, description, modified) "
            f"VALUES (9900002, {drivers['folder_id']}, N'{replaced_name}', NULL, '2026-12-01T10:00:00')",
        )
        changes = local_changes.find(slave, master, [GLOBAL, DRIVERS])
        assert {"job": "[I] Site tool 1.0", "folder": "Global", "change": local_changes.MADE_REMOVED} in changes
        assert {"job": replaced_name, "folder": "Drivers", "change": local_changes.MADE_REPLACED} in changes
        assert len(changes) == len(seeded) + 2 and all(c in changes for c in seeded), changes
        body = local_changes.as_markdown("slave1", changes)
        assert "| [I] Site tool 1.0 | Global | made on the slave since the last import, not on the master" in body
