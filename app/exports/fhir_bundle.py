"""The record as a FHIR R4 Bundle (type collection), built with the `fhir.resources` R4B models.

Standard codes only where they are certain: LOINC 93832-4 (sleep duration), SNOMED CT 248220008
(asleep) and 248218005 (awake), UCUM hours, HL7 observation categories and security labels.
Everything else is coded in the ward's own vocabularies under `urn:rounds:code:<vocabulary>`,
with the ward's words as display, so nothing recorded is lost on the way.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure

from app.exports.record import AttendanceRow, NightEstimate, PatientRecord
from app.services.check_ins import CheckInRead
from app.services.incidents import IncidentRead, RestraintRead
from app.services.levels import LevelRead
from app.services.sleep import SleepReportRead
from app.services.timeline import words
from app.services.treatment import TreatmentRead
from models.codes import Attendance, Status, TreatmentKind

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
LOCAL = "urn:rounds:code:"
IDS = "urn:rounds:id:"

SLEEP_DURATION = {"system": LOINC, "code": "93832-4", "display": "Sleep duration"}
ASLEEP = {"system": SNOMED, "code": "248220008", "display": "Asleep"}
AWAKE = {"system": SNOMED, "code": "248218005", "display": "Awake"}
# Restricted, under 42 CFR Part 2, substance abuse information, no disclosure without consent.
PART2_LABELS = [
    {"system": CONFIDENTIALITY, "code": "R", "display": "restricted"},
    {"system": ACT_CODE, "code": "42CFRPart2", "display": "42 CFR Part2"},
    {"system": ACT_CODE, "code": "ETH", "display": "substance abuse information sensitivity"},
    {"system": ACT_CODE, "code": "NODSCLCD", "display": "no disclosure without consent directive"},
]
# Made in a namespace of our own so the same record always gets the same id.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:rounds")


def local(vocabulary: str, code: str | StrEnum, display: str | None = None) -> dict[str, Any]:
    """A coding in one of the ward's vocabularies, e.g. urn:rounds:code:location#day_room."""
    code = str(code)
    return {"system": LOCAL + vocabulary, "code": code, "display": display or words(code)}


