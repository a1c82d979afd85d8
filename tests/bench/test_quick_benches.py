"""The proof scripts' quick variants, run as `python -m bench.<name> --quick` subprocesses.

On SQLite always; on PostgreSQL too when ROUNDS_TEST_DATABASE_URL points at a server (each
bench creates and drops its own database there, so it does not touch the test database).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import parse_figures
from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]
ENGINES = ["sqlite"] + (["postgres"] if POSTGRES_URL.startswith("postgresql") else [])

pytestmark = pytest.mark.slow


def run_bench(name: str, engine: str) -> dict[str, str]:
    command = [sys.executable, "-m", f"bench.{name}", "--quick", "--db", engine]
    if engine == "postgres":
        command += ["--url", POSTGRES_URL]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=900, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    figures = parse_figures(lines[-1])
    figures["output"] = "\n".join(lines[:-1])
    return figures


@pytest.mark.parametrize("engine", ENGINES)
def test_a_killed_server_loses_doubles_and_invents_nothing(engine):
    figures = run_bench("crash", engine)
    assert int(figures["cycles"]) == 10
    assert int(figures["acknowledged"]) > 0
    for name in ("lost", "phantom", "duplicated", "altered", "unsaved_after_retry", "unaudited"):
        assert figures[name] == "0", (name, figures)
    assert figures["errors"] == "0", figures["output"]
    assert figures["integrity"] == "ok"
    assert figures["audit_chain"] == "verified"


@pytest.mark.parametrize("engine", ENGINES)
def test_three_times_a_wards_peak_shows_no_errors(engine):
    figures = run_bench("load", engine)
    assert int(figures["saves"]) > 50
    assert float(figures["times_ward_peak"]) >= 2.5
    assert figures["errors_shown"] == "0", figures["output"]
    assert figures["locked"] == figures["pool"] == "0"


@pytest.fixture(scope="module", params=ENGINES)
def hostile(request) -> dict[str, str]:
    return run_bench("bad_input", request.param)


def test_hostile_input_is_refused_cleanly_or_stored_as_accepted(hostile):
    assert int(hostile["cases"]) > 2000
    assert hostile["uncovered_models"] == "0"
    assert hostile["crashed"] == "0", hostile["output"]
    assert hostile["failed"] == "0", hostile["output"]
