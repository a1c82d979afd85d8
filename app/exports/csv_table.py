"""The timeline as a CSV a spreadsheet opens safely."""

import csv
import io

from app.exports.record import PART2_NOTICE, PatientRecord

# A spreadsheet reads a cell starting with one of these as a formula (or, for tab and carriage
# return, strips them and then reads the rest as one): CSV injection, OWASP.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = [
    "mrn",
    "ward_time",
    "utc_time",
    "kind",
    "record_id",
    "summary",
    "details",
    "mood",
    "anxiety",
    "late",
    "missed",
    "recorded_by",
    "status",
    "correction_reason",
    "corrected_by",
    "corrected_at",
    "amends_record",
]


def neutralise(cell: object) -> str:
    """A cell as text a spreadsheet shows as text: one starting like a formula gets a quote."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def timeline_csv(record: PatientRecord) -> bytes:
    """Every timeline entry in the range, oldest first, corrected ones marked; UTF-8 with a
    byte-order mark so spreadsheets read names right. For a 42 CFR Part 2 patient the first
    line is the redisclosure notice."""
    out = io.StringIO()
    writer = csv.writer(out)
    if record.protected:
        writer.writerow([PART2_NOTICE])
    writer.writerow(COLUMNS)
    for entry in record.entries:
        correction = entry.correction
        row = [
            record.patient.mrn,
            record.local(entry.at, "%Y-%m-%d %H:%M"),
            entry.at.isoformat(),
            entry.kind.value,
            entry.id,
            entry.title,
            " | ".join(entry.detail),
            entry.mood,
            entry.anxiety,
            "yes" if entry.late else "",
            "yes" if entry.missed else "",
            entry.staff_name,
            entry.status.value,
            correction.reason if correction else "",
            correction.corrected_by if correction else "",
            record.local(correction.corrected_at, "%Y-%m-%d %H:%M") if correction else "",
            entry.amends_id,
        ]
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue().encode("utf-8-sig")
