"""Filling an empty database with the demo ward: accounts through the services, history in bulk."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, insert
from sqlmodel import Session, select

from app.demo.census import (
    ACCOUNTS,
    CENSUS,
    DEMO_PIN,
    NIGHT_END_HOUR,
    NIGHT_START_HOUR,
    SHIFT_START_HOURS,
    WARD_CODE,
    WARD_NAME,
    WARD_TIME_ZONE,
)
from app.demo.history import DemoHistory
from app.services.accounts import CONSOLE, create_staff, issue_pin
from app.services.audit import write_audit
from app.services.errors import Conflict
from app.services.ward_time import day_bounds, local_date
from app.services.wards import create_ward
from app.storage.database import Database
from models import (
    CheckIn,
    GroupAttendance,
    Patient,
    SleepReport,
    Staff,
    Ward,
)
from models.codes import AuditAction

DEFAULT_SEED = 20261126


class DemoRefused(Conflict):
    """The database holds something other than the demo ward: the demo never mixes with it."""


class DemoAlreadyLoaded(DemoRefused):
    """The database already holds the demo ward."""


@dataclass(frozen=True)
class DemoSummary:
    """What the demo ward was filled with, and how to sign in to it."""

    ward_code: str
    ward_name: str
    days: int
    started_at: datetime
    ended_at: datetime
    patients: int
    checks: int
    sleep_reports: int
    group_sessions: int
    attendances: int
    incidents: int
    restraint_episodes: int
    treatment_events: int
    level_changes: int

    def lines(self) -> list[str]:
        """The summary as the `rounds demo` command prints it, credentials included."""
        lines = [
            f"Filled {self.ward_name} ({self.ward_code}, {WARD_TIME_ZONE}) with {self.days} days "
            "of synthetic history:",
            f"  {self.patients} patients (MRNs D0001-D{self.patients:04d}), "
            f"{self.checks:,} round checks, {self.sleep_reports:,} sleep reports,",
            f"  {self.group_sessions} group sessions ({self.attendances:,} attendances), "
            f"{self.incidents} incidents ({self.restraint_episodes} with seclusion),",
            f"  {self.treatment_events} treatment events, {self.level_changes} level orders.",
            "Demo accounts (username, password, role):",
        ]
        lines += [
            f"  {account.username:<8} {account.password:<18} {account.role.value.replace('_', ' ')}"
            for account in ACCOUNTS
        ]
        lines += [
            f"  PIN for every demo account: {DEMO_PIN}",
            "WARNING: demo only. These credentials are public: never use this database, its",
            "accounts or its ward for real patients.",
        ]
        return lines


def fill_demo_ward(
    db: Database, *, today: date | None = None, days: int = 30, seed: int = DEFAULT_SEED
) -> DemoSummary:
    """Fill an empty database with the synthetic demo ward and `days` of history up to now.

    The history ends at the clock's now, or at the end of `today` (the ward's date) when that is
    earlier. The same seed, `today` and clock give the same ward. Refuses (DemoRefused) a
    database holding anything else, and one already holding the demo ward (DemoAlreadyLoaded).
    """
    if days < 1:
        raise ValueError("The demo history needs at least one day.")
    now = db.clock()
    ward_clock = Ward(code=WARD_CODE, name=WARD_NAME, time_zone=WARD_TIME_ZONE)
    clock_day = local_date(ward_clock, now)
    today = today or clock_day
    if today > clock_day:
        raise ValueError(f"{today} is after the clock's date ({clock_day}) on the demo ward.")
    end = now if today == clock_day else day_bounds(ward_clock, today)[1]
    with db.reading() as session:
        _refuse_unless_empty(session)

    ward = create_ward(
        db,
        CONSOLE,
        {
            "code": WARD_CODE,
            "name": WARD_NAME,
            "time_zone": WARD_TIME_ZONE,
            "night_start_hour": NIGHT_START_HOUR,
            "night_end_hour": NIGHT_END_HOUR,
            "shift_start_hours": SHIFT_START_HOURS,
        },
    )
    staff = {}
    for account in ACCOUNTS:
        created = create_staff(
            db,
            CONSOLE,
            {
                "username": account.username,
                "display_name": account.display_name,
                "role": account.role,
                "password": account.password,
                "ward_ids": [ward.id],
            },
        )
        issue_pin(db, CONSOLE, created.id, pin=DEMO_PIN)
        staff[account.role] = created.id

    with db.writing() as session:
        ward_row = session.get(Ward, ward.id)
        history = DemoHistory(
            ward_row,
            start=end - timedelta(days=days),
            end=end,
            days=days,
            today=today,
            seed=seed,
            staff=staff,
        )
        summary = _write_history(session, history)
        write_audit(
            session,
            key=db.keys.audit,
            at=now,
            action=AuditAction.create,
            staff_id=None,
            username="console",
            ward_id=ward.id,
            detail="demo ward loaded",
        )
    return summary


def _refuse_unless_empty(session: Session) -> None:
    wards = set(session.exec(select(Ward.code)).all())
    usernames = set(session.exec(select(Staff.username)).all())
    if not wards and not usernames:
        return
    demo_usernames = {account.username for account in ACCOUNTS}
    if wards == {WARD_CODE} and usernames <= demo_usernames:
        patients = session.exec(select(func.count()).select_from(Patient)).one()
        if patients:
            raise DemoAlreadyLoaded(
                f"This database already holds the demo ward ({WARD_NAME}); it was left as it is."
            )
        raise DemoRefused(
            "This database holds a half-made demo ward (an earlier fill stopped part way). "
            "Start again with a new, empty database."
        )
    raise DemoRefused(
        "This database already holds other wards or accounts. The demo ward only fills an "
        "empty database, so demo data never mixes with real records; use a new database."
    )


def _write_history(session: Session, history: DemoHistory) -> DemoSummary:
    """Insert the whole history in the caller's transaction: small tables as models, the large
    ones as bulk inserts, patient by patient to keep memory flat."""
    sessions = history.group_sessions()
    session.add_all(sessions)
    session.flush()
    group_ids = [group.id for group in sessions]
    counts = dict.fromkeys(
        (
            "checks",
            "sleep_reports",
            "attendances",
            "incidents",
            "restraint_episodes",
            "treatment_events",
            "level_changes",
        ),
        0,
    )
    for demo in CENSUS:
        patient = history.patient(demo)
        session.add(patient)
        session.flush()
        records = history.records(demo, patient, group_ids)
        session.add_all(records.level_changes)
        session.add_all(records.treatments)
        for incident, restraint in records.incidents:
            session.add(incident)
            session.flush()
            if restraint is not None:
                restraint.incident_id = incident.id
                session.add(restraint)
                counts["restraint_episodes"] += 1
        for table, rows in (
            (CheckIn, records.checks),
            (SleepReport, records.sleep_reports),
            (GroupAttendance, records.attendances),
        ):
            _insert_many(session, table, rows)
        session.flush()
        counts["checks"] += len(records.checks)
        counts["sleep_reports"] += len(records.sleep_reports)
        counts["attendances"] += len(records.attendances)
        counts["incidents"] += len(records.incidents)
        counts["treatment_events"] += len(records.treatments)
        counts["level_changes"] += len(records.level_changes)
    window = history.window
    return DemoSummary(
        ward_code=WARD_CODE,
        ward_name=WARD_NAME,
        days=window.days,
        started_at=window.start,
        ended_at=window.end,
        patients=len(CENSUS),
        group_sessions=len(sessions),
        **counts,
    )


def _insert_many(session: Session, table: type, rows: list[dict]) -> None:
    """One executemany per table and patient. NULLs are rendered: otherwise the ORM splits the
    rows by which columns hold a value, into thousands of small statements."""
    if rows:
        session.exec(insert(table).execution_options(render_nulls=True), params=rows)
