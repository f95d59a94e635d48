"""Names and command of the slave's job archive taken before each import."""

from __future__ import annotations

import datetime as dt

from ds_replication.cmd_quote import unsafe_character
from ds_replication.ds_tools import axexport_command
from ds_replication.job_archive import ARCHIVE_FOLDER, archive_file_names
from ds_replication.run_files import export_file_names, tool_partial_name
from tests.unit.test_cmd_quote import crt_split

NIGHT = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
RUN = "scheduled__2026-11-25T02:00:00+00:00"


def test_names_are_the_same_on_every_try_of_a_run_and_differ_between_runs():
    assert archive_file_names("site_a", RUN, NIGHT, 2) == archive_file_names("site_a", RUN, NIGHT, 2)
    other = archive_file_names("site_a", "manual__2026-11-25T09:13:00+00:00", NIGHT, 2)
    assert set(other).isdisjoint(archive_file_names("site_a", RUN, NIGHT, 2))


def test_names_carry_slave_and_date_and_are_no_export_file_that_cleanup_removes():
    names = archive_file_names("site_a", RUN, NIGHT, 2)
    assert [n.split("_")[2] for n in names] == ["20261125", "20261125"]
    assert all(n.startswith("site_a_") and n.endswith(".bin") for n in names)
    assert set(names).isdisjoint(export_file_names("site_a", RUN, [{}, {}]))
    assert not any(n.startswith("dsrepl_") for n in names)
    assert all(unsafe_character(n) is None for n in names)


def test_the_archive_export_writes_a_partial_file_in_the_archive_folder():
    partial = f"{ARCHIVE_FOLDER}\\{tool_partial_name(archive_file_names('site_a', RUN, NIGHT, 1)[0])}"
    ds_path = r"C:\Program Files\Altiris\eXpress\Deployment Server"
    line = axexport_command(ds_path, "Drivers & Tools", True, partial)
    assert crt_split(line.split(" && ", 1)[1]) == [".\\axexport.exe", "/f", "Drivers & Tools", "/s", partial]


def test_a_partial_name_a_tool_writes_still_ends_in_bin():
    name = archive_file_names("site_a", RUN, NIGHT, 1)[0]
    assert tool_partial_name(name).endswith(".part.bin") and tool_partial_name(name) != name
