"""A patient's timeline: every kind of record, newest first, one page at a time.

Corrected records stay on the timeline, marked, so a reader sees the whole record.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial

from pydantic import BaseModel
from sqlalchemy import String, and_, bindparam, literal_column, or_, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

from app.services.access import Actor, Permission, authorize_patient
from app.services.audit import write_audit_alone
from app.services.errors import InvalidInput
from app.storage.database import Database
from app.storage.driver import DriverRead, compiled_once, padded
from models import (
    CheckIn,
    Correction,
    GroupAttendance,
    GroupSession,
    Incident,
    LevelChange,
    RestraintEpisode,
    SleepReport,
    Staff,
    TreatmentEvent,
    Ward,
)
from models.codes import AuditAction, CorrectionAction, ObservationLevel, RecordKind

MAX_PAGE = 200

# Codes whose ward wording is not just the code with spaces (as app/ui/labels.py words them).
_WORDS = {
    "asleep": "quiet, breathing observed",
    "watching_tv": "watching TV",
    "on_phone": "on the phone",
    "dining": "dining room",
    "awake_in_bed": "awake in bed",
    "off_unit_escorted": "off unit, escorted",
    "off_unit_pass": "off unit on pass",
    "internal_stimuli": "responding to internal stimuli",
    "attention_seeking": "attention-seeking",
    "patient_in_bathroom": "in the bathroom",
    "staff_emergency": "pulled to an emergency",
    "cbt_dbt_skills": "CBT/DBT skills",
    "recreation_ot": "recreation/OT",
    "twelve_step": "12-step meeting",
    "art_music": "art/music",
    "late_arrival": "arrived late",
    "did_not_attend": "did not attend",
    "only_responsive": "only responsive",
    "physical_aggression_peer": "physical aggression (peer)",
    "physical_aggression_staff": "physical aggression (staff)",
    "suicide_attempt": "suicide attempt or gesture",
    "elopement": "elopement / AWOL",
    "sexually_inappropriate": "sexually inappropriate behaviour",
    "needed_treatment": "needed treatment",
    "verbal_de_escalation": "verbal de-escalation",
    "prn_offered": "PRN offered",
    "prn_given": "PRN given",
    "time_out": "time-out",
    "mechanical_restraint": "mechanical restraint",
    "physical_hold": "physical hold",
}

# What a group is called on the ward, e.g. in "refused CBT/DBT skills group".
_GROUP_NAMES = {
    "community_meeting": "community meeting",
    "twelve_step": "12-step meeting",
    "psychoeducation": "psychoeducation group",
    "process_group": "process group",
}


def words(code: str | StrEnum | None) -> str:
    """A stored code as the ward says it, e.g. "watching_tv" -> "watching TV"."""
    if code is None:
        return ""
    code = str(code)
    return _WORDS.get(code, code.replace("_", " "))


def group_name(group_type: str, title: str = "") -> str:
    """A group session's name: its title when it has one, else its type ("process group")."""
    if title:
        return title
    return _GROUP_NAMES.get(group_type, f"{words(group_type)} group")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class EntryStatus(StrEnum):
    current = "current"
    voided = "voided"
    amended = "amended"


class CorrectionInfo(BaseModel):
    """Why, by whom and when a record was voided or amended."""

    action: CorrectionAction
    reason: str
    corrected_by: str
    corrected_at: datetime
    # The record that replaced an amended one (same kind).
    replacement_id: int | None = None


# Entries and pages are plain dataclasses, built from stored rows that were validated when they
# were written: fifty to a page, and validating each again cost as much as reading them.
@dataclass(slots=True)
class TimelineEntry:
    kind: RecordKind
    id: int
    at: datetime
    title: str
    detail: list[str]
    staff_name: str
    mood: int | None = None
    anxiety: int | None = None
    late: bool = False
    missed: bool = False
    status: EntryStatus = EntryStatus.current
    correction: CorrectionInfo | None = None
    # Set on a replacement: the id of the record it amends ("amends #id").
    amends_id: int | None = None

    @property
    def amends(self) -> str:
        return f"amends #{self.amends_id}" if self.amends_id is not None else ""


@dataclass(slots=True)
class TimelinePage:
    patient_id: int
    entries: list[TimelineEntry]
    # Pass back to get the next (older) page; None on the last page.
    next_cursor: str | None


