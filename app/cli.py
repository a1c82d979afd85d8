"""The `rounds` command: serve the app, fill a demo ward, migrate, manage accounts."""

import argparse
import sys


def _serve(args: argparse.Namespace) -> int:
    from app.config import get_settings
    from app.web.server import serve

    serve(get_settings())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rounds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="upgrade the database, then serve the Rounds web app",
        description="Upgrade the database schema, then serve the Rounds web app on the host "
        "and port from flet.toml (ROUNDS_HOST, ROUNDS_PORT).",
    )
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `rounds` console script."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
