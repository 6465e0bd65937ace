"""The ``rnn-apps`` command line.

The application verbs (``fit``, ``evaluate``, ``predict``, ``export``) arrive with the
recipes; for now the command prints its version and help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rnn_apps import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn-apps",
        description=(
            "Recurrent-network applications for Keras 3. The layers are importable "
            "today (import custom_layers); the application verbs fit, evaluate, "
            "predict and export arrive with the recipes."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rnn-apps {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnn-apps`` console script."""
    parser = build_parser()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        parser.print_help()
        return 0
    parser.parse_args(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