# The time each kind sits on the timeline at.
_TIME_COLUMNS = {
    RecordKind.check_in: CheckIn.observed_at,
    RecordKind.sleep_report: SleepReport.reported_at,
    RecordKind.group_attendance: GroupSession.started_at,
    RecordKind.incident: Incident.occurred_at,
    RecordKind.restraint: RestraintEpisode.started_at,
    RecordKind.treatment: TreatmentEvent.effective_at,
    RecordKind.level_change: LevelChange.effective_at,
}
_ID_COLUMNS = {
    RecordKind.check_in: CheckIn.id,
    RecordKind.sleep_report: SleepReport.id,
    RecordKind.group_attendance: GroupAttendance.id,
    RecordKind.incident: Incident.id,
    RecordKind.restraint: RestraintEpisode.id,
    RecordKind.treatment: TreatmentEvent.id,
    RecordKind.level_change: LevelChange.id,
}
_PATIENT_COLUMNS = {
    RecordKind.check_in: CheckIn.patient_id,
    RecordKind.sleep_report: SleepReport.patient_id,
    RecordKind.group_attendance: GroupAttendance.patient_id,
    RecordKind.incident: Incident.patient_id,
    RecordKind.restraint: RestraintEpisode.patient_id,
    RecordKind.treatment: TreatmentEvent.patient_id,
    RecordKind.level_change: LevelChange.patient_id,
}

_BAD_CURSOR = "This page of the timeline is out of date. Reload the timeline."


