"""The kinds of clinical record, their tables, and which rows are current (not corrected)."""

from sqlalchemy import exists, not_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import select

from models import (
    CheckIn,
    Correction,
    GroupAttendance,
    Incident,
    LevelChange,
    RestraintEpisode,
    SleepReport,
    TreatmentEvent,
)
from models.codes import RecordKind

TABLES: dict[RecordKind, type] = {
    RecordKind.check_in: CheckIn,
    RecordKind.sleep_report: SleepReport,
    RecordKind.group_attendance: GroupAttendance,
    RecordKind.incident: Incident,
    RecordKind.restraint: RestraintEpisode,
    RecordKind.treatment: TreatmentEvent,
    RecordKind.level_change: LevelChange,
}
KINDS: dict[type, RecordKind] = {table: kind for kind, table in TABLES.items()}


def current(table: type) -> ColumnElement[bool]:
    """Rows of `table` that no correction has voided or replaced."""
    return not_(
        exists(
            select(Correction.id).where(
                Correction.record_kind == KINDS[table].value, Correction.record_id == table.id
            )
        )
    )
