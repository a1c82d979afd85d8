import csv
import io
import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.bundle import Bundle
from PIL import Image
from sqlmodel import func, select

from app.cli import main
from app.config import get_settings
from app.exports import pdf_report
from app.exports.csv_table import COLUMNS, neutralise
from app.exports.record import PART2_NOTICE
from app.services.check_ins import record_check_in
from app.services.corrections import void_record
from app.services.errors import InvalidInput, NotAllowed
from app.services.exports import export_patient, gather
from app.services.groups import record_attendance, start_group_session
from app.services.incidents import record_incident, start_restraint, update_restraint
from app.services.levels import change_level
from app.services.sleep import record_sleep_report
from app.services.treatment import record_treatment_event
from models import AuditEvent, CheckIn, Patient, Staff
from models.codes import AuditAction, RecordKind
from tests.factories import Ward, key
from tests.services.filled_demo import console_demo, open_filled_demo

CHICAGO = ZoneInfo("America/Chicago")
RANGE = {"start": date(2026, 11, 18), "end": date(2026, 11, 20)}
INJECTIONS = ["=1+2", "+SUM(A1:A2)", "-2+3", "@SUM(A1)"]
GROUP_TITLE = '=HYPERLINK("http://example.invalid","Process")'


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CHICAGO).astimezone(UTC)


def seen(ward, patient_id, at, status="watching_tv", **fields):
    location = "own_room" if status in ("asleep", "awake_in_bed") else "day_room"
    return record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient_id,
            "observed_at": at,
            "location": location,
            "status": status,
            # Test checks are hours apart, so most are late on the q15 due rule.
            "late_reason": "other",
            "client_key": key(),
            **fields,
        },
    )


def fill(ward, patient_id):
    """Three days of a little of everything for one patient, 18-20 Nov 2026."""
    made = {"checks": []}
    for day, mood, anxiety in ((18, 3, 7), (19, 4, 6), (20, 6, 4)):
        made["checks"].append(
            seen(ward, patient_id, local(2026, 11, day, 9), mood=mood, anxiety=anxiety,
                 affect="anxious", behaviours=["anxious", "withdrawn"])
        )  # fmt: skip
    for minute, status in ((0, "asleep"), (15, "asleep"), (30, "awake_in_bed")):
        made["checks"].append(seen(ward, patient_id, local(2026, 11, 19, 2, minute), status))
    made["missed"] = record_check_in(
        ward.db,
        ward.tech,
        {
            "patient_id": patient_id,
            "observed_at": local(2026, 11, 19, 2, 45),
            "missed": True,
            "late_reason": "patient_refused",
            "client_key": key(),
        },
    )
    # On time and entered at once, so each note opens its check's details cell.
    seen(ward, patient_id, local(2026, 11, 20, 11, 45))
    for number, note in enumerate(INJECTIONS, start=1):
        seen(ward, patient_id, local(2026, 11, 20, 11, 45 + 3 * number), note=note)
    made["voided"] = seen(ward, patient_id, local(2026, 11, 20, 10, 30), note="wrong patient")
    void_record(ward.db, ward.nurse, RecordKind.check_in, made["voided"].id, "Wrong patient")
    made["sleep"] = record_sleep_report(
        ward.db,
        ward.tech,
        {
            "patient_id": patient_id,
            "night_of": date(2026, 11, 18),
            "reported_at": local(2026, 11, 19, 7, 30),
            "hours_slept": 6.5,
            "quality": "fair",
            "awakenings": 2,
            "client_key": key(),
        },
    )
    group = start_group_session(
        ward.db,
        ward.tech,
        {
            "ward_id": ward.ward.id,
            "group_type": "process_group",
            "title": GROUP_TITLE,
            "started_at": local(2026, 11, 19, 10),
            "client_key": key(),
        },
    )
    record_attendance(
        ward.db,
        ward.tech,
        {
            "session_id": group.id,
            "patient_id": patient_id,
            "attendance": "attended",
            "participation_level": "active",
            "participation_quality": "sharing",
            "client_key": key(),
        },
    )
    made["incident"] = record_incident(
        ward.db,
        ward.tech,
        {
            "patient_id": patient_id,
            "occurred_at": local(2026, 11, 19, 15),
            "incident_type": "property_damage",
            "location": "day_room",
            "behaviour": "Threw a chair",
            "moas_verbal": 2,
            "moas_property": 1,
            "measures": ["verbal_de_escalation", "time_out"],
            "client_key": key(),
        },
    )
    made["restraint"] = start_restraint(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient_id,
            "incident_id": made["incident"].id,
            "kind": "seclusion",
            "ordered_at": local(2026, 11, 19, 15, 10),
            "ordered_by": "Dr Synthetic",
            "started_at": local(2026, 11, 19, 15, 10),
            "client_key": key(),
        },
    )
    update_restraint(
        ward.db, ward.nurse, made["restraint"].id, {"ended_at": local(2026, 11, 19, 16)}
    )
    for kind, name, at in (
        ("therapy_started", "CBT", local(2026, 11, 18, 14)),
        ("dose_changed", "sertraline", local(2026, 11, 19, 9, 30)),
    ):
        record_treatment_event(
            ward.db,
            ward.nurse,
            {
                "patient_id": patient_id,
                "kind": kind,
                "effective_at": at,
                "name": name,
                "detail": "50 mg -> 100 mg" if kind == "dose_changed" else "",
                "ordered_by": "Dr Synthetic",
                "client_key": key(),
            },
        )
    change_level(
        ward.db,
        ward.nurse,
        {
            "patient_id": patient_id,
            "level": "q5",
            "effective_at": local(2026, 11, 19, 15, 15),
            "ordered_by": "Dr Synthetic",
            "reason": "Aggression toward property",
            "client_key": key(),
        },
    )
    return made


