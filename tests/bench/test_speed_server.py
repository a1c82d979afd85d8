"""The quick variant of the speed bench's server rows (bench/speed_server.py): a real
`rounds serve`, Debian's Chromium, three live sessions. Figures are reported, not judged here;
what must hold is that every row is measured and every tap of the round saved a check."""

import json

import pytest

from bench import speed_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_quick_server_rows_are_measured(tmp_path, capsys) -> None:
    out = tmp_path / "server.json"
    assert speed_server.main(["--quick", "--json", str(out)]) == 0

    rows = {row["measure"].split(" (")[0]: row for row in json.loads(out.read_text())}
    assert set(rows) == {
        "First load: bytes on the wire",
        "First load: until the rounds screen is usable",
        "Click to Saved, routine check, 1 session",
        "Server memory per live session on the rounds screen",
        f"Click to Saved, routine check, {speed_server.QUICK_SESSIONS} sessions",
        "Scripted round: 20 patients, routine checks",
    }
    for name in ("1 session", f"{speed_server.QUICK_SESSIONS} sessions"):
        row = rows[f"Click to Saved, routine check, {name}"]
        assert float(row["rounds_p50"].split()[0]) > 0
        assert float(row["rounds_p95"].split()[0]) >= float(row["rounds_p50"].split()[0])
    assert rows["Scripted round: 20 patients, routine checks"]["rounds_p50"].startswith("20 taps")
    assert "rows=6" in capsys.readouterr().out
