"""The command lines sent to the DS tools, and the check of an export's own job count."""

from __future__ import annotations

import pytest

from ds_replication.ds_tools import axexport_command, aximport_command, check_export_count
from ds_replication.hooks.shell import CommandResult
from tests.unit.test_cmd_quote import crt_split

DS = r"C:\Program Files\Altiris\eXpress\Deployment Server"


def result(stdout: str) -> CommandResult:
    return CommandResult(return_code=0, stdout=stdout, stderr="", seconds=1.0)


def test_the_tools_are_called_by_their_path_in_the_ds_folder_not_by_cmd_lookup():
    export = axexport_command(DS, "Global", True, "x.bin")
    assert export.startswith(f'cd /d "{DS}" && ')
    assert crt_split(export.split(" && ", 1)[1])[0] == ".\\axexport.exe"
    assert crt_split(aximport_command(DS, "x.bin").split(" && ", 1)[1]) == [".\\aximport.exe", "x.bin", "/o"]


def test_an_export_of_as_many_jobs_as_the_folder_holds_passes():
    check_export_count(result("axExport: Processed 7 jobs in 3 folders.\r\n"), 7, "export of folder 'Global'")


@pytest.mark.parametrize("written", [6, 8])
def test_an_export_of_another_number_of_jobs_is_refused(written):
    with pytest.raises(RuntimeError, match=rf"folder 'Global'.*processed {written} jobs.*holds 7.*nothing is imported"):
        check_export_count(result(f"axExport: Processed {written} jobs in 3 folders.\r\n"), 7, "folder 'Global'")


def test_a_tool_that_prints_no_count_is_let_through_with_a_warning(caplog):
    check_export_count(result("done\r\n"), 7, "export of folder 'Global'")
    assert "printed no 'Processed N jobs' line" in caplog.text
