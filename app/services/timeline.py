"""A patient's timeline: every kind of record, newest first, one page at a time.

Corrected records stay on the timeline, marked, so a reader sees the whole record.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel
from sqlalchemy import String, and_, bindparam, literal_column, or_, union_all
from sqlalchemy import select as sa_select
from sqlmodel import Session, select
from sqlmodel.sql.sqltypes import UTCDateTime

from app.services.access import Actor, Permission, authorize_patient
from app.services.audit import write_audit_alone
from app.services.errors import InvalidInput
from app.storage.database import Database
from app.storage.driver import GENERIC_PLANS
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


@lru_cache(maxsize=256)
def _page_statement(
    kinds: tuple[RecordKind, ...],
    windowed: tuple[bool, bool],
    after_kind: RecordKind | None,
    limit: int,
):
    """One UNION ALL over (kind, id, at) for a page's shape: built once, then reused, since
    building the seven branches cost more than running them."""
    # SQLite refuses ORDER BY/LIMIT directly inside a compound member, so each is a subquery.
    branches = [
        sa_select(sub.c.kind, sub.c.id, sub.c.at).select_from(sub)
        for sub in (_branch(kind, windowed, after_kind, limit).subquery() for kind in kinds)
    ]
    merged = union_all(*branches).subquery()
    return (
        sa_select(merged.c.kind, merged.c.id, merged.c.at)
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
) -> list[tuple[RecordKind, int, datetime]]:
    """The page's positions in order, plus one to spare."""
    statement = _page_statement(
        tuple(kinds), (start is not None, end is not None), after[1] if after else None, limit
    )
    values: dict[str, object] = {"patient_id": patient_id}
    if start is not None:
        values["start"] = start
    if end is not None:
        values["end"] = end
    if after is not None:
        values["after_at"], values["after_id"] = after[0], after[2]
    # On the session's connection: a Core statement gains nothing from the ORM's execution.
    rows = session.connection().execute(statement, values).all()
    return [(RecordKind(kind), record_id, _aware(at)) for kind, record_id, at in rows]


def _aware(moment: datetime) -> datetime:
    # A column out of a UNION can lose its UTC type on the way back.
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)