@pytest.fixture
def patient(ward, clock):
    return ward.admit(admitted_at=clock() - timedelta(days=3))


@pytest.fixture
def filled(ward, patient):
    return fill(ward, patient.id)


def exports(db) -> list[AuditEvent]:
    with db.reading() as session:
        return list(
            session.exec(select(AuditEvent).where(AuditEvent.action == AuditAction.export)).all()
        )


def read_csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_neutralise_quotes_every_formula_start_and_nothing_else():
    for text in ("=1+2", "+1", "-1", "@A1", "\tx", "\rx"):
        assert neutralise(text) == "'" + text
    assert neutralise("Calm, 1+2") == "Calm, 1+2"
    assert neutralise(None) == ""
    assert neutralise(7) == "7"


def test_csv_has_every_timeline_entry_and_neutralises_formula_cells(ward, patient, filled):
    content = export_patient(ward.db, ward.charge, patient.id, fmt="csv", **RANGE)

    rows = read_csv(content)
    assert rows[0] == COLUMNS
    body = [dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]]
    assert {row["mrn"] for row in body} == {patient.mrn}
    details = [row["details"] for row in body if row["kind"] == "check_in"]
    for text in INJECTIONS:
        assert any(cell.startswith("'" + text) for cell in details), text
    group = next(row for row in body if row["kind"] == "group_attendance")
    assert group["summary"].startswith("'" + GROUP_TITLE)
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    times = [row["utc_time"] for row in body]
    assert times == sorted(times)
    kinds = {row["kind"] for row in body}
    assert kinds == {kind.value for kind in RecordKind}
    voided = next(row for row in body if row["record_id"] == str(filled["voided"].id))
    assert (voided["status"], voided["correction_reason"]) == ("voided", "Wrong patient")
    mood = next(row for row in body if row["record_id"] == str(filled["checks"][0].id))
    assert (mood["mood"], mood["anxiety"], mood["ward_time"]) == ("3", "7", "2026-11-18 09:00")


def test_csv_of_a_substance_use_program_patient_opens_with_the_part_2_notice(ward, clock):
    protected = ward.admit(admitted_at=clock() - timedelta(days=1), substance_use_program=True)
    plain = ward.patients[0]

    first = read_csv(export_patient(ward.db, ward.charge, protected.id, fmt="csv", **RANGE))
    other = read_csv(export_patient(ward.db, ward.charge, plain.id, fmt="csv", **RANGE))

    assert first[0] == [PART2_NOTICE]
    assert first[1] == COLUMNS
    assert other[0] == COLUMNS


