"""`empgan table`: the report's FID/time table of an experiment, straight from MLflow."""

from __future__ import annotations

import argparse

from empgan.report.render import FORMATS, check_output_path, format_for_output


def register(subparsers) -> None:
    p = subparsers.add_parser("table", help="FID/time table (md, csv, latex, html) and plots of an experiment's trials",
                              description=__doc__.splitlines()[0])
    p.add_argument("--experiment", required=True, help="MLflow experiment name (one per sweep)")
    p.add_argument("--tracking-uri", help="default: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db")
    p.add_argument("--milestones", help="columns in kimg, e.g. 100,200,400 (default: every step with an FID)")
    p.add_argument("--format", dest="fmt", help=f"one of {', '.join(FORMATS)} (default: from --output's suffix, else md)")
    p.add_argument("--output", help="write the table here (plots beside it); default: print it")
    p.add_argument("--by-seed", action="store_true", help="one row per run instead of mean±std over seeds")
    p.add_argument("--filter", dest="filter_string",
                   help="MLflow search filter AND-ed to the trial query, e.g. \"params.fid_samples = '10000'\"")
    p.add_argument("--plot-dir", help="folder for the plots when there is no --output (default: ./<experiment>_plots)")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="write and log no plots")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_output_path(args.output)
    fmt = args.fmt or format_for_output(args.output)
    from empgan.report.export import export_table  # MLflow and matplotlib load only when the command runs

    text = export_table(args.experiment, args.tracking_uri, args.milestones, fmt,
                        args.output, args.by_seed, args.filter_string, args.plot_dir, args.plots)
    print(f"wrote {args.output}" if args.output else text, end="\n" if args.output else "")
    return 0