class _Describe:
    """Turns rows of each kind into entries, with times in the ward's zone."""

    def __init__(self, ward: Ward, staff_names: dict[int, str]) -> None:
        self.zone = ward.zone
        self.staff_names = staff_names

    def local(self, moment: datetime | None, *, with_day: bool = False) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(self.zone)
        return f"{local:%a %d %b %H:%M}" if with_day else f"{local:%H:%M}"

    def entry(self, kind: RecordKind, row, at: datetime, **fields) -> TimelineEntry:
        return TimelineEntry(
            kind=kind,
            id=row.id,
            at=at,
            staff_name=self.staff_names.get(row.recorded_by, ""),
            **fields,
        )

    def check_in(self, row: CheckIn) -> TimelineEntry:
        detail = []
        if row.missed:
            title = f"Missed check · {words(row.late_reason)}"
        else:
            parts = [_sentence(words(row.location)), words(row.status)]
            if row.behaviours:
                parts.append(", ".join(words(code) for code in row.behaviours))
            title = " · ".join(parts)
            if row.late:
                detail.append(f"Late: {words(row.late_reason)}")
        if row.affect:
            detail.append(f"Affect: {words(row.affect)}")
        rated = []
        if row.mood is not None:
            rated.append(f"mood {row.mood}/10")
        if row.anxiety is not None:
            rated.append(f"anxiety {row.anxiety}/10")
        if rated:
            detail.append(_sentence(" · ".join(rated)))
        if row.note:
            detail.append(row.note)
        if (row.recorded_at - row.observed_at).total_seconds() > 300:
            detail.append(f"Entered {self.local(row.recorded_at, with_day=True)}")
        return self.entry(
            RecordKind.check_in,
            row,
            row.observed_at,
            title=title,
            detail=detail,
            mood=row.mood,
            anxiety=row.anxiety,
            late=row.late,
            missed=row.missed,
        )

    def sleep_report(self, row: SleepReport) -> TimelineEntry:
        hours = f"{row.hours_slept:g} h"
        detail = [f"Night of {row.night_of:%a %d %b}"]
        if row.awakenings:
            detail.append(f"Woke {row.awakenings} time{'s' if row.awakenings != 1 else ''}")
        if row.nightmares:
            detail.append("Nightmares")
        if row.note:
            detail.append(row.note)
        return self.entry(
            RecordKind.sleep_report,
            row,
            row.reported_at,
            title=f"Sleep report · {hours} · {row.quality}",
            detail=detail,
        )

    def group_attendance(self, row: GroupAttendance, group: GroupSession) -> TimelineEntry:
        parts = [_sentence(group_name(group.group_type, group.title)), words(row.attendance)]
        if row.participation_level:
            parts.append(f"{words(row.participation_level)} participation")
        detail = []
        if group.title:
            detail.append(_sentence(group_name(group.group_type)))
        if row.participation_quality:
            detail.append(f"Participation: {words(row.participation_quality)}")
        if row.note:
            detail.append(row.note)
        return self.entry(
            RecordKind.group_attendance,
            row,
            group.started_at,
            title=" · ".join(parts),
            detail=detail,
        )

    def incident(self, row: Incident) -> TimelineEntry:
        detail = [f"Location: {words(row.location)}", f"Injury: {words(row.injury)}"]
        if row.moas_total:
            detail.append(
                f"MOAS verbal {row.moas_verbal}, property {row.moas_property}, "
                f"self {row.moas_self}, physical {row.moas_physical}"
            )
        if row.measures:
            detail.append("Measures: " + ", ".join(words(code) for code in row.measures))
        for label, text in (
            ("Antecedent", row.antecedent),
            ("Behaviour", row.behaviour),
            ("Means", row.means),
            ("Target", row.target),
            ("Alternatives tried", row.alternatives_tried),
            ("Staff involved", row.staff_involved),
            ("Notified", row.notified),
            ("Debrief", row.debrief),
            ("Follow-up", row.follow_up),
        ):
            if text:
                detail.append(f"{label}: {text}")
        return self.entry(
            RecordKind.incident,
            row,
            row.occurred_at,
            title=f"Incident · {words(row.incident_type)} · MOAS {row.moas_total}",
            detail=detail,
        )

    def restraint(self, row: RestraintEpisode) -> TimelineEntry:
        state = f"ended {self.local(row.ended_at)}" if row.ended_at else "ongoing"
        detail = [
            f"Ordered {self.local(row.ordered_at, with_day=True)} by {row.ordered_by}",
            f"Order expires {self.local(row.order_expires_at, with_day=True)}",
            "Face-to-face evaluation "
            + (
                f"done {self.local(row.face_to_face_at)}"
                if row.face_to_face_at
                else f"due {self.local(row.face_to_face_due_at)}"
            ),
            "Guardian "
            + (
                f"notified {self.local(row.guardian_notified_at, with_day=True)}"
                if row.guardian_notified_at
                else f"notice due {self.local(row.guardian_notice_due_at, with_day=True)}"
            ),
        ]
        if row.release_criteria:
            detail.append(f"Release criteria: {row.release_criteria}")
        if row.debrief:
            detail.append(f"Debrief: {row.debrief}")
        return self.entry(
            RecordKind.restraint,
            row,
            row.started_at,
            title=f"{_sentence(words(row.kind))} · {state}",
            detail=detail,
        )

    def treatment(self, row: TreatmentEvent) -> TimelineEntry:
        detail = [row.detail] if row.detail else []
        if row.ordered_by:
            detail.append(f"Ordered by {row.ordered_by}")
        return self.entry(
            RecordKind.treatment,
            row,
            row.effective_at,
            title=f"{_sentence(words(row.kind))} · {row.name}",
            detail=detail,
        )

    def level_change(self, row: LevelChange) -> TimelineEntry:
        return self.entry(
            RecordKind.level_change,
            row,
            row.effective_at,
            title=f"Level: {ObservationLevel(row.level).label}",
            detail=[row.reason, f"Ordered by {row.ordered_by}"],
        )