def test_fhir_bundle_round_trips_without_loss(ward, patient, filled):
    content = export_patient(ward.db, ward.charge, patient.id, fmt="fhir", **RANGE)

    bundle = Bundle.model_validate_json(content)
    assert bundle.model_dump_json(by_alias=True, exclude_none=True).encode() == content
    assert bundle.type == "collection"
    resources = [entry.resource for entry in bundle.entry]
    kinds = [resource.get_resource_type() for resource in resources]
    assert kinds.count("Patient") == 1
    assert kinds.count("MedicationStatement") == 1
    # The therapy, the attendance and the seclusion.
    assert kinds.count("Procedure") == 3
    urls = [entry.fullUrl for entry in bundle.entry]
    assert len(set(urls)) == len(urls)
    assert all(url.startswith("urn:uuid:") for url in urls)
    patient_url = urls[kinds.index("Patient")]
    for resource in resources[1:]:
        assert resource.subject.reference == patient_url
    assert resources[0].identifier[0].value == patient.mrn

    raw = json.loads(content)
    observations = [
        entry["resource"]
        for entry in raw["entry"]
        if entry["resource"]["resourceType"] == "Observation"
    ]

    def coded(resource, system):
        return [c["code"] for c in resource["code"]["coding"] if c["system"] == system]

    moods = [
        o["valueInteger"]
        for o in observations
        if coded(o, "urn:rounds:code:observation") == ["mood-self-rating"]
    ]
    assert sorted(moods) == [3, 4, 6]
    sleep = [o for o in observations if coded(o, "http://loinc.org") == ["93832-4"]]
    reported = next(o for o in sleep if o["method"]["coding"][0]["code"] == "self-report")
    assert reported["valueQuantity"] == {
        "value": 6.5,
        "unit": "h",
        "system": "http://unitsofmeasure.org",
        "code": "h",
    }
    assert reported["effectivePeriod"]["start"].startswith("2026-11-19T04:00:00")
    states = [
        component["valueCodeableConcept"]["coding"][0]["code"]
        for o in observations
        for component in o.get("component", [])
        if component["code"]["coding"][0]["code"] == "sleep-state"
    ]
    # Two night checks asleep, one awake; day checks say nothing about sleep.
    assert sorted(states) == ["248218005", "248220008", "248220008"]
    missed = [o for o in observations if o["status"] == "cancelled"]
    assert len(missed) == 1 and missed[0]["dataAbsentReason"]["coding"][0]["code"] == (
        "not-performed"
    )
    incident = next(o for o in observations if coded(o, "urn:rounds:code:observation") == [
        "incident"
    ])  # fmt: skip
    moas = {
        c["code"]["coding"][0]["code"]: c["valueInteger"]
        for c in incident["component"]
        if c["code"]["coding"][0]["code"].startswith("moas")
    }
    assert moas == {
        "moas-verbal": 2,
        "moas-property": 1,
        "moas-self": 0,
        "moas-physical": 0,
        "moas-total": 4,
    }
    # The voided check is not exported as if it still stood.
    identifiers = {
        o["identifier"][0]["value"]
        for o in observations
        if o["identifier"][0]["system"] == "urn:rounds:id:check-in"
    }
    assert str(filled["voided"].id) not in identifiers
    assert "meta" not in raw


def test_fhir_bundle_of_a_part_2_patient_carries_the_security_labels(ward, clock):
    protected = ward.admit(admitted_at=clock() - timedelta(days=1), substance_use_program=True)
    seen(ward, protected.id, clock() - timedelta(minutes=5), mood=5)

    content = export_patient(ward.db, ward.charge, protected.id, fmt="fhir", **RANGE)

    bundle = json.loads(content)
    codes = {label["code"] for label in bundle["meta"]["security"]}
    assert {"R", "42CFRPart2", "NODSCLCD"} <= codes
    for entry in bundle["entry"]:
        assert entry["resource"]["meta"]["security"] == bundle["meta"]["security"]


def pdf_text(content: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def page_image(content: bytes, tmp_path: Path, page: int = 1) -> Image.Image:
    """One page rendered by poppler, as a reader's printer would see it."""
    path = tmp_path / "report.pdf"
    path.write_bytes(content)
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", str(page), "-l", str(page), str(path),
         str(tmp_path / "page")],
        check=True,
    )  # fmt: skip
    (png,) = tmp_path.glob("page*.png")
    image = Image.open(png).convert("RGB")
    png.unlink()
    return image


def coloured(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 40):
    """The pixels close to a chart colour: their count and horizontal extent (share of width)."""
    xs = [
        x
        for index, pixel in enumerate(image.get_flattened_data())
        if sum(abs(a - b) for a, b in zip(pixel, colour, strict=True)) <= tolerance
        for x in (index % image.width,)
    ]
    extent = (max(xs) - min(xs)) / image.width if xs else 0.0
    return len(xs), extent


