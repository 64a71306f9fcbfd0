"""`empgan` command line: one sub-command per concern, each registered by its own module.

Bad input (UserError) prints one line `empgan: error: ...` and exits 2 before any work starts.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from empgan.errors import UserError

# Each module has `register(subparsers)`, which adds its parser and sets `func(args) -> int | None`.
COMMAND_MODULES = (
    "empgan.data.cli",       # empgan data prepare
    "empgan.train.cli",      # empgan train
    "empgan.metrics.cli",    # empgan fid
    "empgan.tune.cli",       # empgan tune (same as tune_main.py)
    "empgan.report.cli",     # empgan table
    "empgan.weights",        # empgan weights fetch
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="empgan", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command that is not built yet
                continue
            raise
        module.register(sub)
    return parser


def run(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"empgan: error: {exc}", file=sys.stderr)
        return exc.exit_code


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
