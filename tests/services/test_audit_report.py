from datetime import timedelta

import pytest
from sqlmodel import select

from app.cli import main
from app.config import get_settings
from app.services import audit_report as audit_report_module
from app.services.accounts import CONSOLE, sign_in
from app.services.audit_report import audit_report, format_report
from app.services.check_ins import record_check_in
from app.services.errors import InvalidInput, NotAllowed, NotFound, SignInFailed
from app.services.timeline import timeline_for
from models import AuditEvent
from models.codes import AuditAction, RecordKind
from tests.factories import PASSWORD, Ward, key


def check(patient_id, at):
    return {
        "patient_id": patient_id,
        "observed_at": at,
        "location": "day_room",
        "status": "resting",
        "client_key": key(),
    }


@pytest.fixture
def shift(ward, clock):
    """A little history: checks by the technician, a nurse's view, a failed sign-in."""
    clock.advance(minutes=5)
    for patient in ward.patients[:2]:
        record_check_in(ward.db, ward.tech, check(patient.id, clock()))
    clock.advance(minutes=5)
    timeline_for(ward.db, ward.nurse, ward.patients[0].id)
    with pytest.raises(SignInFailed):
        sign_in(ward.db, "ghost.user", "not the password")
    clock.advance(minutes=5)
    return ward


def test_an_admin_sees_every_row_of_the_period_with_names(shift, clock):
    rows = audit_report(
        shift.db, shift.admin, start=clock() - timedelta(hours=1), end=clock() + timedelta(1)
    ).rows
    with shift.db.reading() as session:
        stored = session.exec(
            select(AuditEvent.id).where(AuditEvent.at >= clock() - timedelta(hours=1))
        ).all()
    # Newest first; the report's own audit row is written after it is read.
    assert [row.id for row in rows] == sorted(stored, reverse=True)[1:]
    created = [row for row in rows if row.record_kind == RecordKind.check_in]
    assert len(created) == 2
    assert {row.username for row in created} == {shift.tech.username}
    assert all(row.mrn and row.ward_code == shift.ward.code for row in created)
    assert created[0].staff_name.startswith("Test technician")


def test_the_report_is_narrowed_by_user_patient_and_period(shift, clock):
    start, end = clock() - timedelta(hours=1), clock()
    db, admin = shift.db, shift.admin
    tech_rows = audit_report(db, admin, start=start, end=end, staff_id=shift.tech.staff_id).rows
    assert {row.username for row in tech_rows} == {shift.tech.username}
    assert len(tech_rows) == 2
    patient = shift.patients[0]
    about = audit_report(db, admin, start=start, end=end, patient_id=patient.id).rows
    assert {(row.action, row.username) for row in about} == {
        (AuditAction.create, shift.charge.username),  # admitted
        (AuditAction.create, shift.tech.username),
        (AuditAction.view, shift.nurse.username),
    }
    nurse_on_patient = audit_report(
        db, admin, start=start, end=end, staff_id=shift.nurse.staff_id, patient_id=patient.id
    ).rows
    assert [row.action for row in nurse_on_patient] == [AuditAction.view]
    assert audit_report(db, admin, start=start - timedelta(hours=1), end=start).rows == []


def test_the_report_is_narrowed_by_mrn_once_the_reader_may_read_it(shift, clock):
    start, end = clock() - timedelta(hours=1), clock()
    patient = shift.patients[0]
    by_mrn = audit_report(shift.db, shift.admin, start=start, end=end, mrn=f" {patient.mrn} ").rows
    by_id = audit_report(shift.db, shift.admin, start=start, end=end, patient_id=patient.id).rows
    assert [row.id for row in by_mrn] == [row.id for row in by_id] != []
    assert {row.mrn for row in by_mrn} == {patient.mrn}
    with pytest.raises(NotFound, match="No patient has MRN 'NOSUCH1'"):
        audit_report(shift.db, shift.admin, start=start, end=end, mrn="NOSUCH1")
    # Whether an MRN exists is not told to those who may not read the trail.
    for mrn in (patient.mrn, "NOSUCH1"):
        with pytest.raises(NotAllowed):
            audit_report(shift.db, shift.tech, start=start, end=end, mrn=mrn)


def test_the_report_comes_a_page_at_a_time_newest_first_with_the_total(shift, clock):
    start, end = clock() - timedelta(hours=1), clock()
    everything = audit_report(shift.db, shift.admin, start=start, end=end)
    assert everything.total == len(everything.rows) > 4 and not everything.more

    pages, before = [], None
    while True:
        page = audit_report(shift.db, shift.admin, start=start, end=end, limit=2, before_id=before)
        pages.append(page)
        if not page.more:
            break
        before = page.rows[-1].id
    # Each page's total counts the rows matching then: the pages' own audit rows are newer
    # than the period's end, so it is the same on every page.
    assert {page.total for page in pages} == {everything.total}
    assert [len(page.rows) for page in pages[:-1]] == [2] * (len(pages) - 1)
    assert [row.id for page in pages for row in page.rows] == [row.id for row in everything.rows]

    with shift.db.reading() as session:
        details = session.exec(
            select(AuditEvent.detail).where(AuditEvent.staff_id == shift.admin.staff_id)
        ).all()
    # Every page read is audited, with where it started.
    assert sum(detail.startswith("audit report") for detail in details) == 1 + len(pages)
    assert any(f"before={pages[0].rows[-1].id}: 2 of {everything.total} rows" in d for d in details)