def test_pdf_holds_the_patient_the_charts_and_the_lists(ward, patient, filled, tmp_path):
    content = export_patient(ward.db, ward.charge, patient.id, fmt="pdf", **RANGE)

    assert content.startswith(b"%PDF-")
    text = pdf_text(content, tmp_path)
    assert patient.display_name in text
    assert f"MRN: {patient.mrn}" in text
    for words in ("Mood and anxiety", "Sleep:", "Groups:", "Incidents each day",
                  "Dose changed: sertraline", "property damage", "Threw a chair",
                  "Observation level: q5"):  # fmt: skip
        assert words in text, words
    assert "42 CFR Part 2" not in text
    page = page_image(content, tmp_path)
    count, extent = coloured(page, pdf_report.MOOD)
    assert count > 20 and extent > 0.5
    assert coloured(page, pdf_report.TREATMENT)[0] > 10


def test_pdf_without_ratings_draws_no_mood_line(ward, clock, tmp_path):
    quiet = ward.admit(admitted_at=clock() - timedelta(days=1))
    seen(ward, quiet.id, clock() - timedelta(minutes=5))

    page = page_image(export_patient(ward.db, ward.charge, quiet.id, fmt="pdf", **RANGE), tmp_path)

    # Only the legend's small key is in the mood colour.
    count, extent = coloured(page, pdf_report.MOOD)
    assert count < 60 and extent < 0.05


def test_pdf_of_a_part_2_patient_carries_the_notice(ward, clock, tmp_path):
    protected = ward.admit(admitted_at=clock() - timedelta(days=1), substance_use_program=True)

    text = pdf_text(
        export_patient(ward.db, ward.charge, protected.id, fmt="pdf", **RANGE), tmp_path
    )

    flat = " ".join(text.split())
    assert "protected by federal confidentiality rules (42 CFR Part 2)" in flat
    assert "written consent" in flat
    assert "Protected by 42 CFR Part 2: no redisclosure" in flat


def test_pdf_prints_any_name_with_dejavu_and_a_simplified_one_without(ward, db, clock, tmp_path):
    patient = ward.admit(
        admitted_at=clock() - timedelta(days=1), given_name="Zoë", family_name="Łukasiewicz"
    )
    with db.reading() as session:
        staff = session.get(Staff, ward.charge.staff_id)
        row = session.get(Patient, patient.id)
        record = gather(session, staff, row, now=clock(), **RANGE)

    fallback = pdf_text(pdf_report.patient_pdf(record, fonts=None), tmp_path)
    assert "Zoë ?ukasiewicz" in fallback
    if pdf_report.font_files() is None:
        pytest.skip("DejaVu Sans is not installed")
    assert "Zoë Łukasiewicz" in pdf_text(pdf_report.patient_pdf(record), tmp_path)


def test_every_export_writes_one_audit_row(ward, patient, filled):
    for fmt in ("pdf", "csv", "fhir"):
        before = len(exports(ward.db))
        export_patient(ward.db, ward.charge, patient.id, fmt=fmt, via="console", **RANGE)
        rows = exports(ward.db)
        assert len(rows) == before + 1
        last = rows[-1]
        assert (last.staff_id, last.patient_id, last.ward_id) == (
            ward.charge.staff_id,
            patient.id,
            ward.ward.id,
        )
        assert last.detail == f"{fmt} 2026-11-18..2026-11-20 via console"


def test_technicians_nurses_and_other_wards_may_not_export(ward, db, patient):
    other = Ward.create(db)
    for actor in (ward.tech, ward.nurse, ward.admin, other.charge):
        with pytest.raises(NotAllowed):
            export_patient(db, actor, patient.id, fmt="csv", **RANGE)
    assert exports(db) == []


def test_unknown_format_and_bad_ranges_are_refused(ward, patient):
    with pytest.raises(InvalidInput, match="PDF, CSV or FHIR"):
        export_patient(ward.db, ward.charge, patient.id, fmt="xlsx", **RANGE)
    with pytest.raises(InvalidInput, match="on or after"):
        export_patient(
            ward.db, ward.charge, patient.id, fmt="pdf", start=date(2026, 11, 20),
            end=date(2026, 11, 1),
        )  # fmt: skip
    assert exports(ward.db) == []


@pytest.fixture(scope="module")
def demo(tmp_path_factory, migrated_template):
    yield from open_filled_demo(tmp_path_factory, migrated_template)