def encode_cursor(at: datetime, kind: RecordKind, record_id: int) -> str:
    """An opaque position on a timeline: just after the entry (at, kind, id)."""
    raw = json.dumps([at.astimezone(UTC).isoformat(), kind.value, record_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, RecordKind, int]:
    """The (at, kind, id) a cursor stands for; InvalidInput for anything not made here."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, kind, record_id = json.loads(raw)
        at = datetime.fromisoformat(at)
        if at.utcoffset() is None or not isinstance(record_id, int):
            raise ValueError
        return at.astimezone(UTC), RecordKind(kind), record_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput([_BAD_CURSOR]) from None


def _branch(
    kind: RecordKind, windowed: tuple[bool, bool], after_kind: RecordKind | None, limit: int
):
    """One kind's newest `limit` positions before the cursor, from its (patient, time) index.

    The page order is (at desc, kind asc, id desc); with the kind fixed per branch the cursor
    condition reduces to a plain range on the time column, so each branch is an index seek.
    Values are bound at execution (`_page_positions`), so the statement is built once per shape.
    """
    at = _TIME_COLUMNS[kind]
    record_id = _ID_COLUMNS[kind]
    query = sa_select(
        literal_column(f"'{kind.value}'", String).label("kind"),
        record_id.label("id"),
        at.label("at"),
    ).where(_PATIENT_COLUMNS[kind] == bindparam("patient_id"))
    if kind == RecordKind.group_attendance:
        query = query.join(GroupSession, GroupSession.id == GroupAttendance.session_id)
    has_start, has_end = windowed
    if has_start:
        query = query.where(at >= bindparam("start", type_=UTCDateTime()))
    if has_end:
        query = query.where(at < bindparam("end", type_=UTCDateTime()))
    if after_kind is not None:
        after_at = bindparam("after_at", type_=UTCDateTime())
        if kind.value < after_kind.value:
            # At the cursor's time, kinds sorting before the cursor's were on earlier pages.
            query = query.where(at < after_at)
        elif kind.value > after_kind.value:
            query = query.where(at <= after_at)
        else:
            # The plain `at <=` lets the index seek to the cursor instead of filtering up to it.
            query = query.where(
                at <= after_at,
                or_(at < after_at, and_(at == after_at, record_id < bindparam("after_id"))),
            )
    return query.order_by(at.desc(), record_id.desc()).limit(limit)


def _page_statement(
    kinds: tuple[RecordKind, ...],
    windowed: tuple[bool, bool],
    after_kind: RecordKind | None,
    limit: int,
):
    """One UNION ALL over (kind, id, at) for a page's shape (compiled once per shape)."""
    # SQLite refuses ORDER BY/LIMIT directly inside a compound member, so each is a subquery.
    branches = [
        sa_select(sub.c.kind, sub.c.id, sub.c.at).select_from(sub)
        for sub in (_branch(kind, windowed, after_kind, limit).subquery() for kind in kinds)
    ]
    merged = union_all(*branches).subquery()
    # Only (kind, id): each entry's time comes with its record.
    return (
        sa_select(merged.c.kind, merged.c.id)
        .order_by(merged.c.at.desc(), merged.c.kind, merged.c.id.desc())
        .limit(limit)
    )


def _page_positions(
    session: Session,
    patient_id: int,
    kinds: list[RecordKind],
    start: datetime | None,
    end: datetime | None,
    after: tuple[datetime, RecordKind, int] | None,
    limit: int,
) -> list[tuple[RecordKind, int]]:
    """The page's (kind, id) in order, plus one to spare."""
    shape = (tuple(kinds), (start is not None, end is not None), after[1] if after else None, limit)
    read = DriverRead(session)
    statement = compiled_once(
        read.dialect, ("timeline page", *shape), lambda: _page_statement(*shape)
    )
    values: dict[str, object] = {"patient_id": patient_id}
    if start is not None:
        values["start"] = start
    if end is not None:
        values["end"] = end
    if after is not None:
        values["after_at"], values["after_id"] = after[0], after[2]
    with read.together():
        rows = read.rows(statement, read.send(statement, values))
    return [(_KINDS[row["kind"]], row["id"]) for row in rows]


_KINDS = {kind.value: kind for kind in RecordKind}

# Columns no one reads on a timeline: how a save was made idempotent.
_UNREAD = {"client_key", "request_hash"}


def _records_statement(kind: RecordKind, places: int):
    """A kind's records by id (`places` of them), each with who wrote it, its correction if it
    has one (and who made it), and the record it amends if it is a replacement."""
    table = _ID_COLUMNS[kind].class_.__table__
    writer = aliased(Staff)
    corrector = aliased(Staff)
    correction = aliased(Correction)
    amended = aliased(Correction)
    columns = [column for column in table.c if column.name not in _UNREAD]
    query = sa_select(
        *columns,
        writer.display_name.label("staff_name"),
        correction.action.label("correction_action"),
        correction.reason.label("correction_reason"),
        correction.corrected_at.label("corrected_at"),
        correction.replacement_id.label("replacement_id"),
        corrector.display_name.label("corrector"),
        amended.record_id.label("amends_id"),
    )
    if kind == RecordKind.group_attendance:
        query = query.add_columns(
            GroupSession.group_type, GroupSession.title, GroupSession.started_at
        ).join(GroupSession, GroupSession.id == table.c.session_id)
    return (
        query.outerjoin(writer, writer.id == table.c.recorded_by)
        .outerjoin(
            correction,
            and_(correction.record_kind == kind.value, correction.record_id == table.c.id),
        )
        .outerjoin(corrector, corrector.id == correction.corrected_by)
        .outerjoin(
            amended, and_(amended.record_kind == kind.value, amended.replacement_id == table.c.id)
        )
        .where(table.c.id.in_([bindparam(f"id_{place}") for place in range(places)]))
    )


class _Describe:
    """Turns records of each kind (as `_records_statement` reads them) into entries, with
    times in the ward's zone."""

    def __init__(self, ward: Ward) -> None:
        self.zone = ward.zone

    def local(self, moment: datetime | None, *, with_day: bool = False) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(self.zone)
        return f"{local:%a %d %b %H:%M}" if with_day else f"{local:%H:%M}"

    @staticmethod
    def entry(kind: RecordKind, row: dict, at: datetime, title: str, detail: list[str]):
        entry = TimelineEntry(
            kind=kind,
            id=row["id"],
            at=at,
            title=title,
            detail=detail,
            staff_name=row["staff_name"] or "",
            amends_id=row["amends_id"],
        )
        action = row["correction_action"]
        if action is not None:
            entry.status = (
                EntryStatus.voided if action == CorrectionAction.void else EntryStatus.amended
            )
            entry.correction = CorrectionInfo(
                action=action,
                reason=row["correction_reason"],
                corrected_by=row["corrector"] or "",
                corrected_at=row["corrected_at"],
                replacement_id=row["replacement_id"],
            )
        return entry

    def check_in(self, row: dict) -> TimelineEntry:
        detail = []
        if row["missed"]:
            title = f"Missed check · {words(row['late_reason'])}"
        else:
            parts = [_sentence(words(row["location"])), words(row["status"])]
            if row["behaviours"]:
                parts.append(", ".join(words(code) for code in row["behaviours"]))
            title = " · ".join(parts)
            if row["late"]:
                detail.append(f"Late: {words(row['late_reason'])}")
        if row["affect"]:
            detail.append(f"Affect: {words(row['affect'])}")
        mood, anxiety = row["mood"], row["anxiety"]
        if mood is not None and anxiety is not None:
            detail.append(f"Mood {mood}/10 · anxiety {anxiety}/10")
        elif mood is not None:
            detail.append(f"Mood {mood}/10")
        elif anxiety is not None:
            detail.append(f"Anxiety {anxiety}/10")
        if row["note"]:
            detail.append(row["note"])
        observed_at = row["observed_at"]
        if (row["recorded_at"] - observed_at).total_seconds() > 300:
            detail.append(f"Entered {self.local(row['recorded_at'], with_day=True)}")
        entry = self.entry(RecordKind.check_in, row, observed_at, title, detail)
        entry.mood, entry.anxiety = mood, anxiety
        entry.late, entry.missed = row["late"], row["missed"]
        return entry

    def sleep_report(self, row: dict) -> TimelineEntry:
        hours = f"{row['hours_slept']:g} h"
        detail = [f"Night of {row['night_of']:%a %d %b}"]
        if row["awakenings"]:
            awakenings = row["awakenings"]
            detail.append(f"Woke {awakenings} time{'s' if awakenings != 1 else ''}")
        if row["nightmares"]:
            detail.append("Nightmares")
        if row["note"]:
            detail.append(row["note"])
        title = f"Sleep report · {hours} · {row['quality']}"
        return self.entry(RecordKind.sleep_report, row, row["reported_at"], title, detail)

    def group_attendance(self, row: dict) -> TimelineEntry:
        group_type, group_title = row["group_type"], row["title"]
        parts = [_sentence(group_name(group_type, group_title)), words(row["attendance"])]
        if row["participation_level"]:
            parts.append(f"{words(row['participation_level'])} participation")
        detail = []
        if group_title:
            detail.append(_sentence(group_name(group_type)))
        if row["participation_quality"]:
            detail.append(f"Participation: {words(row['participation_quality'])}")
        if row["note"]:
            detail.append(row["note"])
        title = " · ".join(parts)
        return self.entry(RecordKind.group_attendance, row, row["started_at"], title, detail)

    def incident(self, row: dict) -> TimelineEntry:
        detail = [f"Location: {words(row['location'])}", f"Injury: {words(row['injury'])}"]
        if row["moas_total"]:
            detail.append(
                f"MOAS verbal {row['moas_verbal']}, property {row['moas_property']}, "
                f"self {row['moas_self']}, physical {row['moas_physical']}"
            )
        if row["measures"]:
            detail.append("Measures: " + ", ".join(words(code) for code in row["measures"]))
        for label, column in (
            ("Antecedent", "antecedent"),
            ("Behaviour", "behaviour"),
            ("Means", "means"),
            ("Target", "target"),
            ("Alternatives tried", "alternatives_tried"),
            ("Staff involved", "staff_involved"),
            ("Notified", "notified"),
            ("Debrief", "debrief"),
            ("Follow-up", "follow_up"),
        ):
            if row[column]:
                detail.append(f"{label}: {row[column]}")
        title = f"Incident · {words(row['incident_type'])} · MOAS {row['moas_total']}"
        return self.entry(RecordKind.incident, row, row["occurred_at"], title, detail)

    def restraint(self, row: dict) -> TimelineEntry:
        state = f"ended {self.local(row['ended_at'])}" if row["ended_at"] else "ongoing"
        detail = [
            f"Ordered {self.local(row['ordered_at'], with_day=True)} by {row['ordered_by']}",
            f"Order expires {self.local(row['order_expires_at'], with_day=True)}",
            "Face-to-face evaluation "
            + (
                f"done {self.local(row['face_to_face_at'])}"
                if row["face_to_face_at"]
                else f"due {self.local(row['face_to_face_due_at'])}"
            ),
            "Guardian "
            + (
                f"notified {self.local(row['guardian_notified_at'], with_day=True)}"
                if row["guardian_notified_at"]
                else f"notice due {self.local(row['guardian_notice_due_at'], with_day=True)}"
            ),
        ]
        if row["release_criteria"]:
            detail.append(f"Release criteria: {row['release_criteria']}")
        if row["debrief"]:
            detail.append(f"Debrief: {row['debrief']}")
        title = f"{_sentence(words(row['kind']))} · {state}"
        return self.entry(RecordKind.restraint, row, row["started_at"], title, detail)

    def treatment(self, row: dict) -> TimelineEntry:
        detail = [row["detail"]] if row["detail"] else []
        if row["ordered_by"]:
            detail.append(f"Ordered by {row['ordered_by']}")
        title = f"{_sentence(words(row['kind']))} · {row['name']}"
        return self.entry(RecordKind.treatment, row, row["effective_at"], title, detail)

    def level_change(self, row: dict) -> TimelineEntry:
        title = f"Level: {ObservationLevel(row['level']).label}"
        detail = [row["reason"], f"Ordered by {row['ordered_by']}"]
        return self.entry(RecordKind.level_change, row, row["effective_at"], title, detail)


def _entries(
    session: Session, ward: Ward, positions: list[tuple[RecordKind, int]]
) -> list[TimelineEntry]:
    """The page's records, fetched by id per kind, described and marked with their corrections."""
    ids: dict[RecordKind, list[int]] = {}
    for kind, record_id in positions:
        ids.setdefault(kind, []).append(record_id)
    read = DriverRead(session)
    sent = []
    with read.together():
        for kind, kind_ids in ids.items():
            places = padded(kind_ids)
            statement = compiled_once(
                read.dialect,
                ("timeline records", kind, len(places)),
                partial(_records_statement, kind, len(places)),
            )
            values = {f"id_{place}": record_id for place, record_id in enumerate(places)}
            sent.append((kind, statement, read.send(statement, values)))
        rows = {
            (kind, row["id"]): row
            for kind, statement, cursor in sent
            for row in read.rows(statement, cursor)
        }
    describe = _Describe(ward)
    return [getattr(describe, kind.value)(rows[(kind, record_id)]) for kind, record_id in positions]


def _check_window(start: datetime | None, end: datetime | None) -> None:
    problems = []
    for name, moment in (("Start", start), ("End", end)):
        if moment is not None and moment.utcoffset() is None:
            problems.append(f"{name} must include a time zone.")
    if not problems and start is not None and end is not None and end <= start:
        problems.append("The end must be after the start.")
    if problems:
        raise InvalidInput(problems)


def timeline_for(
    db: Database,
    actor: Actor,
    patient_id: int,
    *,
    kinds: set[RecordKind] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> TimelinePage:
    """One page of a patient's timeline, newest first, corrected records included and marked.

    `start` is inclusive and `end` exclusive; `cursor` is the previous page's `next_cursor`.
    The read is audited: it runs on a read snapshot, then one short write adds the audit row,
    and nothing is returned unless that row was written.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput([f"A page holds 1 to {MAX_PAGE} entries."])
    _check_window(start, end)
    after = decode_cursor(cursor) if cursor else None
    chosen = sorted(RecordKind if kinds is None else kinds, key=lambda kind: kind.value)
    with db.reading() as session:
        staff, patient = authorize_patient(
            session,
            actor,
            Permission.view_timeline,
            patient_id,
            allow_discharged=True,
            now=db.clock(),
        )
        ward = session.get(Ward, patient.ward_id)
        positions = (
            _page_positions(session, patient.id, chosen, start, end, after, limit + 1)
            if chosen
            else []
        )
        more = len(positions) > limit
        positions = positions[:limit]
        entries = _entries(session, ward, positions)
    write_audit_alone(
        db,
        at=db.clock(),
        action=AuditAction.view,
        staff_id=staff.id,
        ward_id=patient.ward_id,
        patient_id=patient.id,
        detail="timeline",
    )
    last = entries[-1] if more else None
    return TimelinePage(
        patient_id=patient.id,
        entries=entries,
        next_cursor=encode_cursor(last.at, last.kind, last.id) if last else None,
    )
