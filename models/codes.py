"""The ward's coded vocabularies (CLINICAL.md). Stored as their string values."""

from datetime import timedelta
from enum import StrEnum


class Role(StrEnum):
    technician = "technician"
    nurse = "nurse"
    charge_nurse = "charge_nurse"
    admin = "admin"


class ObservationLevel(StrEnum):
    routine_q60 = "routine_q60"
    routine_q30 = "routine_q30"
    q15 = "q15"
    q5 = "q5"
    one_to_one_eyesight = "one_to_one_eyesight"
    one_to_one_arms_length = "one_to_one_arms_length"
    stopped = "stopped"

    @property
    def check_interval(self) -> timedelta | None:
        """How often a check is documented; None while observations are stopped."""
        return _CHECK_INTERVALS.get(self)

    @property
    def label(self) -> str:
        return _LEVEL_LABELS[self]


# 1:1 patients are watched continuously; the written record is still made every 15 minutes.
_CHECK_INTERVALS = {
    ObservationLevel.routine_q60: timedelta(minutes=60),
    ObservationLevel.routine_q30: timedelta(minutes=30),
    ObservationLevel.q15: timedelta(minutes=15),
    ObservationLevel.q5: timedelta(minutes=5),
    ObservationLevel.one_to_one_eyesight: timedelta(minutes=15),
    ObservationLevel.one_to_one_arms_length: timedelta(minutes=15),
}
_LEVEL_LABELS = {
    ObservationLevel.routine_q60: "Routine q60",
    ObservationLevel.routine_q30: "Routine q30",
    ObservationLevel.q15: "q15",
    ObservationLevel.q5: "q5",
    ObservationLevel.one_to_one_eyesight: "1:1 eyesight",
    ObservationLevel.one_to_one_arms_length: "1:1 arm's length",
    ObservationLevel.stopped: "Observations stopped",
}


class Precaution(StrEnum):
    suicide = "suicide"
    self_harm = "self_harm"
    fall = "fall"
    elopement = "elopement"
    assault = "assault"
    seizure = "seizure"


class Location(StrEnum):
    own_room = "own_room"
    day_room = "day_room"
    group_room = "group_room"
    dining = "dining"
    bathroom = "bathroom"
    hallway = "hallway"
    nursing_station = "nursing_station"
    off_unit_escorted = "off_unit_escorted"
    off_unit_pass = "off_unit_pass"
    seclusion_room = "seclusion_room"
    other = "other"


class Status(StrEnum):
    """What the patient is doing.

    `asleep` is recorded as "quiet, breathing observed": sleep is never assumed.
    """

    asleep = "asleep"
    awake_in_bed = "awake_in_bed"
    resting = "resting"
    watching_tv = "watching_tv"
    reading = "reading"
    talking_with_peers = "talking_with_peers"
    in_group = "in_group"
    eating = "eating"
    on_phone = "on_phone"
    pacing = "pacing"
    showering = "showering"
    off_unit = "off_unit"
    other = "other"


class Behaviour(StrEnum):
    calm = "calm"
    anxious = "anxious"
    restless = "restless"
    irritable = "irritable"
    hostile = "hostile"
    depressed = "depressed"
    withdrawn = "withdrawn"
    internal_stimuli = "internal_stimuli"
    confused = "confused"
    attention_seeking = "attention_seeking"
    resistant = "resistant"


class Affect(StrEnum):
    """Observed affect: what the technician sees, as distinct from the patient's own rating."""

    euthymic = "euthymic"
    anxious = "anxious"
    irritable = "irritable"
    depressed = "depressed"
    flat = "flat"
    labile = "labile"
    elevated = "elevated"
    hostile = "hostile"


class LateReason(StrEnum):
    """Why a check was late or missed."""

    patient_refused = "patient_refused"
    off_unit = "off_unit"
    in_seclusion = "in_seclusion"
    staff_emergency = "staff_emergency"
    patient_in_bathroom = "patient_in_bathroom"
    other = "other"


