"""The estate survey (`ds-replication survey`, DAG `survey_estate`) against the DS lab.

- A sound lab is `go` on every host, and the survey changes nothing on any host: every table
  (rows), trigger, index and share file (content and modification time) is the same before and
  after, and every request it made was a read: each SQL statement the lab received a SELECT
  (none INTO a table, no temp object), a SET of the session, USE or an empty transaction; each
  command line `cd /d <ds_path> && dir` or `schtasks /query /fo csv /v`. Proved on every
  survey of this module (go, each no-go variant, the unreachable hosts) and on the DAG's run.
- Each no-go the lab can show is reported with its reason, on that host only (the others are
  still surveyed and `go`): SMB1 only, SQL Server 2000 / MSDE 2000, the DS tools missing, a log
  too small for tonight's copies, a database the backup would take past its edition's cap,
  `nested triggers` off, a keyless history table with a large (ntext) column, and an
  unreachable host (closed port, wrong password, WinRM down), each within 60 s, and cmd that
  cannot run in the DS folder. Hosts are surveyed at once: two hosts that hang are both asked
  before the deadline. A British login is a note (the package's connections set DATEFORMAT
  ymd), the FULL recovery model and a scheduled import.bat are notes, not a no-go.
- The lab's history table event_schedule_info has no key (schema info_no_key): go without
  large columns.
- The slave DAG's preflight refuses what the survey calls no-go, with the same words (here: the
  DS tools, the log, the edition's cap, a recollated column, a keyless table with ntext; the
  SMB1, MSDE 2000 and nested-triggers refusals in test_old_servers).
- `survey_estate` runs one task per host; a no-go host's task fails naming its checks; the
  replication page's Last survey section shows each host's verdict, the run's date and the
  failing checks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlglot
import yaml
from sqlglot import exp

from ds_replication import history, host_checks, survey
from ds_replication.catalog import read_history_tables
from ds_replication.config import load_estate
from ds_replication.ds_tools import in_ds_folder
from tests.airflow_env import PYTHON, REPO
from tests.e2e.conftest import _estate

SMB1_SLAVE = "slave2"  # its smbd speaks SMB1 only (Windows Server 2003)
SLAVE = "slave1"


@pytest.fixture(scope="module")
def lab_estate(request):
    # event_schedule_info without any key: kept safely until a large column comes (the last test)
    return _estate(request, slaves=2, identity=False, lab_options=("--smb1", SMB1_SLAVE, "--schema", "info_no_key"))


def run_survey(lab_estate, *args: str, env: dict[str, str] | None = None, config: Path | None = None):
    """`ds-replication survey FILE [args]` as an operator runs it; (exit code, stdout, stderr)."""
    proc = subprocess.run(
        [PYTHON, "-m", "ds_replication", "survey", str(config or lab_estate.config_path), *args],
        env=env or lab_estate.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


def surveyed(lab_estate, **kwargs) -> tuple[int, dict[str, dict]]:
    """`survey --json` by host name; proved read-only (read_only) whatever the hosts answer."""
    with read_only(lab_estate, kwargs.get("config")):
        code, out, err = run_survey(lab_estate, "--json", **kwargs)
    assert code in (0, 1), (code, out, err[-3000:])
    return code, {h["name"]: h for h in json.loads(out)["hosts"]}


def failing(host: dict) -> dict[str, dict]:
    return {c["check"]: c for c in host["checks"] if not c["ok"]}


def preflight_refuses_alike(lab_estate, check: dict) -> None:
    """The slave DAG's preflight refuses SLAVE tonight with the survey's words for `check`
    (both call host_checks), without a retry: waiting does not heal a fact of the host."""
    result = lab_estate.run(SLAVE, {"dry_run": True})
    assert result["tasks"]["preflight"]["state"] == "failed", result["tasks"]
    assert result["tasks"]["preflight"]["try_number"] == 1, "retried, though waiting will not heal it"
    words = f"{check['check']}: {check['found']}" + (f" ({check['why']})" if check["why"] else "")
    assert words in result["log"], (words, result["log"][-4000:])


def without_smb1_slave(lab_estate) -> Path:
    config = yaml.safe_load(lab_estate.config_path.read_text())
    config["slaves"] = [s for s in config["slaves"] if s["name"] != SMB1_SLAVE]
    path = lab_estate.root / "sound.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snapshot(lab_estate) -> dict[str, dict]:
    """Every host's database (schema objects and every table's rows, the lab's server facts and logins
    included) and share files (content digests, modification times)."""
    found = {}
    for name, host in lab_estate.lab.info["hosts"].items():
        db = sqlite3.connect(f"file:{host['db_path']}?mode=ro", uri=True, timeout=30)
        try:
            objects = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
            tables = [n for t, n, _, _ in objects if t == "table"]
            rows = {t: sorted(map(repr, db.execute(f'SELECT * FROM "{t}"').fetchall())) for t in tables}
        finally:
            db.close()
        share = Path(host["share_dir"])
        files = {
            str(p.relative_to(share)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            + f" {p.stat().st_mtime_ns}"
            for p in sorted(share.rglob("*"))
        }
        found[name] = {"objects": objects, "rows": rows, "files": files}
    return found


# What a read may send: a query (not SELECT ... INTO), the session's SET options and USE, and
# the empty transaction pymssql opens and rolls back on connecting.
READS = (exp.Select, exp.Union, exp.Set, exp.Use, exp.Transaction, exp.Rollback)
WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command, exp.Into)


def writes_in(batch: str) -> list[str]:
    """The statements of a SQL batch that are not plain reads (parsed as the lab parses T-SQL)."""
    found = []
    for statement in sqlglot.parse(batch, read="tsql"):
        if statement is None:
            continue
        if not isinstance(statement, READS) or any(True for _ in statement.find_all(*WRITES)):
            found.append(statement.sql("tsql"))
    return found


@contextlib.contextmanager
def read_only(lab_estate, config: Path | None = None) -> Iterator[None]:
    """The block changes nothing on any host of the lab (tables with their rows, triggers,
    indexes, share files) and sends only reads: every SQL batch and command line every host
    received is recorded by the lab (tests/lab/requests_journal.py) and checked."""
    hosts = list(lab_estate.lab.info["hosts"])
    before = snapshot(lab_estate)
    with lab_estate.lab.requests(hosts) as received:
        yield
        asked = received()
    assert snapshot(lab_estate) == before, "the survey changed a table, trigger, index or share file"
    ds_paths = {h.name: h.ds_path for h in survey.hosts(load_estate(config or lab_estate.config_path))}
    assert any(r["protocol"] == "sql" for rs in asked.values() for r in rs), "the lab recorded no request"
    for host, requests in asked.items():
        writes = [w for r in requests if r["protocol"] == "sql" for w in writes_in(r["text"])]
        assert writes == [], f"{host} was sent SQL that writes: {writes}"
        commands = {r["text"] for r in requests if r["protocol"] == "winrm"}
        reads = {host_checks.SCHEDULED_TASKS_COMMAND} | (
            {in_ds_folder(ds_paths[host], "dir")} if host in ds_paths else set()
        )
        assert commands <= reads, f"{host} was asked to run {commands}"


def test_the_read_only_proof_sees_a_write():
    """The proof's own check: a temp table, SELECT INTO, a procedure or a change is not a read."""
    assert writes_in("SET DATEFORMAT ymd; SELECT name FROM sys.tables WHERE name IN (N'a')") == []
    for batch in (
        "SELECT 1 AS a INTO #t",
        "CREATE TABLE #t (a int)",
        "EXEC sp_configure 'nested triggers', 1",
        "UPDATE event_schedule SET status = N'x'",
        "DELETE FROM event_schedule_info",
        "ALTER LOGIN [u] WITH DEFAULT_LANGUAGE = British",
    ):
        assert writes_in(batch), batch


