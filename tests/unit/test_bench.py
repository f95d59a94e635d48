"""The bench's machinery at tiny sizes: options, the test estates, a parse section end to end, the
JSON and the chart. No time is asserted, only that every figure and ratio is there."""

from __future__ import annotations

import json

import pytest

from ds_replication.config import parse_estate
from tests.bench import chart
from tests.bench.__main__ import SECTIONS, options, write
from tests.bench.parse import bench_parse, cloned_estate


def test_options_choose_sections_and_refuse_unknown_ones(capsys):
    args = options(["--sections", "parse, orchestration", "--quick"])
    assert args.sections == ["parse", "orchestration"] and args.quick
    assert options([]).sections == list(SECTIONS)
    with pytest.raises(SystemExit):
        options(["--sections", "parse,nope"])
    assert "unknown section(s) ['nope']" in capsys.readouterr().err


def test_cloned_estate_is_a_valid_estate_of_that_many_slaves():
    estate = parse_estate(cloned_estate(3))
    assert [s.name for s in estate.slave_configs()] == ["site000", "site001", "site002"]


def test_parse_section_at_a_tiny_size_writes_json_and_chart(tmp_path):
    """Four fresh Airflow processes (product and plain file, DAG processor and task start)."""
    parse = bench_parse((2,), 1)
    figures = parse["slaves_2"]
    # the product's file also builds the estate survey's DAG (survey_estate)
    assert figures["product_processor"]["dags"] == 3 and figures["plain_processor"]["dags"] == 2
    assert figures["product_task"]["dags"] == 1  # a task start builds only its own DAG
    assert figures["plain_task"]["dags"] == 2  # the plain file ignores the parsing context
    assert all(value > 0 for value in figures["processor_ratio"].values())
    assert figures["task_vs_smallest"] == {"fill": 1.0, "process": 1.0}
    assert set(parse["ratios"]) == {"DAG processor 2 slaves / plain", "DAG processor serialization 2 / plain"}

    out, png = write({"parse": parse}, tmp_path / "bench.json")
    assert json.loads(out.read_text())["parse"]["sizes"] == [2]
    assert png is not None and png.read_bytes().startswith(b"\x89PNG")
    assert len(chart.ratios({"parse": parse})) == 2


def test_chart_marks_targets_and_skips_sections_without_ratios(tmp_path):
    results = {
        "machine": {"cpus": 2},
        "config": {"ratio_500_to_1": 30.0},
        "orchestration": {"ratios": {"20 slaves at once / one (wall)": {"ratio": 4.2, "target": 6.0}}},
    }
    assert chart.ratios(results) == [("orchestration: 20 slaves at once / one (wall)", 4.2, 6.0)]
    assert chart.draw(results, tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
    assert chart.draw({"config": {}}, tmp_path / "none.png") is None
