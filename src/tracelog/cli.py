"""The ``tracelog`` command: read JSON logs, follow one trace across services, see where time went.

Subcommands live in :mod:`tracelog._cli`; this module only parses arguments and dispatches, and
imports nothing heavy, so that the command starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

_DESCRIPTION = """\
Read JSON log lines (tracelog's and other libraries'), follow one trace across services.

  tracelog demo                         a two-service system on loopback, then traces and show
  tracelog view app.log --level warning pretty lines; --json passes matching lines through
  tracelog traces *.log --errors        one row per trace
  tracelog show 4bf92f35 *.log          one trace as a span tree with a timeline
  tracelog show 4bf92f35 --loki URL     the same from Loki (or --elasticsearch URL)
  tracelog show 4bf92f35 *.log --html trace.html   one self-contained page to send
"""


def _parser() -> argparse.ArgumentParser:
    from tracelog._cli import show, traces, view

    parser = argparse.ArgumentParser(
        prog="tracelog", description=_DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    view.add_arguments(
        commands.add_parser("view", help="show log lines for people, filtered (or --json)")
    )
    traces.add_arguments(commands.add_parser("traces", help="one row per trace"))
    show.add_arguments(commands.add_parser("show", help="one trace: span tree, timeline, lines"))
    demo = commands.add_parser("demo", help="run a two-service demo on loopback and show it")
    demo.add_argument("--dir", help="write the demo's logs here (default: a new temporary folder)")
    demo.add_argument("--requests", type=int, default=8, help="how many requests (default 8)")
    demo.add_argument(
        "--html", action="store_true", help="also write the failing trace as an HTML page"
    )
    commands.add_parser("lnav-format", help="print an lnav format definition for tracelog lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "view":
            from tracelog._cli import view

            return view.run(args)
        if args.command == "traces":
            from tracelog._cli import traces

            return traces.run(args)
        if args.command == "show":
            from tracelog._cli import show

            return show.run(args)
        if args.command == "demo":
            from tracelog._cli import demo

            return demo.run(args)
        if args.command == "lnav-format":
            from tracelog._cli import lnav

            return lnav.run()
        _parser().print_help()
        return 2
    except BrokenPipeError:
        # The reader went away (`tracelog view big.log | head`): stop quietly, like cat does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