def test_a_sound_estate_is_go_and_the_survey_changes_nothing(lab_estate):
    config = without_smb1_slave(lab_estate)
    with read_only(lab_estate, config):
        code, out, err = run_survey(lab_estate, config=config)
    assert code == 0, (out, err[-3000:])
    assert "master master: go" in out and f"slave {SLAVE}: go" in out, out
    assert out.strip().endswith("survey: 2 host(s), 2 go, 0 no-go, 0 warning(s)"), out
    assert "event_schedule_info: key (every column) (every column (no primary key or unique index))" in out, out
    assert "event_schedule: key schedule_id (primary key); triggers: event_schedule_delete" in out, out
    for check in (
        "SQL (ds_slave1_mssql)",
        "WinRM (ds_slave1_winrm)",
        "SMB (ds_slave1_smb, share express)",
        "SERVERPROPERTY",
        "package's tables",
        "data size",
        "transaction log",
        "recovery model",
        "DS tools",
        "nested triggers",
        "login language",
        "older procedure's tables",
        "scheduled import.bat",
        "clock",
    ):
        assert check in out, out


def test_json_and_an_smb1_only_slave_is_no_go_while_the_others_are_go(lab_estate):
    with read_only(lab_estate):
        code, out, err = run_survey(lab_estate, "--json")
    assert code == 1, (out, err[-3000:])
    document = json.loads(out)
    assert list(document) == ["hosts"]
    hosts = {h["name"]: h for h in document["hosts"]}
    assert [(h["name"], h["role"], h["verdict"]) for h in hosts.values()] == [
        ("master", "master", "go"),
        (SLAVE, "slave", "go"),
        (SMB1_SLAVE, "slave", "no-go"),
    ]
    for host in hosts.values():
        assert list(host) == ["name", "role", "verdict", "checks"], host
        for check in host["checks"]:
            assert list(check) == ["check", "ok", "found", "why"], check
            assert isinstance(check["ok"], bool) and isinstance(check["found"], str) and isinstance(check["why"], str)
    smb = failing(hosts[SMB1_SLAVE])[f"SMB (ds_{SMB1_SLAVE}_smb, share express)"]
    assert "speaks only SMB1 (dialect NT LM 0.12" in smb["found"], smb