@pytest.mark.parametrize("limit", [0, -1, 50_001])
def test_a_page_holds_1_to_50000_rows(shift, clock, limit):
    with pytest.raises(InvalidInput, match="1 to 50000 rows"):
        audit_report(
            shift.db, shift.admin, start=clock() - timedelta(hours=1), end=clock(), limit=limit
        )


def test_failed_sign_ins_under_a_name_with_no_account_are_found_by_that_name(shift, clock):
    rows = audit_report(
        shift.db,
        shift.admin,
        start=clock() - timedelta(hours=1),
        end=clock(),
        username="Ghost.User",
    ).rows
    assert [(row.action, row.username, row.staff_id) for row in rows] == [
        (AuditAction.sign_in_failed, "ghost.user", None)
    ]


def test_reading_the_report_is_audited(shift, clock):
    audit_report(shift.db, shift.admin, start=clock() - timedelta(hours=1), end=clock())
    with shift.db.reading() as session:
        last = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (last.action, last.staff_id) == (AuditAction.view, shift.admin.staff_id)
    assert last.detail.startswith("audit report")


@pytest.mark.parametrize("role", ["tech", "nurse", "charge"])
def test_only_admins_and_the_console_read_the_audit_trail(shift, clock, role):
    start = clock() - timedelta(hours=1)
    with pytest.raises(NotAllowed):
        audit_report(shift.db, getattr(shift, role), start=start, end=clock())
    assert audit_report(shift.db, CONSOLE, start=start, end=clock()).rows


def test_a_period_needs_zones_and_an_end_after_its_start(ward, clock):
    with pytest.raises(InvalidInput, match="time zone"):
        audit_report(ward.db, ward.admin, start=clock().replace(tzinfo=None), end=clock())
    with pytest.raises(InvalidInput, match="after the start"):
        audit_report(ward.db, ward.admin, start=clock(), end=clock())


def test_the_table_keeps_each_row_on_one_line(shift, clock):
    rows = audit_report(shift.db, shift.admin, start=clock() - timedelta(hours=1), end=clock()).rows
    rows[0] = rows[0].model_copy(update={"detail": "line one\nline two\x1b[31m"})
    table = format_report(rows, shift.db.clock().tzinfo)
    assert len(table.splitlines()) == len(rows) + 2
    assert "\x1b" not in table


@pytest.fixture
def console_ward(tmp_path, monkeypatch):
    """A ward in the database file the `rounds` command is configured to use."""
    from app.cli import open_database

    monkeypatch.setenv("ROUNDS_DATABASE_URL", f"sqlite:///{tmp_path}/rounds.db")
    monkeypatch.setenv("ROUNDS_SECRET_FILE", str(tmp_path / "secret.key"))
    get_settings.cache_clear()
    db = open_database(get_settings())
    ward = Ward.create(db, patients=1)
    record_check_in(db, ward.tech, check(ward.patients[0].id, db.clock()))
    sign_in(db, ward.nurse.username, PASSWORD)
    yield ward
    db.dispose()
    get_settings.cache_clear()


def test_rounds_audit_report_prints_a_table(console_ward, capsys):
    today = console_ward.db.clock().date()
    days = ["--from", str(today - timedelta(days=1)), "--to", str(today + timedelta(days=1))]
    assert main(["audit", "report", *days]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["Row", "Time", "User", "Action"]
    assert "sign_in" in out and "check_in" in out
    # Oldest first, as a terminal is read down to the latest.
    ids = [int(line.split()[0]) for line in out.splitlines()[2:-1]]
    assert len(ids) > 2 and ids == sorted(ids)

    mrn = console_ward.patients[0].mrn
    assert main(["audit", "report", *days, "--user", console_ward.tech.username]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(console_ward.tech.username in line for line in lines[2:-1])
    assert lines[-1].startswith("1 audit rows")

    assert main(["audit", "report", *days, "--patient", mrn]) == 0
    out = capsys.readouterr().out
    assert mrn in out and "sign_in" not in out

    assert main(["audit", "report", *days, "--patient", "NOSUCH"]) == 1
    assert "NOSUCH" in capsys.readouterr().err


def test_rounds_audit_report_refuses_more_rows_than_a_terminal_reads(
    console_ward, capsys, monkeypatch
):
    monkeypatch.setattr(audit_report_module, "REPORT_LIMIT", 2)
    today = console_ward.db.clock().date()
    days = ["--from", str(today - timedelta(days=1)), "--to", str(today + timedelta(days=1))]
    assert main(["audit", "report", *days]) == 1
    captured = capsys.readouterr()
    assert "More than 2 rows: choose a shorter period, a user or a patient." in captured.err
    assert captured.out == ""
