"""The bench's machinery at tiny sizes: options, the test estates, a parse section end to end, the
JSON and the chart. No time is asserted, only that every figure and ratio is there."""

from __future__ import annotations

import json
import os
import time

import pytest

from ds_replication.config import parse_estate
from tests.bench import __main__ as bench_main
from tests.bench import chart, task_cpu
from tests.bench.__main__ import SECTIONS, options, write
from tests.bench.cpu_meter import Meter
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


def test_a_missed_target_prints_the_reason_the_section_measured(tmp_path, monkeypatch, capsys):
    results = {
        "history": {
            "ratios": {
                "restore / bare": {"ratio": 2.0, "target": 1.2, "why": "capture check 0.6x"},
                "met": {"ratio": 1.0, "target": 1.2, "why": "not printed"},
                "no reason": {"ratio": 3.0, "target": 1.0},
            }
        }
    }
    monkeypatch.setattr(bench_main, "run", lambda args: results)
    assert bench_main.main(["--sections", "history", "--out", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    assert "history: restore / bare: 2.00x (target 1.2x)\n  not met: capture check 0.6x\n" in out
    assert "history: met: 1.00x (target 1.2x)\nhistory: no reason" in out  # within target: no reason printed
    assert "history: no reason: 3.00x (target 1.0x)\n  not met: no reason measured\n" in out


def test_task_cpu_figures_sum_tries_and_compare_with_the_empty_task(tmp_path):
    lines = [
        {"run_id": "empty", "task_id": "e0", "cpu_s": 0.04, "cpu_at_execute_s": 0.03},
        {"run_id": "empty", "task_id": "e1", "cpu_s": 0.06, "cpu_at_execute_s": 0.05},
        {"run_id": "ours", "task_id": "copy", "cpu_s": 0.3, "cpu_at_execute_s": 0.2},
        {"run_id": "ours", "task_id": "wait", "cpu_s": 0.2, "cpu_at_execute_s": 0.2},
        {"run_id": "ours", "task_id": "wait", "cpu_s": 0.2, "cpu_at_execute_s": 0.2},  # a second try
        {"run_id": "other", "task_id": "copy", "cpu_s": 9.0, "cpu_at_execute_s": 9.0},
    ]
    path = tmp_path / "cpu.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    figures = task_cpu.read(path, {"anchor": "empty", "ours": "ours"})
    assert figures["ours"]["wait"] == {"cpu_s": 0.4, "cpu_before_execute_s": 0.4, "tries": 2}
    summary = task_cpu.summary(figures["anchor"], figures["ours"])
    assert summary["empty_task_cpu_s"] == pytest.approx(0.05)
    assert summary["our_tries"] == 3 and summary["our_cpu_per_try_s"] == pytest.approx(0.7 / 3)
    assert summary["airflow_share_per_task"] == {"copy": pytest.approx(0.05 / 0.3), "wait": pytest.approx(0.25)}
    assert summary["airflow_share_of_run"] == pytest.approx(0.15 / 0.7)
    with pytest.raises(RuntimeError, match="no figures"):
        task_cpu.summary({}, figures["ours"])


def test_cpu_meter_counts_a_process_tree_and_the_rest_of_the_machine():
    meter = Meter({"me": [os.getpid()]})
    before = meter.reading()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # burn CPU in this process
        pass
    spent = meter.spent(before, meter.reading())
    # /proc gives utime and stime in 10 ms ticks, each rounded down at both readings: up to two
    # ticks short of the 0.2 s burnt (the suite once read 0.18999999999999773, as float sums do)
    assert spent["me"] >= 0.18 - 1e-9
    assert spent["machine"] >= spent["me"] - 0.02  # the machine's busy time holds ours (tick rounding)
    assert spent["others"] == pytest.approx(spent["machine"] - spent["me"])
    assert spent["cores"] == os.cpu_count() and spent["wall"] >= 0.19