def test_a_bad_estate_file_exits_2_naming_the_field(lab_estate, tmp_path):
    config = yaml.safe_load(lab_estate.config_path.read_text())
    config["slaves"][0]["name"] = "bad name"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    code, out, err = run_survey(lab_estate, config=path)
    assert code == 2 and "slaves[0].name" in err, (code, out, err)
    assert run_survey(lab_estate, "--no-such-option")[0] == 2


@pytest.fixture
def msde_2000(lab_estate):
    lab_estate.lab.server(SLAVE, "--version", "8.00.2039", "--edition", "Desktop Engine")
    yield
    lab_estate.lab.server(SLAVE, "--version", "9.00.5000.00", "--edition", "Express Edition")


def test_msde_2000_is_no_go_with_its_version(lab_estate, msde_2000):
    _, hosts = surveyed(lab_estate)
    sql = failing(hosts[SLAVE])[f"SQL (ds_{SLAVE}_mssql)"]
    assert "is version 8.00.2039 (Desktop Engine; 8.00 is SQL Server 2000 / MSDE 2000)" in sql["found"], sql
    assert hosts["master"]["verdict"] == "go"


@pytest.fixture
def tools_missing(lab_estate):
    share = Path(lab_estate.lab.info["hosts"][SLAVE]["share_dir"])
    (share / "aximport.exe").rename(share / "aximport.exe.moved")
    yield
    (share / "aximport.exe.moved").rename(share / "aximport.exe")


def test_the_ds_tools_missing_is_no_go_and_preflight_refuses_it_alike(lab_estate, tools_missing):
    _, hosts = surveyed(lab_estate)
    tools = failing(hosts[SLAVE])["DS tools"]
    assert tools["found"] == r"axexport.exe in C:\Program Files\Altiris\eXpress\Deployment Server", tools
    assert tools["why"].startswith("aximport.exe not in the DS folder"), tools
    preflight_refuses_alike(lab_estate, tools)


