"""The `rounds` command: serve the app, fill a demo ward, migrate, manage accounts, check audit."""

import argparse
import getpass
import sys

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
    from app.services.audit import verify_chain

    db = open_database(get_settings())
    try:
        with db.reading() as session:
            result = verify_chain(session, key=db.keys.audit)
    finally:
        db.dispose()
    if result.first_bad_id is None:
        print(f"Audit chain intact: {result.rows_checked} rows verified.")
        return 0
    print(f"Audit chain broken at row {result.first_bad_id}: {result.problem}.", file=sys.stderr)
    return 1


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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rounds` console script."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
