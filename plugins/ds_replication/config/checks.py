"""Checks across entries of the estate.

Read from the raw mapping, so that they are reported even when an entry has other problems.
"""

from __future__ import annotations

from typing import Any

from ds_replication.config.fields import CONN_KINDS, repeated_folder
from ds_replication.config.schema import Estate
from ds_replication.config.source import Problem, path_of


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _entries(data: dict) -> list[tuple[tuple, dict]]:
    """(loc, mapping) of the master and of each slave."""
    slaves = data.get("slaves") if isinstance(data.get("slaves"), list) else []
    return [(("master",), _mapping(data.get("master")))] + [
        (("slaves", n), _mapping(slave)) for n, slave in enumerate(slaves)
    ]


def name_and_conn_clashes(data: dict) -> list[Problem]:
    """A name or an Airflow connection used by two hosts: the same server replicated onto itself."""
    problems: list[Problem] = []
    name_owner: dict[str, str] = {}
    conn_owner: dict[str, str] = {}
    for loc, entry in _entries(data):
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        if name.lower() in name_owner:
            owner = name_owner[name.lower()]
            problems.append(((*loc, "name"), f"{name!r} is already the name of {owner} (case does not count)"))
        name_owner.setdefault(name.lower(), path_of(loc))
        for kind in CONN_KINDS:
            conn = entry.get(f"{kind}_conn_id", f"ds_{name}_{kind}")
            if isinstance(conn, str) and conn in conn_owner:
                message = f"{conn!r} is already the connection of {conn_owner[conn]}; each host needs its own"
                problems.append(((*loc, f"{kind}_conn_id"), message))
            conn_owner.setdefault(conn, path_of(loc))
    return problems


def repeated_folders(data: dict) -> list[Problem]:
    blocks = [(("defaults",), _mapping(data.get("defaults"))), *_entries(data)[1:]]
    problems = []
    for loc, block in blocks:
        folders = block.get("folders")
        if isinstance(folders, list):
            problem = repeated_folder([_mapping(folder).get("name") for folder in folders])
            if problem:
                problems.append(((*loc, "folders"), problem))
    return problems


def run_bounds(estate: Estate) -> list[Problem]:
    """A run bound shorter than one try of its steps would stop runs that are doing fine."""
    problems: list[Problem] = []
    for n, slave in enumerate(estate.slave_configs()):
        if slave.run_timeout_minutes is not None and slave.run_timeout_minutes < slave.steps_minutes():
            loc = ("slaves", n, "run_timeout_minutes")
            if "run_timeout_minutes" not in estate.slaves[n].model_fields_set:
                loc = ("defaults", "run_timeout_minutes")
            problems.append(
                (
                    loc,
                    f"{slave.run_timeout_minutes:g} minutes is less than one try of every step of slave "
                    f"{slave.name} ({slave.steps_minutes():g} minutes: export_jobs "
                    f"{slave.task_minutes('export_jobs'):g}, import_jobs {slave.task_minutes('import_jobs'):g}, "
                    f"the others their own timeouts, the wait for approval {slave.approval_wait_minutes():g}); "
                    "leave it out to use that",
                )
            )
    return problems
