"""Parsing the estate and building its DAGs at 1 and 500 slaves."""

from __future__ import annotations

from tests.bench.common import estate_text, timed


def bench_config(repeat: int) -> dict:
    from ds_replication.config import parse_estate

    small, large = estate_text(1), estate_text(500)
    one = timed(lambda: parse_estate(small), repeat)
    many = timed(lambda: parse_estate(large), repeat)
    return {"slaves_1": one, "slaves_500": many, "ratio_500_to_1": many["median_s"] / one["median_s"]}


def bench_dags(repeat: int) -> dict:
    from ds_replication.config import parse_estate
    from ds_replication.factory import build_dags

    small, large = parse_estate(estate_text(1)), parse_estate(estate_text(500))
    one = timed(lambda: build_dags(small), repeat)
    many = timed(lambda: build_dags(large), max(1, repeat // 3))
    return {
        "slaves_1": one,
        "slaves_500": many,
        "per_slave_ms_at_500": many["median_s"] / 500 * 1000,
        "ratio_500_to_1": many["median_s"] / one["median_s"],
    }
