"""What the screens call things: the ward's words for codes, times and due states.

Plain functions, no Flet: screens and tests share them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from app.services.check_ins import CheckInRead
from app.services.rounds import Deadline, DueState
from models.codes import (
    Affect,
    Behaviour,
    LateReason,
    Location,
    ObservationLevel,
    Precaution,
    Status,
)

LOCATIONS: dict[Location, str] = {
    Location.own_room: "Own room",
    Location.day_room: "Day room",
    Location.group_room: "Group room",
    Location.dining: "Dining room",
    Location.bathroom: "Bathroom",
    Location.hallway: "Hallway",
    Location.nursing_station: "Nursing station",
    Location.off_unit_escorted: "Off unit, escorted",
    Location.off_unit_pass: "Off unit on pass",
    Location.seclusion_room: "Seclusion room",
    Location.other: "Other",
}

# CLINICAL.md: sleep is never assumed; the round records what was seen.
STATUSES: dict[Status, str] = {
    Status.asleep: "Quiet, breathing observed",
    Status.awake_in_bed: "Awake in bed",
    Status.resting: "Resting",
    Status.watching_tv: "Watching TV",
    Status.reading: "Reading",
    Status.talking_with_peers: "Talking with peers",
    Status.in_group: "In group",
    Status.eating: "Eating",
    Status.on_phone: "On the phone",
    Status.pacing: "Pacing",
    Status.showering: "Showering",
    Status.off_unit: "Off unit",
    Status.other: "Other",
}

BEHAVIOURS: dict[Behaviour, str] = {
    Behaviour.calm: "Calm",
    Behaviour.anxious: "Anxious",
    Behaviour.restless: "Restless",
    Behaviour.irritable: "Irritable",
    Behaviour.hostile: "Hostile",
    Behaviour.depressed: "Depressed",
    Behaviour.withdrawn: "Withdrawn",
    Behaviour.internal_stimuli: "Responding to internal stimuli",
    Behaviour.confused: "Confused",
    Behaviour.attention_seeking: "Attention-seeking",
    Behaviour.resistant: "Resistant",
}

AFFECTS: dict[Affect, str] = {
    Affect.euthymic: "Euthymic",
    Affect.anxious: "Anxious",
    Affect.irritable: "Irritable",
    Affect.depressed: "Depressed",
    Affect.flat: "Flat",
    Affect.labile: "Labile",
    Affect.elevated: "Elevated",
    Affect.hostile: "Hostile",
}

LATE_REASONS: dict[LateReason, str] = {
    LateReason.patient_refused: "Patient refused",
    LateReason.off_unit: "Off unit",
    LateReason.in_seclusion: "In seclusion",
    LateReason.staff_emergency: "Pulled to an emergency",
    LateReason.patient_in_bathroom: "In the bathroom",
    LateReason.other: "Other",
}

PRECAUTIONS: dict[Precaution, str] = {
    Precaution.suicide: "Suicide",
    Precaution.self_harm: "Self-harm",
    Precaution.fall: "Falls",
    Precaution.elopement: "Elopement",
    Precaution.assault: "Assault",
    Precaution.seizure: "Seizure",
}


def _lower_first(text: str) -> str:
    """ "Watching TV" -> "watching TV" (acronyms stay as they are)."""
    return text[:1].lower() + text[1:]


def level_label(level: ObservationLevel | None) -> str:
    """ "q15", "1:1 eyesight"; "No level" when none is ordered."""
    return level.label if level is not None else "No level"


def span(delta: timedelta) -> str:
    """A duration as a tired eye reads it: "4 min", "1 h 12 min", "2 d 3 h"."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ago(moment: datetime, now: datetime) -> str:
    """ "just now", "12 min ago", "1 h 5 min ago"."""
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{span(now - moment)} ago"


def clock_time(moment: datetime, zone: str | ZoneInfo) -> str:
    """The ward's local time of day, 24-hour: "14:02"."""
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    return f"{moment.astimezone(zone):%H:%M}"


def last_check_line(check: CheckInRead | None, now: datetime) -> str:
    """The last check at a glance: "Day room · resting · 12 min ago by Demo Tech"."""
    if check is None:
        return "No check yet"
    by = f" by {check.staff_name}" if check.staff_name else ""
    when = ago(check.observed_at, now)
    if check.missed:
        reason = LATE_REASONS.get(check.late_reason, "no reason") if check.late_reason else ""
        return f"Missed · {reason.lower()} · {when}{by}" if reason else f"Missed · {when}{by}"
    parts = []
    if check.location is not None:
        parts.append(LOCATIONS[check.location])
    if check.status is not None:
        status = STATUSES[check.status]
        parts.append(_lower_first(status) if parts else status)
    parts.append(when + by)
    return " · ".join(parts)


class Urgency(StrEnum):
    """How loudly a row asks for attention."""

    calm = "calm"
    due = "due"
    overdue = "overdue"
    stopped = "stopped"


@dataclass(frozen=True)
class DueView:
    text: str
    urgency: Urgency


def due_view(
    due_at: datetime | None, late_at: datetime | None, now: datetime, *, saved: bool = False
) -> DueView:
    """The row's due line, recomputed locally each tick so "min overdue" keeps counting."""
    if due_at is None or late_at is None:
        return DueView("Observations stopped", Urgency.stopped)
    if now < due_at:
        return DueView(f"Next check in {span(due_at - now + timedelta(seconds=59))}", Urgency.calm)
    if now <= late_at:
        return DueView("Due now", Urgency.due)
    late = now - late_at
    if late < timedelta(minutes=1):
        return DueView("Overdue", Urgency.overdue)
    return DueView(f"{span(late)} overdue", Urgency.overdue)


def due_state_urgency(state: DueState) -> Urgency:
    return {
        DueState.upcoming: Urgency.calm,
        DueState.due: Urgency.due,
        DueState.overdue: Urgency.overdue,
        DueState.not_observed: Urgency.stopped,
    }[state]


DEADLINE_NAMES = {
    "Order expires": "Order expires",
    "Face-to-face evaluation": "Face-to-face evaluation due",
    "Guardian notice": "Guardian notice due",
}


def deadline_line(deadline: Deadline, now: datetime) -> tuple[str, bool]:
    """A restraint/seclusion deadline counting down; True when it has passed."""
    what = DEADLINE_NAMES.get(deadline.what, deadline.what)
    if deadline.due_at <= now:
        return f"{what}: {span(now - deadline.due_at)} past", True
    return f"{what} in {span(deadline.due_at - now + timedelta(seconds=59))}", False


def night_label(night: bool) -> str:
    return "Night" if night else "Day"


def routine_preview(last: CheckInRead | None, night: bool) -> str:
    """What one tap on "Routine" will record, so the button never surprises.

    Mirrors `check_ins.routine_check_for`, which decides; this only describes it.
    """
    if night:
        return "Own room · quiet, breathing observed"
    if last is None or last.missed or last.status in (None, Status.asleep):
        return "Day room · resting"
    where = LOCATIONS[last.location] if last.location else "Where last seen"
    return f"{where} · {_lower_first(STATUSES[last.status])}"