def test_cmd_that_cannot_run_in_the_ds_folder_is_no_go(lab_estate):
    """The login runs cmd over WinRM, but not in `ds_path` (here a folder that is not there:
    cmd's 'The system cannot find the path specified.', exit 1): no-go, the tools unchecked."""
    config = yaml.safe_load(lab_estate.config_path.read_text())
    slave = next(s for s in config["slaves"] if s["name"] == SLAVE)
    slave["ds_path"] = "C:\\Program Files\\Altiris\\No Such Folder"
    path = lab_estate.root / "no_ds_folder.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    _, hosts = surveyed(lab_estate, config=path)
    winrm = failing(hosts[SLAVE])[f"WinRM (ds_{SLAVE}_winrm)"]
    assert "exited 1: The system cannot find the path specified." in winrm["found"], winrm
    assert winrm["why"] == "the login must run cmd.exe in the DS folder (ds_path)", winrm
    assert "DS tools" not in {c["check"] for c in hosts[SLAVE]["checks"]}
    assert hosts["master"]["verdict"] == "go"


@pytest.fixture
def small_log(lab_estate):
    lab_estate.lab.server(SLAVE, "--log-mb", "0.05", "--log-growth-mb", "0")
    yield
    lab_estate.lab.server(SLAVE, "--log-mb", "1", "--log-growth-mb", "1")


def test_a_log_too_small_for_tonights_copies_is_no_go(lab_estate, small_log):
    _, hosts = surveyed(lab_estate)
    log = failing(hosts[SLAVE])["transaction log"]
    assert log["found"].startswith("at most 0.0 MB; tonight needs up to 0."), log
    assert "error 9002 (log full)" in log["why"], log
    preflight_refuses_alike(lab_estate, log)


@pytest.fixture
def nearly_full(lab_estate):
    lab_estate.lab.server(SLAVE, "--data-mb", "4095.95")  # SQL Server 2005 Express: a 4096 MB cap
    yield
    lab_estate.lab.server(SLAVE, "--data-mb", "40")


def test_a_backup_that_would_pass_the_editions_cap_is_no_go(lab_estate, nearly_full):
    _, hosts = surveyed(lab_estate)
    size = failing(hosts[SLAVE])["data size"]
    assert "past the 4096 MB cap of SQL Server 9.00.5000 Express Edition" in size["why"], size
    preflight_refuses_alike(lab_estate, size)


# Versions the package tells apart by @@VERSION (floor 2005, Express caps 4 GB to 2008 and 10 GB
# from 2008 R2 on): each with a database of 4095.95 MB; SERVERPROPERTY as that server answers it.
NEARLY_FULL_ON = {
    ("10.50.1600.1", "Express Edition"): ("10.50.1600.1 RTM Express Edition", "go", "cap 10240 MB"),
    ("10.0.5500.0", "Express Edition"): ("10.0.5500.0 SP3 Express Edition", "no-go", "past the 4096 MB cap"),
    ("9.00.4035.00", "Standard Edition"): ("9.00.4035.00 SP3 Standard Edition", "go", "no cap"),
}


@pytest.mark.parametrize(("version", "edition"), NEARLY_FULL_ON)
def test_each_version_is_read_from_the_server_with_its_editions_cap(lab_estate, nearly_full, version, edition):
    properties, verdict, size_words = NEARLY_FULL_ON[(version, edition)]
    lab_estate.lab.server(SLAVE, "--version", version, "--edition", edition)
    try:
        _, hosts = surveyed(lab_estate)
    finally:
        lab_estate.lab.server(SLAVE, "--version", "9.00.5000.00", "--edition", "Express Edition")
    checks = {c["check"]: c for c in hosts[SLAVE]["checks"]}
    assert checks["SERVERPROPERTY"]["found"] == properties, checks["SERVERPROPERTY"]
    assert checks[f"SQL (ds_{SLAVE}_mssql)"]["found"].startswith(f"{parse_version_words(version)} {edition},")
    assert hosts[SLAVE]["verdict"] == verdict, checks["data size"]
    assert size_words in checks["data size"]["found"] + checks["data size"]["why"], checks["data size"]


def parse_version_words(version: str) -> str:
    """The version as the package words it from @@VERSION: major.minor(2 digits).build."""
    major, minor, build = version.split(".")[:3]
    return f"{int(major)}.{int(minor):02d}.{int(build)}"


