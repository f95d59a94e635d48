"""The estate file: what is accepted, how settings are inherited, and every problem reported."""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path

import pytest
import yaml

from ds_replication.config import (
    AIRFLOW_PRESETS,
    DEFAULT_DS_PATH,
    ConfigError,
    Estate,
    load_estate,
    parse_estate,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "include" / "config" / "replication.yaml"

BASE = {
    "defaults": {"folders": [{"name": "Global"}], "alert_emails": ["ops@example.com"]},
    "master": {"name": "master"},
    "slaves": [
        {"name": "site_a"},
        {"name": "site_b", "folders": [{"name": "Global"}, {"name": r"Drivers\Dell", "subfolders": False}]},
    ],
}


def estate_text(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def problems_of(text: str) -> str:
    with pytest.raises(ConfigError) as error:
        parse_estate(text, "estate.yaml")
    return str(error.value)


# --- mutations of BASE, one problem each ---------------------------------------------------


def set_at(loc: tuple, value):
    def mutate(config: dict) -> None:
        *parents, last = loc
        node = config
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


def drop(loc: tuple):
    def mutate(config: dict) -> None:
        *parents, last = loc
        node = config
        for part in parents:
            node = node[part]
        del node[last]

    return mutate


def folder(name: str, **more):
    return set_at(("slaves", 1, "folders"), [{"name": "Global"}, {"name": name, **more}])


BAD = [
    # (id, mutation, path the message must name, words it must say)
    ("missing master", drop(("master",)), "master", "required, but missing"),
    ("missing slaves", drop(("slaves",)), "slaves", "required, but missing"),
    ("empty slaves", set_at(("slaves",), []), "slaves", "at least one"),
    ("slaves not a list", set_at(("slaves",), {"name": "site_a"}), "slaves", "must be a list"),
    ("unknown top key", set_at(("slave",), []), "slave", "unknown key"),
    ("unknown slave key", set_at(("slaves", 0, "folder"), "Global"), "slaves[0].folder", "unknown key"),
    ("unknown folder key", folder("Global2", recursive=True), "slaves[1].folders[1].recursive", "unknown key"),
    ("unknown defaults key", set_at(("defaults", "schedual"), "@daily"), "defaults.schedual", "unknown key"),
    ("password key", set_at(("master", "password"), "s3cret"), "master.password", "unknown key"),
    ("duplicate slave", set_at(("slaves", 1, "name"), "SITE_A"), "slaves[1].name", "already the name of slaves[0]"),
    ("slave named like master", set_at(("slaves", 0, "name"), "Master"), "slaves[0].name", "name of master"),
    ("name with space", set_at(("slaves", 0, "name"), "site a"), "slaves[0].name", "not a safe name"),
    ("name with slash", set_at(("slaves", 0, "name"), "site/a"), "slaves[0].name", "not a safe name"),
    ("name with unicode", set_at(("slaves", 0, "name"), "Åsa"), "slaves[0].name", "not a safe name"),
    ("name with newline", set_at(("slaves", 0, "name"), "site_a\n"), "slaves[0].name", "not a safe name"),
    ("name too long", set_at(("slaves", 0, "name"), "s" * 64), "slaves[0].name", "1 to 63"),
    ("master name empty", set_at(("master", "name"), ""), "master.name", "not a safe name"),
    ("bad cron", set_at(("slaves", 0, "schedule"), "0 25 * * *"), "slaves[0].schedule", "cron"),
    ("six-field cron", set_at(("defaults", "schedule"), "0 0 2 * * *"), "defaults.schedule", "5 fields"),
    ("unknown preset", set_at(("defaults", "schedule"), "@fortnightly"), "defaults.schedule", "preset"),
    ("negative retries", set_at(("slaves", 0, "retries"), -1), "slaves[0].retries", "at least 0"),
    ("too many retries", set_at(("defaults", "retries"), 11), "defaults.retries", "at most 10"),
    ("retries as text", set_at(("slaves", 0, "retries"), "2"), "slaves[0].retries", "whole number"),
    (
        "zero retry delay",
        set_at(("slaves", 0, "retry_delay_minutes"), 0),
        "slaves[0].retry_delay_minutes",
        "must be greater than 0, not 0",
    ),
    (
        "flag as text",
        set_at(("slaves", 0, "paused_on_first_deploy"), "no"),
        "slaves[0].paused_on_first_deploy",
        "true or false",
    ),
    (
        "the key of an earlier version",
        set_at(("slaves", 0, "enabled"), False),
        "slaves[0].enabled",
        "`enabled` was replaced by `paused_on_first_deploy`",
    ),
    ("bad email", set_at(("defaults", "alert_emails"), ["ops.example.com"]), "defaults.alert_emails[0]", "e-mail"),
    (
        "email header injection",
        set_at(("slaves", 1, "alert_emails"), ["a@b.com\nBcc: x@y.z"]),
        "slaves[1].alert_emails[0]",
        "e-mail",
    ),
    (
        "emails not a list",
        set_at(("defaults", "alert_emails"), "ops@example.com"),
        "defaults.alert_emails",
        "must be a list",
    ),
    ("bad alert_from", set_at(("defaults", "alert_from"), "airflow"), "defaults.alert_from", "e-mail"),
    ("folder with %", folder(r"Global\%TEMP%"), "slaves[1].folders[1].name", "'%', which cmd.exe would expand"),
    ("folder with quote", folder('Global" & del /q *'), "slaves[1].folders[1].name", "end the quoting"),
    ("folder with !", folder("Hello!"), "slaves[1].folders[1].name", "delayed expansion"),
    ("folder with newline", folder("Global\nDrivers"), "slaves[1].folders[1].name", "U+000A"),
    ("folder with tab", folder("Global\tDrivers"), "slaves[1].folders[1].name", "U+0009"),
    ("folder with ..", folder(r"Global\..\Other"), "slaves[1].folders[1].name", "'..' level"),
    ("folder with .", folder(r".\Global"), "slaves[1].folders[1].name", "'.' level"),
    ("folder empty segment", folder("Global\\\\Drivers"), "slaves[1].folders[1].name", "empty level"),
    ("folder trailing backslash", folder("Global\\"), "slaves[1].folders[1].name", "empty level"),
    ("folder with /", folder("Global/Drivers"), "slaves[1].folders[1].name", "'/'"),
    ("folder with :", folder("C:Global"), "slaves[1].folders[1].name", "':'"),
    ("folder with *", folder("Glob*"), "slaves[1].folders[1].name", "'*'"),
    ("folder leading space", folder(r"Global\ Drivers"), "slaves[1].folders[1].name", "space"),
    ("folder empty", folder(""), "slaves[1].folders[1].name", "1 to 255"),
    ("folder too long", folder("x" * 256), "slaves[1].folders[1].name", "1 to 255"),
    ("folder not a mapping", set_at(("defaults", "folders"), ["Global"]), "defaults.folders[0]", "mapping"),
    ("no folders", set_at(("slaves", 0, "folders"), []), "slaves[0].folders", "at least one"),
    ("duplicate folders", folder("GLOBAL"), "slaves[1].folders", "listed twice"),
    ("subfolders as text", folder("Drivers", subfolders="yes"), "slaves[1].folders[1].subfolders", "true or false"),
    ("relative ds_path", set_at(("master", "ds_path"), r"Altiris\eXpress"), "master.ds_path", "Windows path"),
    ("ds_path with &", set_at(("slaves", 0, "ds_path"), r"C:\DS & calc"), "slaves[0].ds_path", "Windows path"),
    ("ds_path with %", set_at(("slaves", 0, "ds_path"), r"%ProgramFiles%\DS"), "slaves[0].ds_path", "Windows path"),
    ("ds_path with newline", set_at(("slaves", 0, "ds_path"), "C:\\DS\n"), "slaves[0].ds_path", "Windows path"),
    (
        "conn id with space",
        set_at(("slaves", 0, "winrm_conn_id"), "ds site"),
        "slaves[0].winrm_conn_id",
        "connection id",
    ),
    ("empty conn id", set_at(("master", "smb_conn_id"), ""), "master.smb_conn_id", "connection id"),
    ("smtp conn id bad", set_at(("defaults", "smtp_conn_id"), "smtp;x"), "defaults.smtp_conn_id", "connection id"),
    (
        "conn id of master",
        set_at(("slaves", 0, "mssql_conn_id"), "ds_master_mssql"),
        "slaves[0].mssql_conn_id",
        "connection of master",
    ),
    (
        "conn id of a slave",
        set_at(("slaves", 1, "smb_conn_id"), "ds_site_a_smb"),
        "slaves[1].smb_conn_id",
        "connection of slaves[0]",
    ),
    (
        "database with ;",
        set_at(("slaves", 0, "database"), "express;drop table event"),
        "slaves[0].database",
        "database name",
    ),
    ("database with space", set_at(("master", "database"), "my express"), "master.database", "database name"),
    ("share with space", set_at(("slaves", 0, "share"), "ex press"), "slaves[0].share", "share name"),
    ("export_slots zero", set_at(("master", "export_slots"), 0), "master.export_slots", "at least 1"),
    ("export_slots on a slave", set_at(("slaves", 0, "export_slots"), 2), "slaves[0].export_slots", "unknown key"),
    (
        "run bound shorter than its steps",
        set_at(("slaves", 0, "run_timeout_minutes"), 60),
        "slaves[0].run_timeout_minutes",
        "less than one try of every step",
    ),
    (
        "run bound in defaults shorter than its steps",
        set_at(("defaults", "run_timeout_minutes"), 60),
        "defaults.run_timeout_minutes",
        "less than one try of every step",
    ),
    ("master not a mapping", set_at(("master",), "master"), "master", "mapping"),
    ("queue with comma", set_at(("slaves", 0, "queue"), "site_a,site_b"), "slaves[0].queue", "not a valid queue"),
    ("queue with space", set_at(("defaults", "queue"), "site a"), "defaults.queue", "not a valid queue"),
    ("queue empty", set_at(("slaves", 1, "queue"), ""), "slaves[1].queue", "not a valid queue"),
    ("queue too long", set_at(("slaves", 0, "queue"), "q" * 201), "slaves[0].queue", "up to 200"),
    ("queue as number", set_at(("slaves", 0, "queue"), 7), "slaves[0].queue", "text"),
    ("queue on master", set_at(("master", "queue"), "hq"), "master.queue", "unknown key"),
    (
        "retention nights zero",
        set_at(("defaults", "retention"), {"nights": 0}),
        "defaults.retention.nights",
        "at least 1",
    ),
    (
        "retention archives as text",
        set_at(("slaves", 0, "retention"), {"min_archives": "5"}),
        "slaves[0].retention.min_archives",
        "whole number",
    ),
    (
        "retention unknown key",
        set_at(("slaves", 1, "retention"), {"days": 30}),
        "slaves[1].retention.days",
        "unknown key",
    ),
    ("retention not a mapping", set_at(("defaults", "retention"), 30), "defaults.retention", "mapping"),
    (
        "approval not one of the three",
        set_at(("slaves", 0, "approval"), "sometimes"),
        "slaves[0].approval",
        "'always', 'on_local_changes' or 'never'",
    ),
    ("approval as bool", set_at(("defaults", "approval"), False), "defaults.approval", "'always'"),
    (
        "approval timeout zero",
        set_at(("slaves", 1, "approval_timeout_minutes"), 0),
        "slaves[1].approval_timeout_minutes",
        "greater than 0",
    ),
]


@pytest.mark.parametrize(("mutate", "path", "words"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_config_is_rejected_naming_the_field(mutate, path, words):
    config = copy.deepcopy(BASE)
    mutate(config)
    message = problems_of(estate_text(config))
    line = next((line for line in message.splitlines() if line.strip().startswith(f"{path} (line ")), None)
    assert line is not None, message
    assert words in line, message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("master: {name: m\nslaves: []\n", "not valid YAML at line"),
        ("master:\n  name: m\n slaves: x\n", "not valid YAML at line 3"),
        ("- master\n- slaves\n", "top level must be a mapping"),
        ("just text\n", "top level must be a mapping"),
        ("", "top level must be a mapping"),
        (
            "master: {name: m}\nmaster: {name: n}\nslaves: [{name: a}]\n",
            "master (line 1): key written twice (again on line 2)",
        ),
    ],
    ids=["unclosed flow", "bad indent", "a list", "a scalar", "empty", "duplicate key"],
)
def test_unreadable_yaml_is_rejected_with_its_line(text, words):
    message = problems_of(text)
    assert message.startswith("estate.yaml: ")
    assert words in message


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read the estate file"):
        load_estate(tmp_path / "missing.yaml")


def test_every_problem_is_listed_in_file_order():
    config = copy.deepcopy(BASE)
    config["defaults"]["retries"] = -1
    config["master"]["password"] = "s3cret"
    config["slaves"][0]["name"] = "site b"
    config["slaves"][1]["folders"] = [{"name": "%TEMP%"}, {"name": "global"}, {"name": "GLOBAL"}]
    config["slaves"].append({"name": "SITE_B", "schedule": "61 * * * *", "winrm_conn_id": "ds_master_winrm"})
    message = problems_of(estate_text(config))
    header, *lines = message.splitlines()
    assert header == f"estate.yaml: {len(lines)} problem(s):"
    paths = [line.strip().split(" (line ")[0] for line in lines]
    assert paths == [
        "defaults.retries",
        "master.password",
        "slaves[0].name",
        "slaves[1].folders",
        "slaves[1].folders[0].name",
        "slaves[2].name",
        "slaves[2].schedule",
        "slaves[2].winrm_conn_id",
    ]
    numbers = [int(re.search(r"\(line (\d+)\)", line).group(1)) for line in lines]
    assert numbers == sorted(numbers)


def test_line_numbers_point_at_the_key():
    text = estate_text(BASE).replace("- name: site_b", "- name: site b")
    wanted = text.splitlines().index("- name: site b") + 1
    assert f"slaves[1].name (line {wanted}):" in problems_of(text)


# --- what is accepted --------------------------------------------------------------------


def test_the_example_file_is_valid():
    estate = load_estate(EXAMPLE)
    assert estate.master.name == "master"
    assert [s.dag_id for s in estate.slave_configs()] == ["replicate_site_a", "replicate_site_b"]


@pytest.mark.parametrize(
    "name",
    [
        "Drivers Dell",
        r"Software\R&D",
        "a ^ b",
        "Tools (old)",
        "Ops; Dev, QA = all",
        "O'Brien",
        "Büro",
        r"Åsa\Šiška",
        "Ünïcödé 日本",
        r"Global\Drivers\Dell Latitude 7440",
        "x" * 255,
    ],
)
def test_folder_names_safe_inside_quotes_are_accepted(name):
    config = copy.deepcopy(BASE)
    folder(name)(config)
    estate = parse_estate(estate_text(config))
    assert estate.slave_configs()[1].folders[1].name == name


@pytest.mark.parametrize("slaves", [1, 3])
def test_one_and_three_slaves(slaves):
    config = copy.deepcopy(BASE)
    config["slaves"] = [{"name": f"site_{n}"} for n in range(1, slaves + 1)]
    configs = parse_estate(estate_text(config)).slave_configs()
    assert [c.dag_id for c in configs] == [f"replicate_site_{n}" for n in range(1, slaves + 1)]


def test_settings_come_from_the_slave_else_defaults_else_built_in():
    text = """
defaults:
  retries: 4
  schedule: "@daily"
  alert_emails: [ops@example.com]
master: {name: ds-master.hq}
slaves:
  - name: plain
  - name: own
    retries: 0
    schedule: null
    paused_on_first_deploy: false
    folders: [{name: 'Drivers\\Dell', subfolders: false}]
"""
    plain, own = parse_estate(text).slave_configs()
    assert (plain.retries, plain.schedule, plain.alert_emails) == (4, "@daily", ["ops@example.com"])
    assert (plain.retry_delay_minutes, plain.command_timeout_minutes, plain.paused_on_first_deploy) == (5, 60, True)
    assert plain.smtp_conn_id == "smtp_default"
    assert plain.alert_from == "airflow@localhost"
    assert plain.restore_changed_jobs is True
    assert [(f.name, f.subfolders) for f in plain.folders] == [("Global", True)]
    assert (own.retries, own.schedule, own.paused_on_first_deploy) == (0, None, False)  # null: manual runs only
    assert [(f.name, f.subfolders) for f in own.folders] == [(r"Drivers\Dell", False)]


def test_retention_comes_from_the_slave_else_defaults_else_30_nights_and_5_archives():
    config = copy.deepcopy(BASE)
    config["defaults"]["retention"] = {"nights": 10}
    config["slaves"][1]["retention"] = {"nights": 7, "min_archives": 2}
    a, b = parse_estate(estate_text(config), "estate.yaml").slave_configs()
    assert (a.retention.nights, a.retention.min_archives) == (10, 5)
    assert (b.retention.nights, b.retention.min_archives) == (7, 2)
    default = parse_estate(estate_text(BASE), "estate.yaml").slave_configs()[0].retention
    assert (default.nights, default.min_archives) == (30, 5)


def test_approval_comes_from_the_slave_else_defaults_else_on_local_changes_within_720_minutes():
    default = parse_estate(estate_text(BASE), "estate.yaml").slave_configs()[0]
    assert (default.approval, default.approval_timeout_minutes) == ("on_local_changes", 720)
    config = copy.deepcopy(BASE)
    config["defaults"].update(approval="always", approval_timeout_minutes=60)
    config["slaves"][1].update(approval="never", approval_timeout_minutes=5)
    a, b = parse_estate(estate_text(config), "estate.yaml").slave_configs()
    assert (a.approval, a.approval_timeout_minutes) == ("always", 60)
    assert (b.approval, b.approval_timeout_minutes) == ("never", 5)


def test_queue_comes_from_the_slave_else_defaults_else_airflows_default():
    text = """
master: {name: hq}
slaves: [{name: a}, {name: b, queue: site_north}, {name: c, queue: null}]
"""
    assert [c.queue for c in parse_estate(text).slave_configs()] == [None, "site_north", None]
    a, b, c = parse_estate("defaults: {queue: site_south}\n" + text).slave_configs()
    assert (a.queue, b.queue, c.queue) == ("site_south", "site_north", None)  # null: Airflow's default


def test_host_defaults_and_connection_ids():
    estate = parse_estate("master: {name: hq}\nslaves:\n  - name: Site-7\n    smb_conn_id: fileserver_7\n")
    master, (slave,) = estate.master, estate.slave_configs()
    assert (master.winrm_conn_id, master.mssql_conn_id, master.smb_conn_id) == (
        "ds_hq_winrm",
        "ds_hq_mssql",
        "ds_hq_smb",
    )
    assert (slave.winrm_conn_id, slave.mssql_conn_id, slave.smb_conn_id) == (
        "ds_Site-7_winrm",
        "ds_Site-7_mssql",
        "fileserver_7",
    )
    assert (slave.ds_path, slave.database, slave.share) == (DEFAULT_DS_PATH, "express", "express")
    assert (master.export_slots, master.export_pool) == (2, "ds_export_hq")
    assert slave.dag_id == "replicate_Site-7"


def test_longest_name_gives_a_dag_id_airflow_accepts():
    name = "n" * 63
    (slave,) = parse_estate(f"master: {{name: m}}\nslaves: [{{name: {name}}}]\n").slave_configs()
    assert len(slave.dag_id) <= 250


def test_models_are_frozen():
    estate = parse_estate(estate_text(BASE))
    with pytest.raises(ValueError):
        estate.master.name = "other"


def test_presets_are_the_ones_airflow_knows():
    from airflow.utils.dates import cron_presets

    assert set(cron_presets) | {"@once", "@continuous"} == AIRFLOW_PRESETS


def test_load_estate_reads_the_environment_variable(tmp_path, monkeypatch):
    path = tmp_path / "estate.yaml"
    path.write_text("master: {name: hq}\nslaves: [{name: only}]\n", encoding="utf-8")
    monkeypatch.setenv("DS_REPLICATION_CONFIG", str(path))
    assert [s.name for s in load_estate().slaves] == ["only"]


def test_load_estate_falls_back_to_the_repository_example(monkeypatch):
    monkeypatch.delenv("DS_REPLICATION_CONFIG", raising=False)
    assert load_estate() == load_estate(EXAMPLE)


def test_500_slaves_parse(capsys):
    config = copy.deepcopy(BASE)
    config["slaves"] = [
        {"name": f"site_{n:03d}", "folders": [{"name": "Global"}, {"name": f"Sites\\Site {n}"}]} for n in range(500)
    ]
    text = estate_text(config)
    start = time.perf_counter()
    estate: Estate = parse_estate(text)
    configs = estate.slave_configs()
    elapsed = time.perf_counter() - start
    assert len(configs) == 500
    assert len({c.dag_id for c in configs}) == 500
    with capsys.disabled():
        print(f"\n500-slave estate: parsed and resolved in {elapsed:.3f} s")