def concept(*codings: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of these codings."""
    result: dict[str, Any] = {"coding": list(codings)}
    if text:
        result["text"] = text
    return result


def component(name: str, **value: Any) -> dict[str, Any]:
    """An Observation component coded in the ward's `component` vocabulary."""
    return {"code": concept(local("component", name)), **value}


def _instant(moment: datetime) -> str:
    return moment.isoformat()


class _Builder:
    def __init__(self, record: PatientRecord) -> None:
        self.record = record
        self.mrn = record.patient.mrn
        self.entries: list[dict[str, Any]] = []
        self.patient_url = self.url("patient", record.patient.id)
        self.security = PART2_LABELS if record.protected else None

    def url(self, kind: str, key: object) -> str:
        return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{self.mrn}/{kind}/{key}')}"

    def add(self, model: type, kind: str, key: object, resource: dict[str, Any]) -> str:
        url = self.url(kind, key)
        resource = {"id": url.removeprefix("urn:uuid:"), **resource}
        if self.security:
            resource["meta"] = {"security": self.security}
        self.entries.append({"fullUrl": url, "resource": model(**resource)})
        return url

    @property
    def subject(self) -> dict[str, str]:
        return {"reference": self.patient_url, "display": self.record.patient.display_name}

    def identifier(self, kind: str, key: object) -> list[dict[str, str]]:
        return [{"system": IDS + kind, "value": str(key)}]

    def patient(self) -> None:
        patient = self.record.patient
        names = [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}]
        if patient.preferred_name:
            names.append(
                {"use": "usual", "family": patient.family_name, "given": [patient.preferred_name]}
            )
        self.add(
            Patient,
            "patient",
            patient.id,
            {
                "identifier": [
                    {"use": "usual", "system": IDS + "mrn", "value": patient.mrn},
                ],
                "active": patient.discharged_at is None,
                "name": names,
                "birthDate": patient.birth_date,
            },
        )

    def check_in(self, row: CheckInRead) -> None:
        components = []
        if row.missed:
            value = {
                "dataAbsentReason": concept(
                    {"system": ABSENT, "code": "not-performed", "display": "Not Performed"}
                )
            }
        else:
            value = {"valueCodeableConcept": concept(local("status", row.status))}
            # Asleep or awake is what a night check is for; by day it would say nothing.
            if self.record.at_night(row.observed_at):
                state = ASLEEP if row.status == Status.asleep else AWAKE
                components.append(component("sleep-state", valueCodeableConcept=concept(state)))
            components.append(
                component("location", valueCodeableConcept=concept(local("location", row.location)))
            )
        components += [
            component("behaviour", valueCodeableConcept=concept(local("behaviour", code)))
            for code in row.behaviours
        ]
        if row.affect:
            components.append(
                component("affect", valueCodeableConcept=concept(local("affect", row.affect)))
            )
        if row.late:
            components.append(component("late", valueBoolean=True))
        if row.late_reason and (row.late or row.missed):
            components.append(
                component(
                    "late-reason",
                    valueCodeableConcept=concept(local("late-reason", row.late_reason)),
                )
            )
        resource = {
            "status": "cancelled" if row.missed else "final",
            "identifier": self.identifier("check-in", row.id),
            "code": concept(local("observation", "round-check", "Round check")),
            "subject": self.subject,
            "effectiveDateTime": _instant(row.observed_at),
            "issued": _instant(row.recorded_at),
            "performer": [{"display": row.staff_name}] if row.staff_name else None,
            **value,
            "component": components or None,
            "note": [{"text": row.note}] if row.note else None,
        }
        self.add(Observation, "check-in", row.id, _present(resource))
        for name, score in (("mood", row.mood), ("anxiety", row.anxiety)):
            if score is None:
                continue
            self.add(
                Observation,
                f"{name}-rating",
                row.id,
                {
                    "status": "final",
                    "identifier": self.identifier("check-in", row.id),
                    "category": [concept({"system": CATEGORY, "code": "survey"})],
                    "code": concept(
                        local("observation", f"{name}-self-rating", f"Self-rated {name} (0-10)")
                    ),
                    "subject": self.subject,
                    "effectiveDateTime": _instant(row.observed_at),
                    "valueInteger": score,
                },
            )

    def sleep_report(self, row: SleepReportRead) -> None:
        start, end = self.record.night_windows[row.night_of]
        components = [
            component(
                "sleep-quality", valueCodeableConcept=concept(local("sleep-quality", row.quality))
            ),
            component("awakenings", valueInteger=row.awakenings),
            component("nightmares", valueBoolean=row.nightmares),
        ]
        self.add(
            Observation,
            "sleep-report",
            row.id,
            _present(
                {
                    "status": "final",
                    "identifier": self.identifier("sleep-report", row.id),
                    "code": concept(SLEEP_DURATION),
                    "method": concept(local("sleep-method", "self-report", "patient's own report")),
                    "subject": self.subject,
                    "effectivePeriod": {"start": _instant(start), "end": _instant(end)},
                    "issued": _instant(row.reported_at),
                    "valueQuantity": _hours(row.hours_slept),
                    "component": components,
                    "note": [{"text": row.note}] if row.note else None,
                }
            ),
        )

    def sleep_estimate(self, night: NightEstimate) -> None:
        self.add(
            Observation,
            "sleep-estimate",
            night.night_of.isoformat(),
            {
                "status": "final",
                "identifier": self.identifier("sleep-estimate", night.night_of.isoformat()),
                "code": concept(SLEEP_DURATION),
                "method": concept(
                    local("sleep-method", "estimated-from-checks", "estimated from night checks")
                ),
                "subject": self.subject,
                "effectivePeriod": {"start": _instant(night.start), "end": _instant(night.end)},
                "valueQuantity": _hours(night.hours),
                "component": [
                    component("night-checks", valueInteger=night.checks),
                    component("night-checks-asleep", valueInteger=night.asleep),
                ],
            },
        )

    def incident(self, row: IncidentRead) -> str:
        components = [
            component("location", valueCodeableConcept=concept(local("location", row.location))),
            component("injury", valueCodeableConcept=concept(local("injury", row.injury))),
        ]
        components += [
            component("measure", valueCodeableConcept=concept(local("measure", code)))
            for code in row.measures
        ]
        for name in ("verbal", "property", "self", "physical", "total"):
            components.append(component(f"moas-{name}", valueInteger=getattr(row, f"moas_{name}")))
        notes = [
            {"text": f"{label}: {text}"}
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
            )
            if text
        ]
        return self.add(
            Observation,
            "incident",
            row.id,
            _present(
                {
                    "status": "final",
                    "identifier": self.identifier("incident", row.id),
                    "code": concept(local("observation", "incident", "Incident")),
                    "subject": self.subject,
                    "effectiveDateTime": _instant(row.occurred_at),
                    "issued": _instant(row.recorded_at),
                    "valueCodeableConcept": concept(local("incident-type", row.incident_type)),
                    "component": components,
                    "note": notes or None,
                }
            ),
        )

    def restraint(self, row: RestraintRead, incidents: dict[int, str]) -> None:
        period = {"start": _instant(row.started_at)}
        if row.ended_at:
            period["end"] = _instant(row.ended_at)
        notes = [f"Ordered {_instant(row.ordered_at)} by {row.ordered_by}"]
        if row.face_to_face_at:
            notes.append(f"Face-to-face evaluation {_instant(row.face_to_face_at)}")
        if row.guardian_notified_at:
            notes.append(f"Guardian notified {_instant(row.guardian_notified_at)}")
        if row.release_criteria:
            notes.append(f"Release criteria: {row.release_criteria}")
        if row.debrief:
            notes.append(f"Debrief: {row.debrief}")
        reason = incidents.get(row.incident_id) if row.incident_id else None
        self.add(
            Procedure,
            "restraint",
            row.id,
            _present(
                {
                    "status": "completed" if row.ended_at else "in-progress",
                    "identifier": self.identifier("restraint", row.id),
                    "code": concept(local("restraint-kind", row.kind)),
                    "subject": self.subject,
                    "performedPeriod": period,
                    "reasonReference": [{"reference": reason}] if reason else None,
                    "note": [{"text": text} for text in notes],
                }
            ),
        )

    def treatment(self, row: TreatmentRead) -> None:
        kind = concept(local("treatment-kind", row.kind))
        notes = [{"text": f"Ordered by {row.ordered_by}"}] if row.ordered_by else None
        common = {"identifier": self.identifier("treatment", row.id), "subject": self.subject}
        if row.kind in (TreatmentKind.therapy_started, TreatmentKind.therapy_stopped):
            started = row.kind == TreatmentKind.therapy_started
            resource = {
                **common,
                "status": "in-progress" if started else "stopped",
                "statusReason": kind,
                "code": {"text": row.name},
                "performedDateTime": _instant(row.effective_at),
                "note": ([{"text": row.detail}] if row.detail else []) + (notes or []) or None,
            }
            self.add(Procedure, "treatment", row.id, _present(resource))
            return
        stopped = row.kind == TreatmentKind.medication_stopped
        resource = {
            **common,
            "status": "stopped" if stopped else "active",
            "statusReason": [kind],
            "medicationCodeableConcept": {"text": row.name},
            "effectiveDateTime": _instant(row.effective_at),
            "dateAsserted": _instant(row.recorded_at),
            "dosage": [{"text": row.detail}] if row.detail else None,
            "note": notes,
        }
        self.add(MedicationStatement, "treatment", row.id, _present(resource))

    def attendance(self, row: AttendanceRow) -> None:
        read = row.attendance
        present = Attendance(read.attendance).was_present
        notes = []
        if read.participation_quality:
            notes.append(f"Participation: {words(read.participation_quality)}")
        if read.note:
            notes.append(read.note)
        resource = {
            "status": "completed" if present else "not-done",
            "statusReason": concept(local("attendance", read.attendance)),
            "identifier": self.identifier("group-attendance", read.id),
            "category": concept(local("group-type", row.group_type)),
            "code": {"text": row.group},
            "subject": self.subject,
            "performedDateTime": _instant(row.started_at),
            "outcome": (
                concept(local("participation-level", read.participation_level))
                if read.participation_level
                else None
            ),
            "note": [{"text": text} for text in notes] or None,
        }
        self.add(Procedure, "group-attendance", read.id, _present(resource))

    def level(self, row: LevelRead) -> None:
        self.add(
            Observation,
            "level-change",
            row.id,
            {
                "status": "final",
                "identifier": self.identifier("level-change", row.id),
                "code": concept(local("observation", "observation-level", "Observation level")),
                "subject": self.subject,
                "effectiveDateTime": _instant(row.effective_at),
                "valueCodeableConcept": concept(
                    local("observation-level", row.level, row.level.label)
                ),
                "note": [{"text": f"{row.reason} (ordered by {row.ordered_by})"}],
            },
        )