@pytest.fixture
def nested_triggers_off(lab_estate):
    lab_estate.lab.server(SLAVE, "--nested-triggers", "0")
    yield
    lab_estate.lab.server(SLAVE, "--nested-triggers", "1")


def test_nested_triggers_off_is_no_go(lab_estate, nested_triggers_off):
    """sys.configurations, configuration_id 115 (SQL Server docs: "Configure the nested triggers
    server configuration option"): value_in_use 0."""
    _, hosts = surveyed(lab_estate)
    nested = failing(hosts[SLAVE])["nested triggers"]
    assert nested["found"] == "0 (off)" and "EXEC sp_configure 'nested triggers', 1; RECONFIGURE" in nested["why"]


@pytest.fixture
def british_login(lab_estate):
    lab_estate.lab.sql(SLAVE, f"ALTER LOGIN [{lab_estate.lab.info['user']}] WITH DEFAULT_LANGUAGE = British")
    yield
    lab_estate.lab.sql(SLAVE, f"ALTER LOGIN [{lab_estate.lab.info['user']}] WITH DEFAULT_LANGUAGE = us_english")


def test_a_british_login_is_a_note_not_a_no_go(lab_estate, british_login):
    _, hosts = surveyed(lab_estate)
    assert hosts[SLAVE]["verdict"] == "go", failing(hosts[SLAVE])
    language = next(c for c in hosts[SLAVE]["checks"] if c["check"] == "login language")
    assert language["ok"] and language["found"] == "British" and "DATEFORMAT ymd" in language["why"], language


@pytest.fixture
def older_procedure(lab_estate):
    """The seed article's procedure on SLAVE: its scheduled import.bat and its backup table."""
    lab_estate.lab.schedule_task(SLAVE, "\\DS nightly import", "C:\\DSImport\\import.bat")
    lab_estate.lab.sql(SLAVE, "CREATE TABLE event_schedule_backup (schedule_id int NOT NULL)")
    yield
    lab_estate.lab.sql(SLAVE, "DROP TABLE event_schedule_backup")
    lab_estate.lab.unschedule_tasks(SLAVE)


def test_an_older_procedures_scheduled_import_bat_and_tables_are_notes(lab_estate, older_procedure):
    """The seed article's import.bat, scheduled: read with `schtasks /query /fo csv /v` (the
    task's name, second field of its row); its table from sys.tables. The survey names both
    (never a no-go: preflight adopts the rows)."""
    _, hosts = surveyed(lab_estate)
    assert hosts[SLAVE]["verdict"] == "go", failing(hosts[SLAVE])
    tables = next(c for c in hosts[SLAVE]["checks"] if c["check"] == "older procedure's tables")
    assert tables["ok"] and tables["found"] == "event_schedule_backup", tables
    assert "disable its scheduled import.bat" in tables["why"], tables
    task = next(c for c in hosts[SLAVE]["checks"] if c["check"] == "scheduled import.bat")
    assert task["ok"] and task["found"] == "\\DS nightly import runs import.bat", task
    assert "disable that task before the first night" in task["why"], task
    quiet = next(c for c in hosts[SMB1_SLAVE]["checks"] if c["check"] == "scheduled import.bat")
    assert quiet == {
        "check": "scheduled import.bat",
        "ok": True,
        "found": "none of 0 scheduled task(s) runs import.bat",
        "why": "",
    }


@pytest.fixture
def full_recovery(lab_estate):
    lab_estate.lab.server(SLAVE, "--recovery-model", "FULL")
    yield
    lab_estate.lab.server(SLAVE, "--recovery-model", "SIMPLE")


def test_the_full_recovery_model_is_a_note_not_a_no_go(lab_estate, full_recovery):
    """sys.databases.recovery_model_desc ("sys.databases (Transact-SQL)"): under FULL the log
    keeps the night's copies until a log backup."""
    _, hosts = surveyed(lab_estate)
    assert hosts[SLAVE]["verdict"] == "go", failing(hosts[SLAVE])
    model = next(c for c in hosts[SLAVE]["checks"] if c["check"] == "recovery model")
    assert model["ok"] and model["found"] == "FULL" and "until a log backup" in model["why"], model