class SleepQuality(StrEnum):
    good = "good"
    fair = "fair"
    poor = "poor"


class GroupType(StrEnum):
    community_meeting = "community_meeting"
    cbt_dbt_skills = "cbt_dbt_skills"
    process_group = "process_group"
    psychoeducation = "psychoeducation"
    recreation_ot = "recreation_ot"
    twelve_step = "twelve_step"
    exercise = "exercise"
    art_music = "art_music"


class Attendance(StrEnum):
    attended = "attended"
    late_arrival = "late_arrival"
    left_early = "left_early"
    refused = "refused"
    did_not_attend = "did_not_attend"
    excused = "excused"
    cancelled = "cancelled"

    @property
    def was_present(self) -> bool:
        return self in (Attendance.attended, Attendance.late_arrival, Attendance.left_early)


class ParticipationLevel(StrEnum):
    active = "active"
    variable = "variable"
    only_responsive = "only_responsive"
    minimal = "minimal"
    withdrawn = "withdrawn"
    none = "none"

    @property
    def participated(self) -> bool:
        """Counted as participating in the participation rate."""
        return self in (
            ParticipationLevel.active,
            ParticipationLevel.variable,
            ParticipationLevel.only_responsive,
        )


class ParticipationQuality(StrEnum):
    expected = "expected"
    supportive = "supportive"
    sharing = "sharing"
    attentive = "attentive"
    intrusive = "intrusive"
    monopolizing = "monopolizing"
    resistant = "resistant"


class IncidentType(StrEnum):
    verbal_aggression = "verbal_aggression"
    physical_aggression_peer = "physical_aggression_peer"
    physical_aggression_staff = "physical_aggression_staff"
    self_harm = "self_harm"
    suicide_attempt = "suicide_attempt"
    elopement = "elopement"
    fall = "fall"
    property_damage = "property_damage"
    contraband = "contraband"
    sexually_inappropriate = "sexually_inappropriate"
    medical_emergency = "medical_emergency"
    medication_refusal = "medication_refusal"
    other = "other"


class Injury(StrEnum):
    none = "none"
    minor = "minor"
    needed_treatment = "needed_treatment"
    serious = "serious"


class Measure(StrEnum):
    """Measures taken in an incident, least restrictive first."""

    verbal_de_escalation = "verbal_de_escalation"
    prn_offered = "prn_offered"
    prn_given = "prn_given"
    time_out = "time_out"
    seclusion = "seclusion"
    physical_hold = "physical_hold"
    mechanical_restraint = "mechanical_restraint"


class RestraintKind(StrEnum):
    seclusion = "seclusion"
    physical_hold = "physical_hold"
    mechanical_restraint = "mechanical_restraint"


class TreatmentKind(StrEnum):
    medication_started = "medication_started"
    medication_stopped = "medication_stopped"
    dose_changed = "dose_changed"
    therapy_started = "therapy_started"
    therapy_stopped = "therapy_stopped"


class RecordKind(StrEnum):
    """Every kind of clinical record that appears on a timeline and can be corrected."""

    check_in = "check_in"
    sleep_report = "sleep_report"
    group_attendance = "group_attendance"
    incident = "incident"
    restraint = "restraint"
    treatment = "treatment"
    level_change = "level_change"


class CorrectionAction(StrEnum):
    void = "void"
    amend = "amend"


class AuditAction(StrEnum):
    view = "view"
    create = "create"
    amend = "amend"
    void = "void"
    export = "export"
    sign_in = "sign_in"
    sign_in_failed = "sign_in_failed"
    sign_out = "sign_out"
    lock = "lock"
    unlock = "unlock"
    unlock_failed = "unlock_failed"
    level_change = "level_change"
    account_change = "account_change"
    break_glass = "break_glass"


def values(enum: type[StrEnum]) -> list[str]:
    """The stored values of a vocabulary, for CHECK constraints."""
    return [member.value for member in enum]
