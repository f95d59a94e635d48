"""The survey's verdicts and output, from checks (host_checks.Check) as the hosts answered them."""

from __future__ import annotations

import datetime as dt

from ds_replication.host_checks import Check, clock, ds_tools
from ds_replication.survey import HostSurvey, as_json, as_text, summary


def test_a_host_is_go_only_when_every_check_is_ok_warnings_included():
    ok = Check("SQL (c)", True, "9.00.5000 Express Edition")
    note = Check("login language", True, "British", "a note")
    refused = Check("DS tools", False, "axexport.exe in C:\\DS", "aximport.exe not in the DS folder")
    assert HostSurvey("a", "slave", [ok, note]).verdict == "go"
    assert HostSurvey("b", "slave", [ok, refused]).verdict == "no-go"
    assert HostSurvey("c", "slave", []).verdict == "no-go", "a host with no answer at all is no-go"
    surveys = [HostSurvey("m", "master", [ok]), HostSurvey("b", "slave", [ok, refused, note])]
    assert summary(surveys) == "survey: 2 host(s), 1 go, 1 no-go (b), 1 warning(s)"
    text = as_text(surveys)
    assert "slave b: no-go" in text and "what to do: aximport.exe not in the DS folder" in text
    assert "  login language  warn  British" in text and "note: a note" in text
    assert as_json(surveys)["hosts"][1] == {
        "name": "b",
        "role": "slave",
        "verdict": "no-go",
        "checks": [
            {"check": "SQL (c)", "ok": True, "found": "9.00.5000 Express Edition", "why": ""},
            {"check": "DS tools", "ok": False, "found": "axexport.exe in C:\\DS", "why": refused.why},
            {"check": "login language", "ok": True, "found": "British", "why": "a note"},
        ],
    }


def test_a_clock_off_by_more_than_five_minutes_is_a_note():
    now = dt.datetime(2026, 12, 5, 23, 0)
    assert clock(now + dt.timedelta(seconds=299), now) == Check("clock", True, "+299 s against the Airflow host")
    late = clock(now - dt.timedelta(minutes=6), now)
    assert late.ok and late.warning and late.found == "-360 s against the Airflow host"


def test_the_tools_a_host_needs_depend_on_its_role():
    class Host:
        role, ds_path = "master", "C:\\DS"

    assert ds_tools(Host(), ["AXEXPORT.EXE", "readme.txt"]).ok
    Host.role = "slave"
    missing = ds_tools(Host(), ["axexport.exe"])
    assert not missing.ok and missing.why.startswith("aximport.exe not in the DS folder C:\\DS")


class TaskListHost:
    """A slave whose `schtasks /query /fo csv /v` answers `result` (the lab's answers are in
    tests/e2e/test_survey.py; these are the ones it does not make)."""

    role, ds_path = "slave", "C:\\DS"

    def __init__(self, result):
        self.result = result

    def run(self, command, timeout_seconds):
        assert command == "schtasks /query /fo csv /v"
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_a_scheduled_import_bat_is_found_in_any_column_layout_and_never_a_no_go():
    from ds_replication.hooks.shell import CommandResult
    from ds_replication.host_checks import scheduled_import

    # Windows Server 2003's verbose CSV: other columns after TaskName, the header repeated
    header = '"HostName","TaskName","Next Run Time","Status","Last Run Time","Last Result","Creator","Schedule",'
    header += '"Task To Run"\r\n'
    rows = '"DS1","DS import","02:00:00, 07/12/2026","","Never","0","admin","At 02:00 every day",'
    rows += '"C:\\Scripts\\IMPORT.BAT"\r\n"DS1","Defrag","N/A","","Never","0","admin","Weekly","defrag.exe"\r\n'
    found = scheduled_import(TaskListHost(CommandResult(0, header + rows + header, "", 0.1)))
    assert found.ok and found.warning and found.found == "DS import runs import.bat", found
    none = scheduled_import(TaskListHost(CommandResult(0, header + rows.split("\r\n")[1] + "\r\n", "", 0.1)))
    assert none == Check("scheduled import.bat", True, "none of 1 scheduled task(s) runs import.bat")
    denied = scheduled_import(TaskListHost(CommandResult(1, "", "ERROR: Access is denied.\r\n", 0.1)))
    assert denied.ok and denied.warning, "a task list that cannot be read is a note: look by hand"
    assert denied.found == "not read: 'schtasks /query /fo csv /v' exited 1: ERROR: Access is denied.", denied
    lost = scheduled_import(TaskListHost(ConnectionResetError("connection reset")))
    assert lost.ok and lost.found == "not read: connection reset" and "Task Scheduler" in lost.why


def test_the_survey_bounds_each_host_within_60_seconds():
    from ds_replication import survey

    assert survey.HOST_SECONDS <= 60 and survey.COMMAND_SECONDS < survey.HOST_SECONDS
