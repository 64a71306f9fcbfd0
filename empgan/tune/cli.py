"""`empgan tune SWEEP.yaml` / `python tune_main.py SWEEP.yaml`: run, resume or dry-run a sweep."""

from __future__ import annotations

import argparse
import sys

from empgan.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="sweep YAML (see sweeps/ and empgan/tune/sweep_config.py)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a sweep key by dotted path, e.g. --set search.num_samples=4 "
                        "or --set base.total_kimg=2 (repeatable)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (auto, HOST:6379, ray://HOST:10001); default: start a local Ray")
    p.add_argument("--resume", action="store_true", help="continue the newest run of this sweep after the driver died")
    p.add_argument("--dry-run", action="store_true", help="print the resolved sweep and exit without starting Ray")


def register(subparsers) -> None:
    p = subparsers.add_parser("tune", help="run a Ray Tune sweep (same as tune_main.py)")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from empgan.tune.sweep_config import load_sweep

    sweep = load_sweep(args.sweep, args.overrides)  # every error here comes before Ray starts
    from empgan.tune.driver import run_sweep

    code = run_sweep(sweep, address=args.address, resume=args.resume, dry_run=args.dry_run)
    if not args.dry_run:
        _print_table(sweep)
    return code


def _print_table(sweep) -> None:
    from empgan.report import print_table_for_sweep

    print()
    print_table_for_sweep(sweep.experiment, sweep.tracking_uri)
    print(f"\nbrowse the runs:  {sys.executable} -m mlflow ui --backend-store-uri {sweep.tracking_uri}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tune_main.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        print(f"tune_main.py: error: {exc}", file=sys.stderr)
        return exc.exit_code
