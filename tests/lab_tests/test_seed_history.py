"""seed.seed_history (`lab up --seed --history-rows N`): bulk history on a seeded slave."""

from __future__ import annotations

import pytest

from tests.lab import ds_schema, seed


@pytest.fixture
def slave_db(tmp_path):
    path = tmp_path / "express.db"
    ds_schema.create_express(path)
    seed.seed_slave(path, 1)
    return path


def counts(path) -> tuple[int, int]:
    db = ds_schema.connect(path)
    try:
        return (
            db.execute("SELECT COUNT(*) FROM event_schedule").fetchone()[0],
            db.execute("SELECT COUNT(*) FROM event_schedule_info").fetchone()[0],
        )
    finally:
        db.close()


def test_history_rows_are_added_with_one_to_three_details_each_on_the_slaves_jobs(slave_db):
    before = counts(slave_db)
    added = seed.seed_history(slave_db, 3000)
    after = counts(slave_db)
    assert added == {"rows": 3000, "detail_rows": 6000}  # 1 + i % 3 details: 1, 2, 3, 1, 2, 3, ...
    assert after == (before[0] + 3000, before[1] + 6000)
    db = ds_schema.connect(slave_db)
    try:
        orphans = db.execute(
            "SELECT COUNT(*) FROM event_schedule AS s WHERE NOT EXISTS (SELECT 1 FROM event AS e "
            "WHERE e.event_id = s.event_id) OR NOT EXISTS (SELECT 1 FROM computer AS c "
            "WHERE c.computer_id = s.computer_id)"
        ).fetchone()[0]
        spread = db.execute(
            "SELECT COUNT(DISTINCT event_id), COUNT(DISTINCT computer_id) FROM event_schedule"
        ).fetchone()
        bad_dates = db.execute(
            "SELECT COUNT(*) FROM event_schedule WHERE strftime('%Y-%m-%d %H:%M:%f', start_time) <> start_time"
        ).fetchone()[0]
    finally:
        db.close()
    assert orphans == 0 and bad_dates == 0
    assert spread == (11, 5)  # every job and computer of the slave
    assert seed.seed_history(slave_db, 0) == {"rows": 0, "detail_rows": 0}
    assert counts(slave_db) == after


def test_history_rows_need_a_seeded_slave(tmp_path):
    path = tmp_path / "express.db"
    ds_schema.create_express(path)
    with pytest.raises(ValueError, match="seed the slave first"):
        seed.seed_history(path, 10)
    with pytest.raises(ValueError, match="0 or more"):
        seed.seed_history(path, -1)
