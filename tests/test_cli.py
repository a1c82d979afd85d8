"""The `rounds` command, run in-process against a fresh SQLite file."""

import pytest

from app.cli import build_parser, main
from app.config import get_settings


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUNDS_DATABASE_URL", f"sqlite:///{tmp_path}/rounds.db")
    monkeypatch.setenv("ROUNDS_SECRET_FILE", str(tmp_path / "secret.key"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_every_command_says_what_it_does(capsys):
    parser = build_parser()
    for command in ["serve", "demo", "migrate", "create-user", "tls", "audit"]:
        with pytest.raises(SystemExit) as done:
            parser.parse_args([command, "--help"])
        assert done.value.code == 0
        assert len(capsys.readouterr().out.splitlines()) > 3


def test_migrate_creates_the_schema_and_the_secret(workdir, capsys):
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert (workdir / "rounds.db").exists()
    assert (workdir / "secret.key").stat().st_mode & 0o777 == 0o600


def test_create_user_then_audit_verify(workdir, capsys):
    created = main(
        [
            "create-user",
            "night.tech",
            "--display-name",
            "Night Tech",
            "--role",
            "technician",
            "--password",
            "a long enough passphrase",
        ]
    )
    out = capsys.readouterr().out
    assert created == 0
    assert "Created night.tech (technician). PIN for locked sessions:" in out
    assert (
        main(
            [
                "create-user",
                "night.tech",
                "--display-name",
                "X",
                "--role",
                "nurse",
                "--password",
                "another passphrase",
            ]
        )
        == 1
    )
    assert "taken" in capsys.readouterr().err
    assert main(["audit", "verify"]) == 0
    assert "Audit chain intact: 2 rows verified." in capsys.readouterr().out


def test_short_password_is_refused_with_a_message(workdir, capsys):
    code = main(
        ["create-user", "x", "--display-name", "X", "--role", "nurse", "--password", "short"]
    )
    assert code == 1
    assert "Password must be 8 to 128 characters" in capsys.readouterr().err


def test_tls_writes_a_ca_and_a_server_certificate(workdir, capsys):
    assert main(["tls", "rounds.ward.test", "127.0.0.1", "--out", str(workdir / "tls")]) == 0
    assert (workdir / "tls" / "rounds-ca.pem").exists()
    assert "tls_certfile" in capsys.readouterr().out


def test_demo_fills_once_and_refuses_other_data(workdir, capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "demo-tech-pass" in out and "246810" in out
    assert main(["demo"]) == 0  # the README's first command can be run again
    assert "already" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0


def test_demo_refuses_a_database_with_real_data(workdir, capsys):
    main(
        [
            "create-user",
            "ward.admin",
            "--display-name",
            "Ward Admin",
            "--role",
            "admin",
            "--password",
            "a long enough passphrase",
        ]
    )
    capsys.readouterr()
    assert main(["demo"]) == 1
    assert capsys.readouterr().err.strip()