def _entries(
    session: Session, ward: Ward, positions: list[tuple[RecordKind, int, datetime]]
) -> list[TimelineEntry]:
    """The page's rows, fetched by id per kind, described and marked with their corrections."""
    ids: dict[RecordKind, list[int]] = {}
    for kind, record_id, _ in positions:
        ids.setdefault(kind, []).append(record_id)
    rows: dict[tuple[RecordKind, int], tuple] = {}
    staff_names: dict[int, str] = {}
    for kind, kind_ids in ids.items():
        if kind == RecordKind.group_attendance:
            found = session.exec(
                select(GroupAttendance, GroupSession)
                .join(GroupSession, GroupSession.id == GroupAttendance.session_id)
                .where(GroupAttendance.id.in_(kind_ids))
            ).all()
            rows.update({(kind, row.id): (row, group) for row, group in found})
            continue
        # Plain rows, not ORM objects, with the writer's name joined: a page is read-only,
        # and loading it into the session took longer than the queries.
        table = _ID_COLUMNS[kind].class_.__table__
        for row in session.connection().execute(
            sa_select(table, Staff.display_name.label("staff_name"))
            .outerjoin(Staff, Staff.id == table.c.recorded_by)
            .where(table.c.id.in_(kind_ids))
        ):
            rows[(kind, row.id)] = (row,)
            staff_names[row.recorded_by] = row.staff_name or ""

    corrections = _corrections(session, ids)
    for correction in corrections:
        staff_names[correction.corrected_by] = correction.corrector or ""
    unnamed = {found[0].recorded_by for found in rows.values()} - staff_names.keys()
    if unnamed:
        staff_names.update(
            session.connection()
            .execute(sa_select(Staff.id, Staff.display_name).where(Staff.id.in_(unnamed)))
            .all()
        )
    describe = _Describe(ward, staff_names)
    corrected = {(RecordKind(c.record_kind), c.record_id): c for c in corrections}
    amends = {
        (RecordKind(c.record_kind), c.replacement_id): c.record_id
        for c in corrections
        if c.replacement_id is not None
    }

    entries = []
    for kind, record_id, _ in positions:
        entry = getattr(describe, kind.value)(*rows[(kind, record_id)])
        correction = corrected.get((kind, record_id))
        if correction is not None:
            entry.status = (
                EntryStatus.voided
                if correction.action == CorrectionAction.void
                else EntryStatus.amended
            )
            entry.correction = CorrectionInfo(
                action=correction.action,
                reason=correction.reason,
                corrected_by=staff_names.get(correction.corrected_by, ""),
                corrected_at=correction.corrected_at,
                replacement_id=correction.replacement_id,
            )
        entry.amends_id = amends.get((kind, record_id))
        entries.append(entry)
    return entries


@lru_cache(maxsize=128)
def _corrections_statement(kinds: tuple[RecordKind, ...]):
    """Corrections of a page's records and those they replace, for the kinds on the page."""
    table = Correction.__table__
    ids = {kind: bindparam(f"ids_{kind.value}", expanding=True) for kind in kinds}
    of_page = or_(
        *(
            and_(table.c.record_kind == kind.value, table.c.record_id.in_(ids[kind]))
            for kind in kinds
        )
    )
    replaced_by_page = or_(
        *(
            and_(table.c.record_kind == kind.value, table.c.replacement_id.in_(ids[kind]))
            for kind in kinds
        )
    )
    return (
        sa_select(table, Staff.display_name.label("corrector"))
        .outerjoin(Staff, Staff.id == table.c.corrected_by)
        .where(or_(of_page, replaced_by_page))
    )


def _corrections(session: Session, ids: dict[RecordKind, list[int]]) -> list:
    """Corrections of the page's records, and the amendments the page's records replace,
    with the name of who corrected them (`corrector`)."""
    if not ids:
        return []
    kinds = tuple(sorted(ids, key=lambda kind: kind.value))
    values = {f"ids_{kind.value}": ids[kind] for kind in kinds}
    return list(session.connection().execute(_corrections_statement(kinds), values).all())


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
        if db.dialect == "postgresql":
            session.connection().exec_driver_sql(GENERIC_PLANS)
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
    last = positions[-1] if more else None
    return TimelinePage(
        patient_id=patient.id,
        entries=entries,
        next_cursor=encode_cursor(last[2], last[0], last[1]) if last else None,
    )
