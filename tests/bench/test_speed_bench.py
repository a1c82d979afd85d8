"""The speed bench's quick variant, run as `python -m bench.speed --quick` on the test engine.

Speed is reported, not asserted: the machine running the tests may be slow or busy. What must
hold is that the bench loads its ward, measures every row and reports each with numbers.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import parse_figures
from bench.speed import COLUMNS, QUICK_DAYS
from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]
ENGINE = "postgres" if POSTGRES_URL.startswith("postgresql") else "sqlite"
NUMBER = re.compile(r"^\d+(\.\d+)? ms$")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict[str, str], dict, str]:
    out = tmp_path_factory.mktemp("speed") / "speed.json"
    command = [sys.executable, "-m", "bench.speed", "--quick", "--db", ENGINE, "--json", str(out)]
    if ENGINE == "postgres":
        command += ["--url", POSTGRES_URL]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return parse_figures(lines[-1]), json.loads(out.read_text()), done.stdout


def test_the_quick_bench_loads_a_month_of_a_full_ward(quick_run):
    figures, report, _ = quick_run
    assert figures["engine"] == ENGINE
    assert int(figures["days"]) == QUICK_DAYS
    # 40 beds at q5, q15 and q30 for a month: about 3,900 checks a day.
    assert 100_000 < int(figures["checks"]) < 140_000
    assert report["sleep_reports"] > 0 and report["attendances"] > 0


def test_every_row_is_reported_with_numbers(quick_run):
    figures, report, output = quick_run
    rows = report["rows"]
    assert rows[0]["measure"] == "Save a check-in (service vs raw driver)"
    assert rows[1]["measure"] == f"First timeline page (50 entries), {QUICK_DAYS} days of q15"
    assert figures["audit_chain"] == "verified"
    assert len(rows) == 5 == int(figures["rows"])
    for row in rows:
        assert set(row) == {key for key, _ in COLUMNS}
        assert NUMBER.match(row["rounds_p50"]) and NUMBER.match(row["rounds_p95"]), row
        assert isinstance(row["met"], bool) and row["target"]
        assert row["measure"] in output
    for row in rows[:2]:
        # Measured side by side with the raw driver.
        assert NUMBER.match(row["raw_p50"]) and float(row["ratio"]) > 0, row
    for row in rows[2:]:
        assert row["raw_p50"] == row["ratio"] == ""
    for name in ("save_p50_ms", "timeline_ratio", "trends_p50_ms", "rounds_p50_ms"):
        assert float(figures[name]) > 0
    assert float(figures["handoff_p50_ms"]) > 0


def test_the_table_is_markdown_with_one_line_per_row(quick_run):
    _, report, output = quick_run
    table = [line for line in output.splitlines() if line.startswith("|")]
    assert table[0] == "| measure | Rounds p50 | p95 | raw p50 | ratio | target | met |"
    assert len(table) == 2 + len(report["rows"])
    assert all(line.endswith((" yes |", " no |")) for line in table[2:])
