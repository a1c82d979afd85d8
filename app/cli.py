"""The `rounds` command: serve the app, fill a demo ward, migrate, manage accounts, check audit,
compare a patient before and after a treatment change, export a patient's record."""

import argparse
import getpass
import os
import sys
from datetime import date, timedelta
from pathlib import Path

from app.config import Settings, get_settings


def open_database(settings: Settings):
    """The configured database, upgraded to the newest schema, with its secret keys."""
    from app.storage.database import Database
    from app.storage.schema import upgrade
    from app.storage.secrets import Keys, load_or_create_secret

    upgrade(settings.database_url)
    return Database(
        settings.database_url, keys=Keys.from_secret(load_or_create_secret(settings.secret_file))
    )


def _serve(args: argparse.Namespace) -> int:
    from app.web.server import serve

    settings = get_settings()
    open_database(settings).dispose()
    print(f"Rounds is serving on {_address(settings)}", flush=True)
    serve(settings)
    return 0


def _address(settings: Settings) -> str:
    scheme = "https" if settings.tls_certfile else "http"
    return f"{scheme}://{settings.host}:{settings.port}"


def _demo(args: argparse.Namespace) -> int:
    from app.demo import DemoAlreadyLoaded, DemoRefused, fill_demo_ward

    settings = get_settings()
    db = open_database(settings)
    try:
        summary = fill_demo_ward(db)
        print("\n".join(summary.lines()))
    except DemoAlreadyLoaded as already:
        # Running the README's first command again just serves the ward it filled before.
        print(already.message)
    except DemoRefused as refused:
        print(refused.message, file=sys.stderr)
        return 1
    finally:
        db.dispose()
    if args.serve:
        return _serve(args)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from app.storage.schema import differences_from_models

    settings = get_settings()
    open_database(settings).dispose()
    problems = differences_from_models(settings.database_url)
    if problems:
        print(f"The schema differs from the models: {problems}", file=sys.stderr)
        return 1
    print("The database schema is up to date.")
    return 0


def _create_user(args: argparse.Namespace) -> int:
    from app.services.accounts import CONSOLE, create_staff, issue_pin
    from app.services.errors import ServiceError

    password = args.password or getpass.getpass("Password (8-128 characters): ")
    db = open_database(get_settings())
    try:
        staff = create_staff(
            db,
            CONSOLE,
            {
                "username": args.username,
                "display_name": args.display_name,
                "role": args.role,
                "password": password,
                "ward_ids": args.ward or [],
            },
        )
        pin = issue_pin(db, CONSOLE, staff.id)
    except ServiceError as refused:
        print(refused.message, file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"Created {staff.username} ({staff.role.value}). PIN for locked sessions: {pin}")
    return 0


def _tls(args: argparse.Namespace) -> int:
    from pathlib import Path

    from app.web.tls import make_ward_certificates

    ca, cert, key = make_ward_certificates(args.host, Path(args.out))
    print(f"Ward CA (install on tablets): {ca}")
    print(f"Server certificate: {cert}\nServer key: {key}")
    print(f"Set tls_certfile = {str(cert)!r} and tls_keyfile = {str(key)!r} in flet.toml.")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from app.services.audit import missing_guards, verify_chain

    db = open_database(get_settings())
    try:
        with db.reading() as session:
            result = verify_chain(session, key=db.keys.audit)
            missing = missing_guards(session)
    finally:
        db.dispose()
    if missing:
        # The chain still proves what was altered; without the triggers it is not prevented.
        print(f"Append-only triggers missing or disabled: {', '.join(missing)}.", file=sys.stderr)
    if result.first_bad_id is None:
        print(f"Audit chain intact: {result.rows_checked} rows verified.")
        return 1 if missing else 0
    print(f"Audit chain broken at row {result.first_bad_id}: {result.problem}.", file=sys.stderr)
    return 1


def _audit_report(args: argparse.Namespace) -> int:
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from app.services.accounts import CONSOLE
    from app.services.audit_report import REPORT_LIMIT, audit_report, format_report
    from app.services.errors import ServiceError

    settings = get_settings()
    # Whole days in the ward's zone, --to included.
    zone = ZoneInfo(settings.ward_timezone)
    start = datetime.combine(args.start, time(), tzinfo=zone)
    end = datetime.combine(args.end + timedelta(days=1), time(), tzinfo=zone)
    db = open_database(settings)
    try:
        page = audit_report(
            db,
            CONSOLE,
            start=start,
            end=end,
            mrn=args.patient or None,
            username=args.user,
            limit=REPORT_LIMIT,
        )
    except ServiceError as refused:
        print(refused.message, file=sys.stderr)
        return 1
    finally:
        db.dispose()
    if page.more:
        print(
            f"More than {REPORT_LIMIT} rows: choose a shorter period, a user or a patient.",
            file=sys.stderr,
        )
        return 1
    # Oldest first: a terminal is read from the top down, ending on the latest.
    rows = list(reversed(page.rows))
    if rows:
        print(format_report(rows, zone))
    print(f"{len(rows)} audit rows from {args.start} to {args.end} ({settings.ward_timezone}).")
    return 0


