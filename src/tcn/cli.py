"""``tcn``: one console command, one module per verb under ``tcn.commands``.

Run ``tcn COMMAND --help`` for each verb's options and copy-paste examples.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from tcn import __version__
from tcn.errors import TcnError

# Verb -> module in tcn.commands. Each module defines HELP, add_arguments(parser) and run(args).
COMMANDS = {
    "record": "record",
    "perturb": "perturb",
    "inspect": "inspect",
    "train-embedding": "train_embedding",
    "embed": "embed",
    "evaluate-embedding": "evaluate_embedding",
    "read-demos": "read_demos",
    "train-agent": "train_agent",
    "evaluate-agent": "evaluate_agent",
    "launch": "launch",
    "quickstart": "quickstart",
    "record-topics": "record_topics",
}

EPILOG = """examples:
  tcn quickstart --out runs/quickstart        # the working recipe, small, ~20 min on 2 cores
  tcn record --out data/demos --episodes 300 --val-episodes 20 --workers 2
  tcn record --out data/self --episodes 300 --val-episodes 0 --motion babble --workers 2
  tcn inspect data/demos
  tcn perturb --demos data/demos --out data/off --camera-offset 0.05 --camera-degrees 3
  tcn train-embedding --data data/demos --pose-data data/self --out runs/tcn
  tcn read-demos --embedding runs/tcn --demos data/demos --workers 2
  tcn train-agent --embedding runs/tcn --demos data/demos --out runs/agent
  tcn evaluate-agent --agent runs/agent --demos data/demos --out runs/agent/eval
  tcn evaluate-embedding --model runs/tcn --data data/demos --out runs/tcn/eval
"""


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The ``tcn`` parser. Every verb is listed; only ``verb`` (all when None) gets its
    arguments, since some verbs derive theirs from config classes that import torch."""
    parser = argparse.ArgumentParser(
        prog="tcn",
        description="Teach a KUKA iiwa to imitate a demonstration video with a "
        "Time-Contrastive Network reward.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tcn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"tcn.commands.{module_name}")
        command = sub.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__ or "",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if verb is None or verb == name:
            module.add_arguments(command)
        command.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(verb or "")  # no verb: just list them
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (TcnError, FileNotFoundError, FileExistsError, ValueError) as exc:
        if os.environ.get("TCN_DEBUG"):
            raise
        print(f"tcn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tcn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