def with_connection(env: dict[str, str], conn_id: str, **changes) -> dict[str, str]:
    key = f"AIRFLOW_CONN_{conn_id.upper()}"
    return {**env, key: json.dumps({**json.loads(env[key]), **changes})}


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_host_is_no_go_with_the_reason_and_the_others_are_still_surveyed(lab_estate):
    """slave1: SQL on a closed port, WinRM down, a wrong SMB password; slave2: a wrong SQL
    password. Each failing check says why, none waited for the 60 s deadline, and the master
    is still surveyed and go."""
    env = with_connection(lab_estate.env, f"ds_{SLAVE}_mssql", port=closed_port())
    env = with_connection(env, f"ds_{SLAVE}_smb", password="wrong password")
    env = with_connection(env, f"ds_{SMB1_SLAVE}_mssql", password="wrong password")
    winrm = json.loads(env[f"AIRFLOW_CONN_DS_{SLAVE.upper()}_WINRM"])
    winrm["extra"]["endpoint"] = f"http://127.0.0.1:{closed_port()}/wsman"  # WinRM down
    env[f"AIRFLOW_CONN_DS_{SLAVE.upper()}_WINRM"] = json.dumps(winrm)
    started = time.monotonic()
    code, hosts = surveyed(lab_estate, env=env)
    assert time.monotonic() - started < 120  # the interpreter's start, then at most 60 s per host, in parallel
    assert code == 1 and hosts["master"]["verdict"] == "go"
    problems = failing(hosts[SLAVE])
    assert "Connection refused" in problems[f"SQL (ds_{SLAVE}_mssql)"]["found"], problems
    assert "refused" in problems[f"WinRM (ds_{SLAVE}_winrm)"]["found"].lower(), problems
    smb = problems[f"SMB (ds_{SLAVE}_smb, share express)"]["found"]
    assert "STATUS_LOGON_FAILURE" in smb or "logon" in smb.lower(), problems
    login = failing(hosts[SMB1_SLAVE])[f"SQL (ds_{SMB1_SLAVE}_mssql)"]["found"]
    assert "Login failed for user" in login, login
    assert all(h["verdict"] == "no-go" for h in (hosts[SLAVE], hosts[SMB1_SLAVE]))
    assert "answer in time" not in {c["check"] for h in hosts.values() for c in h["checks"]}, "cut off, not refused"
    assert "wrong password" not in json.dumps(hosts), "a secret in the survey's output"


def test_hosts_that_do_not_answer_are_no_go_at_the_deadline_and_surveyed_at_once(lab_estate, monkeypatch):
    """The bound itself, in process: on both slaves a command that never ends holds the cmd
    check; the survey gives up on each at the deadline and reports what it answered. Both
    had answered SQL by then: they were asked at once (one after the other, the second would
    not have been asked anything before the first's deadline)."""
    for key, value in lab_estate.env.items():
        if key.startswith("AIRFLOW_CONN_"):
            monkeypatch.setenv(key, value)
    for slave in (SLAVE, SMB1_SLAVE):
        lab_estate.lab.fault(slave, "command_hang")
    estate = load_estate(lab_estate.config_path)
    started = time.monotonic()
    results = {r.name: r for r in survey.survey_hosts(survey.hosts(estate), seconds=8)}
    assert time.monotonic() - started < 12
    assert results["master"].verdict == "go", results["master"]
    for slave in (SLAVE, SMB1_SLAVE):
        hung = results[slave]
        assert hung.verdict == "no-go"
        assert [c.found for c in hung.checks if c.check == "answer in time"] == ["no answer within 8 s"], hung
        assert hung.checks[0].check == f"SQL (ds_{slave}_mssql)" and hung.checks[0].ok, "what it answered is kept"


