"""The bench report's targets table (issue 14): status, floor's ratio, ours ÷ floor, busy.

Built from synthetic samples, so the arithmetic is checked without running a bench.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def run() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        import run as module  # bench/run.py
    finally:
        sys.path.remove(str(BENCH))
    return module


def samples(cpu: list[float], busy: float) -> list[dict[str, Any]]:
    return [
        {"rep": rep, "cpu_ms_per_call": value, "server_busy": busy} for rep, value in enumerate(cpu)
    ]


def test_each_target_row_has_its_ratio_status_floor_and_server_busy(run: Any) -> None:
    bench = SimpleNamespace(
        counts={
            "concurrent": {"concurrency": 200},
            "scale": {"calls": 10000},
            "idle": {"calls": 1000},
        }
    )
    results = {
        "serial": {
            "trio": samples([1.0, 1.2, 1.1], busy=0.6),
            "official": samples([2.0, 2.0, 2.0], busy=0.7),
            "floor": samples([0.5, 0.6, 0.5], busy=0.8),
        },
        "concurrent": {
            "trio": samples([0.6, 0.6, 0.6], busy=0.75),
            "official": samples([2.0, 2.0, 2.0], busy=0.78),
        },
    }
    lines = run._headline(bench, results)
    serial = next(line for line in lines if line.startswith("| CPU/call, 1 at a time |"))
    cells = [cell.strip() for cell in serial.strip("|").split("|")]
    # ours/official per repetition: 0.5, 0.6, 0.55 -> median 0.55; floor 0.25, 0.3, 0.25 -> 0.25
    # ours/floor per repetition: 2.0, 2.0, 2.2 -> 2.0
    assert cells[4] == "x0.55"
    assert cells[6] == "**not met**"
    assert cells[7] == "x0.25"
    assert cells[8] == "x2.00"
    assert cells[9] == "60% / 70%"
    concurrent = next(line for line in lines if line.startswith("| CPU/call, 200 concurrent |"))
    cells = [cell.strip() for cell in concurrent.strip("|").split("|")]
    assert cells[4] == "x0.30"
    assert cells[6] == "met"
    assert cells[7:10] == ["n/a", "n/a", "75% / 78%"]  # no floor run here