def _hours(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "h", "system": UCUM, "code": "h"}


def _present(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without empty elements, which FHIR does not allow."""
    return {key: value for key, value in resource.items() if value not in (None, [], {})}


def patient_bundle(record: PatientRecord) -> Bundle:
    """The patient, their checks, ratings, sleep, groups, incidents, restraint, treatment and
    level changes in the range, as one collection Bundle with stable urn:uuid ids."""
    builder = _Builder(record)
    builder.patient()
    for row in record.check_ins:
        builder.check_in(row)
    for row in record.sleep_reports:
        builder.sleep_report(row)
    for night in record.nights:
        builder.sleep_estimate(night)
    for row in record.attendances:
        builder.attendance(row)
    incidents = {row.id: builder.incident(row) for row in record.incidents}
    for row in record.restraints:
        builder.restraint(row, incidents)
    for row in record.treatments:
        builder.treatment(row)
    for row in record.levels:
        builder.level(row)
    bundle: dict[str, Any] = {
        "type": "collection",
        "identifier": {
            "system": IDS + "export",
            "value": str(
                uuid.uuid5(NAMESPACE, f"{record.patient.mrn}/export/{record.generated_at}")
            ),
        },
        "timestamp": _instant(record.generated_at),
        "entry": builder.entries,
    }
    if builder.security:
        bundle["meta"] = {"security": builder.security}
    return Bundle(**bundle)


def bundle_json(record: PatientRecord) -> bytes:
    """The Bundle as FHIR JSON (UTF-8)."""
    return patient_bundle(record).model_dump_json(by_alias=True, exclude_none=True).encode()
