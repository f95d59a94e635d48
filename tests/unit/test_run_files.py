"""The names a run writes on the shares, and the pattern cleanup removes by."""

from __future__ import annotations

import pytest

from ds_replication.run_files import export_file_names, partial_name, selected_folders, slave_file_pattern

RUN = "scheduled__2026-11-25T02:00:00+00:00"
FOLDERS = [{"name": "Global"}, {"name": "Drivers"}]


def test_the_pattern_matches_every_name_a_run_of_the_slave_writes():
    names = export_file_names("site", RUN, FOLDERS)
    written = names + [partial_name(n) for n in names]
    assert all(slave_file_pattern("site").fullmatch(n) for n in written), written


def test_the_pattern_leaves_a_slave_whose_name_starts_with_this_one():
    other = export_file_names("site_a", RUN, FOLDERS)
    other += [partial_name(n) for n in other]
    assert not any(slave_file_pattern("site").fullmatch(n) for n in other), other
    # and the other way round
    assert not any(slave_file_pattern("site_a").fullmatch(n) for n in export_file_names("site", RUN, FOLDERS))


def test_the_pattern_leaves_other_files_on_the_share():
    pattern = slave_file_pattern("site")
    for name in ("dsrepl_site_leftover.bin", "dsrepl_site_0123456789ab_1.bin.old", "site_0123456789ab_1.bin"):
        assert not pattern.fullmatch(name), name


def test_a_dot_in_a_slave_name_is_no_wildcard():
    assert not slave_file_pattern("a.b").fullmatch(export_file_names("axb", RUN, FOLDERS)[0])
    assert slave_file_pattern("a.b").fullmatch(export_file_names("a.b", RUN, FOLDERS)[0])


def test_no_folders_asked_for_means_every_configured_folder():
    """The trigger form sends null when its multi-select is cleared, [] when left alone."""
    configured = [{"name": "Global", "subfolders": True}, {"name": "Drivers", "subfolders": False}]
    for asked in ({}, {"folders": None}, {"folders": []}):
        assert selected_folders(configured, asked) == configured
    assert selected_folders(configured, {"folders": ["drivers"]}) == [configured[1]]
    with pytest.raises(
        ValueError, match=r"\['Nope'\] not configured for this slave; choose from \['Global', 'Drivers'\]"
    ):
        selected_folders(configured, {"folders": ["Nope"]})