def test_the_survey_dag_runs_one_task_per_host(lab_estate):
    started = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    with read_only(lab_estate):
        result = lab_estate.run_dag("survey_estate")
    ended = dt.datetime.now(dt.UTC)
    states = {task: ti["state"] for task, ti in result["tasks"].items()}
    assert states == {"survey_master": "success", f"survey_{SLAVE}": "success", f"survey_{SMB1_SLAVE}": "failed"}
    assert result["xcom"][f"survey_{SLAVE}"]["verdict"] == "go", result["xcom"]
    assert f"slave {SMB1_SLAVE}: no-go: SMB (ds_{SMB1_SLAVE}_smb, share express): the SMB server" in result["log"]
    # the replication page's "Last survey" section reads it from Airflow's metadata DB, the
    # failed task's record included (pushed before it failed)
    script = (
        "from ds_replication.page import survey_view as v; "
        "print('PAGE ' + v.survey_section(v.last_survey(None), '/run'))"
    )
    proc = subprocess.run([PYTHON, "-c", script], env=lab_estate.env, cwd=REPO, capture_output=True, text=True)
    html = proc.stdout.split("PAGE ", 1)[-1]
    assert proc.returncode == 0 and f"Run {result['run_id']} (failed)" in html, (proc.stdout, proc.stderr[-3000:])
    rows = dict(re.findall(r'<tr data-survey-host="(\w+)">(.*?)</tr>', html))
    assert list(rows) == ["master", SLAVE, SMB1_SLAVE], html
    assert '<span class="state success">go</span>' in rows[SLAVE] and "<small>none</small>" in rows[SLAVE]
    for host, row in rows.items():
        when = re.search(r'<td class="when">(\d{4}-\d\d-\d\d \d\d:\d\d) UTC</td>', row)
        assert when, (host, row)
        assert started <= dt.datetime.strptime(when[1], "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC) <= ended, row
    assert '<span class="state failed">no-go</span>' in rows[SMB1_SLAVE], rows[SMB1_SLAVE]
    assert f"<b>SMB (ds_{SMB1_SLAVE}_smb, share express)</b>: the SMB server" in rows[SMB1_SLAVE], rows[SMB1_SLAVE]


@pytest.fixture
def status_recollated(lab_estate):
    """The package's tables made (as by a first night), then a DS upgrade gives
    event_schedule.status a binary collation."""
    lab = lab_estate.lab
    with lab.connect(SLAVE, "express") as conn:
        history.ensure_tables(conn, "express", read_history_tables(conn))
    lab.sql(SLAVE, "ALTER TABLE event_schedule ALTER COLUMN status nvarchar(50) COLLATE Latin1_General_BIN NOT NULL")
    yield
    lab.sql(SLAVE, "ALTER TABLE event_schedule ALTER COLUMN status nvarchar(50) NOT NULL")  # the database's default


def test_a_column_given_another_collation_is_no_go_and_preflight_refuses_it_alike(lab_estate, status_recollated):
    """SQL Server could not compare the held copy with the live row ("Collation Precedence
    (Transact-SQL)": Msg 468). The survey and preflight name the column and both collations alike."""
    _, hosts = surveyed(lab_estate)
    check = failing(hosts[SLAVE])["package's tables"]
    assert check["found"].startswith(
        "column status of event_schedule is collated Latin1_General_BIN now but SQL_Latin1_General_CP1_CI_AS in "
        "ds_replication_event_schedule_backup"
    ), check
    assert "ALTER COLUMN ... COLLATE" in check["why"], check
    assert hosts["master"]["verdict"] == "go"
    preflight_refuses_alike(lab_estate, check)


def test_a_keyless_history_table_with_a_large_column_is_no_go(lab_estate):
    """Last in the module: the lab cannot drop the column again. ntext cannot be compared
    (Msg 402), so the rows of a keyless table holding one cannot be told apart."""
    lab_estate.lab.sql(SLAVE, "ALTER TABLE event_schedule_info ADD notes ntext NULL")
    _, hosts = surveyed(lab_estate)
    tables = failing(hosts[SLAVE])["history tables"]
    assert "event_schedule_info has no primary key or unique index, and its column(s) notes" in tables["found"]
    assert hosts["master"]["verdict"] == "go"
    preflight_refuses_alike(lab_estate, tables)