MONTH = {"start": date(2026, 10, 21), "end": date(2026, 11, 20)}


@pytest.mark.slow
def test_demo_pdf_of_d0001_shows_the_improvement_on_paper(demo, tmp_path):
    content = export_patient(
        demo.db, demo.actors["charge"], demo.patient("D0001"), fmt="pdf", **MONTH
    )

    flat = " ".join(pdf_text(content, tmp_path).split())
    assert "Patient report: Avery Demoson" in flat
    assert "MRN: D0001" in flat
    assert "Dose changed: sertraline" in flat
    assert "Mood rose from" in flat and "so this is unlikely to be chance" in flat
    assert "42 CFR Part 2" not in flat
    page = page_image(content, tmp_path)
    for colour in (pdf_report.MOOD, pdf_report.ANXIETY, pdf_report.ESTIMATED):
        count, extent = coloured(page, colour)
        assert count > 50 and extent > 0.6, colour


@pytest.mark.slow
def test_demo_pdf_of_a_substance_use_program_patient_has_the_notice(demo, tmp_path):
    content = export_patient(
        demo.db, demo.actors["charge"], demo.patient("D0011"), fmt="pdf", **MONTH
    )

    flat = " ".join(pdf_text(content, tmp_path).split())
    assert "Kai Notreal" in flat
    assert "42 CFR Part 2 notice" in flat


@pytest.mark.slow
def test_demo_fhir_bundle_of_d0002_holds_every_current_check(demo):
    week = {"start": date(2026, 11, 9), "end": date(2026, 11, 15)}
    patient_id = demo.patient("D0002")

    content = export_patient(demo.db, demo.actors["charge"], patient_id, fmt="fhir", **week)

    bundle = Bundle.model_validate_json(content)
    assert bundle.model_dump_json(by_alias=True, exclude_none=True).encode() == content
    checks = [
        entry.resource
        for entry in bundle.entry
        if entry.resource.get_resource_type() == "Observation"
        and entry.resource.code.coding[0].code == "round-check"
    ]
    with demo.db.reading() as session:
        stored = session.exec(
            select(func.count())
            .select_from(CheckIn)
            .where(
                CheckIn.patient_id == patient_id,
                CheckIn.observed_at >= local(2026, 11, 9, 0),
                CheckIn.observed_at < local(2026, 11, 16, 0),
            )
        ).one()
    assert len(checks) == stored > 600


@pytest.fixture
def console(tmp_path, monkeypatch):
    db = console_demo(tmp_path, monkeypatch)
    yield db
    db.dispose()
    get_settings.cache_clear()


def test_rounds_export_writes_a_private_file_and_audits_the_console(console, tmp_path, capsys):
    out = tmp_path / "kai.csv"

    code = main(["export", "D0011", "--format", "csv", "--out", str(out), "--as", "charge"])

    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "Wrote CSV of Kai Notreal (MRN D0011)" in printed
    assert "protected by 42 CFR Part 2" in printed
    assert out.stat().st_mode & 0o777 == 0o600
    rows = read_csv(out.read_bytes())
    assert rows[0] == [PART2_NOTICE] and rows[1] == COLUMNS and len(rows) > 50
    (audit,) = exports(console)
    assert audit.detail.endswith(" via console")
    assert audit.staff_id == console_staff(console, "charge")


def test_rounds_export_never_overwrites_and_needs_the_export_permission(console, tmp_path, capsys):
    taken = tmp_path / "taken.pdf"
    taken.write_bytes(b"someone else's file")
    args = ["export", "D0001", "--format", "pdf", "--out"]

    assert main([*args, str(taken), "--as", "charge"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert taken.read_bytes() == b"someone else's file"
    assert main([*args, str(tmp_path / "new.pdf"), "--as", "tech"]) == 1
    assert "Your role does not allow this." in capsys.readouterr().err
    assert not (tmp_path / "new.pdf").exists()
    assert exports(console) == []
    week = ["--from", "2026-11-01", "--to", "2026-11-07"]
    assert main([*args, str(tmp_path / "week.pdf"), "--as", "charge", *week]) == 0
    assert exports(console)[0].detail == "pdf 2026-11-01..2026-11-07 via console"


def console_staff(db, username: str) -> int:
    with db.reading() as session:
        return session.exec(select(Staff.id).where(Staff.username == username)).one()
