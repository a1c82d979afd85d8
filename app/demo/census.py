"""The demo ward's people and plan: staff accounts, 20 invented patients and what happens to them.

Everything here is synthetic. Patient names are invented so that they read as made up; drug names
are generic names only. Times of events are given as a fraction of the history (0 = its start,
1 = now) and a ward-local time of day, so a short history keeps the same story in order.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from models.codes import (
    IncidentType,
    Injury,
    Location,
    Measure,
    ObservationLevel,
    Precaution,
    Role,
    TreatmentKind,
)

WARD_CODE = "DEMO"
WARD_NAME = "Demo Ward 4 North"
WARD_TIME_ZONE = "America/Chicago"
NIGHT_START_HOUR = 22
NIGHT_END_HOUR = 7
SHIFT_START_HOURS = [7, 15, 23]

DEMO_PIN = "246810"
PHYSICIAN = "Dr. Demo Attending"
RESIDENT = "Dr. Demo Resident"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    display_name: str
    role: Role


# Documented in the README; demo-only, like everything in this ward.
ACCOUNTS = (
    DemoAccount("tech", "demo-tech-pass", "Demo Tech", Role.technician),
    DemoAccount("nurse", "demo-nurse-pass", "Demo Nurse", Role.nurse),
    DemoAccount("charge", "demo-charge-pass", "Demo Charge Nurse", Role.charge_nurse),
    DemoAccount("admin", "demo-admin-pass", "Demo Admin", Role.admin),
)


@dataclass(frozen=True)
class At:
    """A moment in the history: a fraction of it, at a ward-local time of day."""

    fraction: float
    hour: int
    minute: int = 0


@dataclass(frozen=True)
class Course:
    """A treatment change and how the patient responds to it once it has taken effect."""

    at: At
    kind: TreatmentKind
    name: str
    detail: str
    mood: float
    anxiety: float
    sleep_hours: float
    takes_days: float
    # Added to the chance of attending a group once the change has taken effect.
    group_presence: float = 0.0
    irritable: bool = False


@dataclass(frozen=True)
class DemoPatient:
    """One invented patient and the tendencies their history is drawn from."""

    mrn: str
    given_name: str
    family_name: str
    room: str
    bed: str
    age: int
    level: ObservationLevel
    # Negative: admitted that many days before the history starts; 0-1: a fraction into it.
    admission: float
    mood: float
    anxiety: float
    sleep_hours: float
    sociable: float
    precautions: tuple[Precaution, ...] = ()
    substance_use_program: bool = False
    preferred_name: str = ""
    # Tendencies that colour checks: psychotic, irritable, confused, elevated, nightmares.
    traits: frozenset[str] = frozenset()
    course: Course | None = None


S = Precaution
L = ObservationLevel

# MRN, given and family name, room, bed, age, level on admission, admission (see DemoPatient),
# mean mood 0-10, mean anxiety 0-10, mean hours of sleep, how sociable 0-1, precautions.
CENSUS = (
    DemoPatient(
        "D0001", "Avery", "Demoson", "401", "A", 42, L.q15, -9, 3.0, 7.0, 4.5, 0.3,
        (S.suicide,),
        course=Course(
            At(0.5, 9), TreatmentKind.dose_changed, "sertraline",
            "50 mg -> 100 mg every morning: little response after three weeks",
            mood=6.5, anxiety=3.5, sleep_hours=7.0, takes_days=2,
        ),
    ),
    DemoPatient(
        "D0002", "Blake", "Sampleton", "401", "B", 35, L.q15, -6, 6.0, 4.0, 7.0, 0.7,
        (S.assault,), traits=frozenset({"irritable"}),
        course=Course(
            At(0.5, 9, 30), TreatmentKind.dose_changed, "aripiprazole",
            "10 mg -> 5 mg daily: reduced for restlessness",
            mood=2.8, anxiety=6.5, sleep_hours=4.5, takes_days=2,
            group_presence=-0.3, irritable=True,
        ),
    ),
    DemoPatient("D0003", "Casey", "Mockridge", "402", "A", 58, L.q15, -12, 4.0, 5.0, 6.0, 0.4,
                (S.suicide,)),
    DemoPatient("D0004", "Dana", "Testwell", "402", "B", 27, L.q15, -3, 5.0, 6.0, 5.5, 0.6,
                traits=frozenset({"nightmares"})),
    DemoPatient("D0005", "Emery", "Fictional", "403", "A", 49, L.q15, -20, 6.5, 3.0, 7.0, 0.8),
    DemoPatient("D0006", "Finley", "Placeholder", "403", "B", 31, L.q15, -5, 5.0, 5.0, 6.5, 0.5,
                (S.elopement,)),
    DemoPatient("D0007", "Gray", "Exampleton", "404", "A", 16, L.q15, -4, 5.0, 6.0, 7.5, 0.6,
                (S.assault,), traits=frozenset({"irritable"})),
    DemoPatient("D0008", "Harper", "Dummyworth", "404", "B", 23, L.q15, -2, 4.5, 6.5, 6.0, 0.5,
                (S.self_harm,)),
    DemoPatient("D0009", "Indigo", "Synthwood", "405", "A", 29, L.q5, -1, 3.5, 7.0, 5.5, 0.4,
                (S.suicide, S.self_harm), preferred_name="Indi",
                traits=frozenset({"nightmares"})),
    DemoPatient("D0010", "Jordan", "Madeupson", "405", "B", 38, L.q15, -15, 5.0, 5.0, 6.5, 0.3,
                traits=frozenset({"psychotic"})),
    DemoPatient("D0011", "Kai", "Notreal", "406", "A", 44, L.q15, -2, 5.5, 5.0, 6.0, 0.6,
                substance_use_program=True),
    DemoPatient("D0012", "Logan", "Pretendo", "406", "B", 61, L.q15, -8, 5.0, 4.0, 6.5, 0.4,
                (S.fall,)),
    DemoPatient("D0013", "Morgan", "Fakeley", "407", "A", 33, L.q15, -3, 5.0, 6.0, 6.0, 0.5,
                (S.elopement,), substance_use_program=True, traits=frozenset({"irritable"})),
    DemoPatient("D0014", "Noel", "Mockingham", "407", "B", 52, L.q5, 0.9, 2.5, 7.5, 4.5, 0.2,
                (S.suicide,)),
    DemoPatient("D0015", "Oakley", "Samplewood", "408", "A", 26, L.q15, -7, 6.0, 4.0, 7.0, 0.8,
                traits=frozenset({"elevated"})),
    DemoPatient("D0016", "Parker", "Democroft", "408", "B", 47, L.routine_q30, -3, 6.0, 4.5,
                6.5, 0.7, substance_use_program=True),
    DemoPatient("D0017", "Quinn", "Imaginary", "409", "A", 21, L.q15, 0.55, 4.0, 6.5, 6.0, 0.5,
                (S.self_harm,)),
    DemoPatient("D0018", "Reese", "Testington", "409", "B", 74, L.q15, -10, 5.0, 4.0, 6.0, 0.3,
                (S.fall, S.seizure), traits=frozenset({"confused"})),
    DemoPatient("D0019", "Sage", "Inventa", "410", "A", 39, L.q15, 0.3, 5.5, 5.5, 6.5, 0.6,
                substance_use_program=True),
    DemoPatient("D0020", "Tatum", "Fauxley", "410", "B", 56, L.q15, -14, 5.0, 5.0, 7.0, 0.5,
                traits=frozenset({"psychotic"})),
)  # fmt: skip

# The rounds screen should not show everyone neatly on time: one patient is a few minutes
# overdue and one is due now when the history ends.
OVERDUE_AT_END = "D0012"
DUE_AT_END = "D0006"


@dataclass(frozen=True)
class LevelOrder:
    """A level change that is planned, not provoked by an incident."""

    mrn: str
    at: At
    level: ObservationLevel
    reason: str


LEVEL_ORDERS = (
    LevelOrder("D0009", At(0.1, 10), L.q15, "No self-harm urges reported for 72 h; step down"),
    LevelOrder("D0011", At(0.2, 11), L.routine_q30, "Withdrawal complete, engaged in program"),
    LevelOrder("D0005", At(0.33, 10), L.routine_q60, "Stable, preparing for discharge"),
)


@dataclass(frozen=True)
class DemoIncident:
    """An incident, with the level orders and restraint episode it led to."""

    mrn: str
    at: At
    incident_type: IncidentType
    location: Location
    antecedent: str
    behaviour: str
    target: str = ""
    means: str = ""
    injury: Injury = Injury.none
    measures: tuple[Measure, ...] = (Measure.verbal_de_escalation,)
    alternatives_tried: str = ""
    notified: str = "Charge nurse"
    debrief: str = ""
    follow_up: str = ""
    moas: tuple[int, int, int, int] = (0, 0, 0, 0)  # verbal, property, self, physical
    # Level orders that follow, each this long after the incident.
    levels_after: tuple[tuple[timedelta, ObservationLevel, str], ...] = ()
    seclusion_minutes: int = 0
    # How the patient seems around the incident: behaviours and observed affect.
    behaviours: tuple[str, ...] = ("anxious",)
    affect: str = "anxious"


INCIDENTS = (
    DemoIncident(
        "D0013", At(0.13, 17, 50), IncidentType.elopement, Location.hallway,
        antecedent="Visitor leaving through the unit door",
        behaviour="Followed the visitor to the door and tried to leave; returned when asked",
        notified="Charge nurse; attending physician",
        follow_up="Elopement precaution reviewed at next team meeting",
        moas=(1, 0, 0, 0),
        behaviours=("anxious", "restless"), affect="anxious",
    ),
    DemoIncident(
        "D0018", At(0.27, 6, 20), IncidentType.fall, Location.bathroom,
        antecedent="Got up to use the bathroom without calling for help",
        behaviour="Found sitting on the bathroom floor, alert, says they slipped",
        injury=Injury.minor, measures=(),
        notified="Charge nurse; attending physician; family",
        follow_up="Non-slip socks; bed alarm at night; physio review",
        behaviours=("confused",), affect="anxious",
    ),
    DemoIncident(
        "D0007", At(0.4, 15, 40), IncidentType.physical_aggression_peer, Location.day_room,
        antecedent="Argument with a peer over the TV remote",
        behaviour="Shouted threats, then pushed the peer twice; did not respond to redirection",
        target="Peer", means="Hands",
        measures=(Measure.verbal_de_escalation, Measure.prn_offered, Measure.seclusion),
        alternatives_tried="Verbal de-escalation, offered quiet room, PRN offered and declined",
        notified="Charge nurse; attending physician; guardian",
        debrief="Debrief with patient and peer next morning; both agreed to a TV schedule",
        follow_up="Behaviour plan updated; q5 overnight",
        moas=(3, 0, 0, 2),
        levels_after=(
            (timedelta(minutes=5), L.q5, "Secluded after aggression toward a peer"),
            (timedelta(hours=18), L.q15, "Calm overnight, no further aggression"),
        ),
        seclusion_minutes=50,
        behaviours=("hostile", "restless"), affect="hostile",
    ),
    DemoIncident(
        "D0002", At(0.63, 19, 10), IncidentType.verbal_aggression, Location.hallway,
        antecedent="Told the phone was not available during medication pass",
        behaviour="Shouted and swore at staff, slammed a door",
        target="Staff",
        follow_up="Discussed with the attending; dose change under review",
        moas=(2, 1, 0, 0),
        behaviours=("irritable", "hostile"), affect="irritable",
    ),
    DemoIncident(
        "D0009", At(0.67, 2, 30), IncidentType.self_harm, Location.own_room,
        antecedent="Woke from a nightmare",
        behaviour="Hit fists against the wall; knuckles grazed",
        means="Wall", injury=Injury.minor,
        measures=(Measure.verbal_de_escalation, Measure.prn_given),
        notified="Charge nurse; on-call physician",
        follow_up="Wound care; 1:1 within eyesight until reviewed",
        moas=(0, 0, 2, 0),
        levels_after=((timedelta(minutes=20), L.one_to_one_eyesight, "Self-harm overnight"),),
        behaviours=("anxious", "depressed"), affect="labile",
    ),
    DemoIncident(
        "D0002", At(0.83, 11, 10), IncidentType.property_damage, Location.day_room,
        antecedent="Refused morning group; asked to turn the TV down",
        behaviour="Threw a chair against the wall and cursed at staff",
        target="Property", means="Chair",
        measures=(Measure.verbal_de_escalation, Measure.prn_offered, Measure.time_out),
        alternatives_tried="Verbal de-escalation, time out in own room",
        notified="Charge nurse; attending physician",
        follow_up="Attending to review the aripiprazole reduction",
        moas=(2, 2, 0, 0),
        levels_after=((timedelta(minutes=30), L.q5, "Aggression toward property"),),
        behaviours=("hostile", "irritable"), affect="hostile",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class DemoTreatment:
    """A treatment event; `at` is a moment in the history, or a time after admission."""

    mrn: str
    at: At | timedelta
    kind: TreatmentKind
    name: str
    detail: str
    ordered_by: str = PHYSICIAN


TREATMENTS = (
    DemoTreatment("D0001", timedelta(hours=20), TreatmentKind.medication_started, "sertraline",
                  "50 mg every morning"),
    DemoTreatment("D0002", timedelta(hours=20), TreatmentKind.medication_started, "aripiprazole",
                  "10 mg daily"),
    DemoTreatment("D0010", timedelta(hours=22), TreatmentKind.medication_started, "risperidone",
                  "2 mg at bedtime"),
    DemoTreatment("D0011", At(0.05, 9), TreatmentKind.medication_started, "naltrexone",
                  "50 mg daily", RESIDENT),
    DemoTreatment("D0004", At(0.15, 21), TreatmentKind.medication_started, "mirtazapine",
                  "15 mg at bedtime"),
    DemoTreatment("D0003", At(0.25, 13), TreatmentKind.therapy_started, "CBT",
                  "Individual CBT for depression, twice weekly"),
    DemoTreatment("D0009", At(0.7, 11), TreatmentKind.therapy_started, "DBT skills",
                  "Individual DBT skills coaching, three times a week"),
    DemoTreatment("D0014", timedelta(hours=19), TreatmentKind.medication_started, "escitalopram",
                  "10 mg every morning"),
)  # fmt: skip


@dataclass(frozen=True)
class GroupPlan:
    """The ward's group timetable: one morning and one afternoon group, by weekday."""

    morning_hour: int = 10
    afternoon_hour: int = 14
    minutes: int = 50
    # Monday first; the morning and afternoon group of a day are of different types.
    morning: tuple[str, ...] = (
        "community_meeting",
        "cbt_dbt_skills",
        "psychoeducation",
        "process_group",
        "cbt_dbt_skills",
        "community_meeting",
        "psychoeducation",
    )
    afternoon: tuple[str, ...] = (
        "recreation_ot",
        "art_music",
        "twelve_step",
        "exercise",
        "art_music",
        "recreation_ot",
        "twelve_step",
    )
    titles: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            "community_meeting": ("Community meeting",),
            "cbt_dbt_skills": (
                "DBT skills: distress tolerance",
                "DBT skills: emotion regulation",
                "CBT: thought records",
            ),
            "psychoeducation": (
                "Psychoeducation: sleep hygiene",
                "Psychoeducation: medications",
                "Psychoeducation: coping plans",
            ),
            "process_group": ("Process group",),
            "recreation_ot": ("Recreation: board games", "OT: life skills"),
            "art_music": ("Art group", "Music group"),
            "twelve_step": ("12-step meeting",),
            "exercise": ("Walking group", "Stretch and movement"),
        }
    )
    # One afternoon group is cancelled, so the vocabulary's `cancelled` shows somewhere.
    cancelled: At = At(0.37, 14)


GROUPS = GroupPlan()
