"""One module per ``tcn`` verb: ``HELP``, ``add_arguments(parser)``, ``run(args) -> int``."""

from __future__ import annotations

import argparse


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N``, torch's CPU threads of a verb that runs a network."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's, one a core; give 1 each to runs that share "
        "the cores)",
    )


def set_threads(threads: int | None) -> None:
    """Set torch's CPU threads to ``threads``; None or 0 leaves torch's default."""
    if threads:
        import torch

        torch.set_num_threads(threads)
