"""indexes for reads at a year's scale: level orders by patient and time, amendments by replacement

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 04:10:00.000000

Found with bench/speed.py on a ward with a year of history. The level order in effect (rounds,
handoff, the due rule of every check saved) is the patient's latest order before a moment: with
only a patient_id index each lookup read and sorted all of the patient's orders; (patient_id,
effective_at) seeks straight to it, and still serves lookups by patient alone, so it replaces
the single-column index. A timeline page also asks which corrections replaced its records: by
(record_kind, replacement_id) that is one probe per record instead of a scan of every
correction of the kind.

Plain CREATE/DROP INDEX: nothing here needs batch mode, which on SQLite may rebuild a table and
so drop its append-only triggers (migration 0003).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_level_change_patient_effective",
        "level_change",
        ["patient_id", "effective_at"],
        unique=False,
    )
    op.drop_index("ix_level_change_patient_id", table_name="level_change")
    op.create_index(
        "ix_correction_replacement",
        "correction",
        ["record_kind", "replacement_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_correction_replacement", table_name="correction")
    op.create_index("ix_level_change_patient_id", "level_change", ["patient_id"], unique=False)
    op.drop_index("ix_level_change_patient_effective", table_name="level_change")