class ConsoleRefusal(Exception):
    """A console command that cannot go on, with the message to print."""


def _acting(db, username: str):
    """The staff account a console command acts as, so its reads are audited under a person.

    The console is trusted like the database file itself, so no password is asked; the
    account must be active and the services still check its role and wards.
    """
    from sqlmodel import select

    from app.services.access import Actor
    from models import Staff

    with db.reading() as session:
        staff = session.exec(select(Staff).where(Staff.username == username.lower())).first()
    if staff is None or not staff.active:
        raise ConsoleRefusal(f"No active account named {username!r}.")
    return Actor(staff.id, staff.username)


def _patient(db, mrn: str):
    from sqlmodel import select

    from models import Patient, Ward

    with db.reading() as session:
        patient = session.exec(select(Patient).where(Patient.mrn == mrn.strip())).first()
        if patient is None:
            raise ConsoleRefusal(f"No patient with MRN {mrn!r}.")
        return patient, session.get(Ward, patient.ward_id)


def _effect(args: argparse.Namespace) -> int:
    from app.services.effect import compare_around, p_text
    from app.services.errors import ServiceError

    db = open_database(get_settings())
    try:
        patient, ward = _patient(db, args.mrn)
        comparison = compare_around(
            db, _acting(db, args.acting), patient.id, event_id=args.event, days=args.days
        )
    except (ConsoleRefusal, ServiceError) as refused:
        print(getattr(refused, "message", str(refused)), file=sys.stderr)
        return 1
    finally:
        db.dispose()
    when = comparison.event.effective_at.astimezone(ward.zone)
    print(f"{patient.display_name} (MRN {patient.mrn}), {ward.name}")
    event = comparison.event
    print(f"Treatment change #{event.id}: {comparison.event_label}, {when:%a %d %b %Y %H:%M}")
    print(
        f"{comparison.days} days before ({comparison.before_first:%d %b} to "
        f"{comparison.before_last:%d %b}) against after ({comparison.after_first:%d %b} to "
        f"{comparison.after_last:%d %b}); the day of the change counts on neither side.\n"
    )
    print(
        f"{'Measure':<42} {'Before':>8} {'After':>8} {'Change':>8}  {'95% interval':<17} {'p':>6}"
    )
    for row in comparison.measures:
        shown = [
            f"{row.before.mean:8.2f}" if row.before.mean is not None else f"{'-':>8}",
            f"{row.after.mean:8.2f}" if row.after.mean is not None else f"{'-':>8}",
            f"{row.change:+8.2f}" if row.change is not None else f"{'-':>8}",
        ]
        interval = (
            f"{row.interval_low:+.2f} to {row.interval_high:+.2f}"
            if row.interval_low is not None
            else "-"
        )
        p_value = p_text(row.p_value) if row.p_value is not None else "-"
        print(f"{row.label:<42} {' '.join(shown)}  {interval:<17} {p_value}")
    print("\nValues are means of daily values; group participation is a share (0-1), incidents")
    print("are per day. The change is after minus before.\n")
    for row in comparison.measures:
        print(f"- {row.sentence}")
    print(f"\n{comparison.caveat}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from app.services.errors import ServiceError
    from app.services.exports import MAX_DAYS, export_patient
    from app.services.ward_time import local_date

    out = Path(args.out)
    db = open_database(get_settings())
    try:
        patient, ward = _patient(db, args.mrn)
        actor = _acting(db, args.acting)
        until = patient.discharged_at or db.clock()
        end = args.to or local_date(ward, until)
        start = args.start or max(
            local_date(ward, patient.admitted_at), end - timedelta(days=MAX_DAYS - 1)
        )
        if out.exists():
            raise ConsoleRefusal(f"{out} already exists; choose another file name.")
        content = export_patient(
            db, actor, patient.id, fmt=args.format, start=start, end=end, via="console"
        )
    except (ConsoleRefusal, ServiceError) as refused:
        print(getattr(refused, "message", str(refused)), file=sys.stderr)
        return 1
    finally:
        db.dispose()
    # A patient record: readable by the owner only, and never written over another file.
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    print(
        f"Wrote {args.format.upper()} of {patient.display_name} (MRN {patient.mrn}), "
        f"{start:%d %b %Y} to {end:%d %b %Y}, to {out} ({len(content):,} bytes)."
    )
    if patient.substance_use_program:
        print("This record is protected by 42 CFR Part 2: no redisclosure without consent.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rounds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str, handler) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=description)
        sub.set_defaults(handler=handler)
        return sub

    command(
        "serve",
        "upgrade the database, then serve the Rounds web app",
        "Upgrade the database schema, then serve the Rounds web app on the host and port "
        "from flet.toml (ROUNDS_HOST, ROUNDS_PORT), over HTTPS when a certificate is set.",
        _serve,
    )
    demo = command(
        "demo",
        "fill an empty database with the synthetic demo ward",
        "Fill an empty database with a synthetic, deterministic demo ward: 20 patients "
        "(MRNs D0001-D0020), 30 days of history, and demo-only accounts. Refuses a database "
        "that holds other data; leaves an already-filled demo ward as it is.",
        _demo,
    )
    demo.add_argument("--serve", action="store_true", help="then serve the app")
    command(
        "migrate",
        "upgrade the database schema to the newest version",
        "Apply every pending schema migration (Alembic) and check the schema matches the models.",
        _migrate,
    )
    create_user = command(
        "create-user",
        "create a staff account and print its PIN",
        "Create a staff account from the server console and print its 6-digit PIN once. "
        "The password is asked for unless --password is given.",
        _create_user,
    )
    create_user.add_argument("username")
    create_user.add_argument("--display-name", required=True)
    create_user.add_argument(
        "--role", required=True, choices=["technician", "nurse", "charge_nurse", "admin"]
    )
    create_user.add_argument("--ward", type=int, action="append", help="ward id (repeatable)")
    create_user.add_argument("--password", help="the password (prefer the prompt)")
    tls = command(
        "tls",
        "make a ward CA and a server certificate for HTTPS",
        "Make a local certificate authority and a server certificate for the ward host names "
        "given, so tablets can install Rounds from a secure origin.",
        _tls,
    )
    tls.add_argument("host", nargs="+", help="host names or IP addresses of the Rounds server")
    tls.add_argument("--out", default="var/tls", help="folder for the files (default var/tls)")
    audit = command(
        "audit",
        "check the audit trail",
        "Audit trail commands.",
        lambda args: (audit.print_help(), 2)[1],
    )
    audit_commands = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify",
        help="recompute the audit hash chain and name the first altered or missing row",
        description="Recompute the audit hash chain and name the first altered or missing row.",
    )
    verify.set_defaults(handler=_audit_verify)
    report = audit_commands.add_parser(
        "report",
        help="print the audit rows of a period, optionally for one user and one patient",
        description="Print the audit rows from --from to --to (whole days in the ward's time "
        "zone, both included), optionally only one user's (also failed sign-ins under that "
        "name) and one patient's. Reading the report is audited as the console.",
    )
    report.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
    report.add_argument("--to", dest="end", required=True, type=date.fromisoformat)
    report.add_argument("--user", metavar="USERNAME", help="only this user's actions")
    report.add_argument("--patient", metavar="MRN", help="only rows about this patient")
    report.set_defaults(handler=_audit_report)
    effect = command(
        "effect",
        "compare a patient before and after a treatment change",
        "Compare a patient's mood, anxiety, sleep, group participation, incidents and MOAS in "
        "the days before and after a treatment change (the latest one unless --event is "
        "given), with a 95%% bootstrap interval and a rank test, in plain words. The read is "
        "audited under the account named by --as.",
        _effect,
    )
    effect.add_argument("mrn", metavar="MRN", help="the patient's MRN")
    effect.add_argument(
        "--as", dest="acting", required=True, metavar="USERNAME",
        help="the staff account this is done as (it must be on the patient's ward)",
    )  # fmt: skip
    effect.add_argument("--event", type=int, metavar="ID", help="treatment change id")
    effect.add_argument(
        "--days", type=int, default=7, metavar="N", help="days on each side (3-90, default 7)"
    )
    export = command(
        "export",
        "export a patient's record as PDF, CSV or FHIR",
        "Write a patient's record over a date range (ward dates; default the whole stay, up "
        "to 400 days) as a PDF report, a CSV of the timeline or a FHIR R4 Bundle. The account "
        "named by --as must have the export permission on the patient's ward (a charge "
        "nurse); the export is audited under it. The file is created readable by its owner "
        "only and never written over an existing one.",
        _export,
    )
    export.add_argument("mrn", metavar="MRN", help="the patient's MRN")
    export.add_argument("--format", required=True, choices=["pdf", "csv", "fhir"])
    export.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    export.add_argument(
        "--as", dest="acting", required=True, metavar="USERNAME",
        help="the staff account this is done as (needs the export permission)",
    )  # fmt: skip
    export.add_argument(
        "--from", dest="start", type=date.fromisoformat, metavar="DATE",
        help="first ward date, YYYY-MM-DD (default: the admission date)",
    )  # fmt: skip
    export.add_argument(
        "--to", type=date.fromisoformat, metavar="DATE",
        help="last ward date, YYYY-MM-DD (default: today, or the discharge date)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rounds` console script."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
