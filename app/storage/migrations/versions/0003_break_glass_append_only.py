"""break-glass grants; clinical records and the audit trail made append-only in the database

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 00:40:43.177603

The table is generated; the triggers are written by hand. They refuse UPDATE and DELETE on the
audit trail, the clinical records, corrections and break-glass grants, whatever client connects:
the services never change or delete these rows, so only tampering or a bug is stopped.

The one update allowed: a restraint/seclusion episode's later facts (face_to_face_at,
guardian_notified_at, ended_at: NULL -> a time; debrief: '' -> text) are each filled once,
and nothing else in the row changes. The audit chain head is updated by every audit write,
so it stays updatable; it may not be deleted.

Not covered: TRUNCATE and DROP TABLE (PostgreSQL row triggers do not fire on TRUNCATE; the
application's database role should not own the tables nor hold TRUNCATE). On SQLite a later
migration that rebuilds one of these tables (batch mode) drops its triggers with the old
table and must create them again: tests/storage/test_append_only.py names any that are missing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose rows are never updated nor deleted (restraint_episode has its own update rule).
APPEND_ONLY = [
    "audit_event",
    "break_glass_grant",
    "check_in",
    "correction",
    "group_attendance",
    "group_session",
    "incident",
    "level_change",
    "sleep_report",
    "treatment_event",
]
# Restraint episode columns that are filled once after the start, and their empty value.
FILL_ONCE = {
    "face_to_face_at": "NULL",
    "guardian_notified_at": "NULL",
    "ended_at": "NULL",
    "debrief": "''",
}
# Every other restraint episode column, as the table has them at this revision.
RESTRAINT_FIXED = [
    "client_key",
    "request_hash",
    "recorded_by",
    "recorded_at",
    "id",
    "patient_id",
    "ward_id",
    "incident_id",
    "kind",
    "ordered_at",
    "ordered_by",
    "started_at",
    "age_at_order",
    "order_expires_at",
    "face_to_face_due_at",
    "guardian_notice_due_at",
    "release_criteria",
]
REFUSED = "records are append-only: {table} rows are never changed or deleted"
RESTRAINT_REFUSED = (
    "restraint_episode: only face_to_face_at, guardian_notified_at, ended_at and debrief "
    "may change, each once from empty"
)


def upgrade() -> None:
    op.create_table(
        "break_glass_grant",
        sa.Column("client_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("ward_id", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "expires_at > opened_at", name=op.f("ck_break_glass_grant_expires_after_opening")
        ),
        sa.CheckConstraint(
            "length(reason) <= 1000", name=op.f("ck_break_glass_grant_reason_length")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_break_glass_grant_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_break_glass_grant_staff_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["ward_id"], ["ward.id"], name=op.f("fk_break_glass_grant_ward_id_ward")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_grant")),
        sa.UniqueConstraint("client_key", name=op.f("uq_break_glass_grant_client_key")),
    )
    with op.batch_alter_table("break_glass_grant", schema=None) as batch_op:
        batch_op.create_index("ix_break_glass_grant_opened", ["opened_at"], unique=False)
        batch_op.create_index(
            "ix_break_glass_grant_staff_patient",
            ["staff_id", "patient_id", "expires_at"],
            unique=False,
        )

    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
    else:
        _postgresql_triggers()


def _sqlite_triggers() -> None:
    for table in APPEND_ONLY:
        for event in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event} BEFORE {event.upper()} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSED.format(table=table)}'); END"
            )
    for table in ("restraint_episode", "audit_chain_head"):
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSED.format(table=table)}'); END"
        )
    changed = [f"NEW.{column} IS NOT OLD.{column}" for column in RESTRAINT_FIXED]
    refilled = [
        f"(OLD.{column} IS NOT {empty} AND NEW.{column} IS NOT OLD.{column})"
        for column, empty in FILL_ONCE.items()
    ]
    op.execute(
        "CREATE TRIGGER restraint_episode_no_update BEFORE UPDATE ON restraint_episode "
        f"WHEN {' OR '.join(changed + refilled)} "
        f"BEGIN SELECT RAISE(ABORT, '{RESTRAINT_REFUSED}'); END"
    )


def _postgresql_triggers() -> None:
    # SQLSTATE 23000 (integrity constraint violation), as SQLite reports RAISE(ABORT).
    op.execute(
        """
        CREATE FUNCTION rounds_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'records are append-only: % rows are never changed or deleted',
                TG_TABLE_NAME USING ERRCODE = '23000';
        END
        $$
        """
    )
    fill_once = ", ".join(f"'{column}'" for column in FILL_ONCE)
    refilled = " OR ".join(
        f"(OLD.{column} IS DISTINCT FROM {empty} AND NEW.{column} IS DISTINCT FROM OLD.{column})"
        for column, empty in FILL_ONCE.items()
    )
    # Every column but the fill-once ones must stay as it was, including columns added later.
    op.execute(
        f"""
        CREATE FUNCTION rounds_restraint_fill_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF to_jsonb(NEW) - ARRAY[{fill_once}] IS DISTINCT FROM to_jsonb(OLD) - ARRAY[{fill_once}]
                OR {refilled}
            THEN
                RAISE EXCEPTION '{RESTRAINT_REFUSED}' USING ERRCODE = '23000';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    for table in APPEND_ONLY:
        for event in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event} BEFORE {event.upper()} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION rounds_refuse_change()"
            )
    for table in ("restraint_episode", "audit_chain_head"):
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION rounds_refuse_change()"
        )
    op.execute(
        "CREATE TRIGGER restraint_episode_no_update BEFORE UPDATE ON restraint_episode "
        "FOR EACH ROW EXECUTE FUNCTION rounds_restraint_fill_once()"
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    tables = [(table, event) for table in APPEND_ONLY for event in ("update", "delete")]
    tables += [
        ("restraint_episode", "update"),
        ("restraint_episode", "delete"),
        ("audit_chain_head", "delete"),
    ]
    for table, event in tables:
        op.execute(
            f"DROP TRIGGER IF EXISTS {table}_no_{event}"
            if sqlite
            else f"DROP TRIGGER IF EXISTS {table}_no_{event} ON {table}"
        )
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS rounds_restraint_fill_once()")
        op.execute("DROP FUNCTION IF EXISTS rounds_refuse_change()")

    with op.batch_alter_table("break_glass_grant", schema=None) as batch_op:
        batch_op.drop_index("ix_break_glass_grant_staff_patient")
        batch_op.drop_index("ix_break_glass_grant_opened")
    op.drop_table("break_glass_grant")
