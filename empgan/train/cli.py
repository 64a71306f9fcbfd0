"""`empgan train CONFIG [--set k=v ...] [--run-dir DIR] [--resume RUN_DIR]`: one trial from the shell."""

from __future__ import annotations

import json
import time
from pathlib import Path

from empgan.config import build_config, deep_merge, load_config, parse_overrides


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train one trial (milestones, FID, checkpoints) without Ray")
    p.add_argument("config", nargs="?", help="trial YAML or a shipped config name (cpu_tiny, pg, eg); "
                                             "optional with --resume (the checkpoint's config is used)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key by dotted path, e.g. --set patch_num=4 (repeatable)")
    p.add_argument("--run-dir", help="where checkpoints, grids and stats.jsonl go (default runs/<time>-<model>; "
                                     "with --resume, the resumed run's dir)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a trial from its newest checkpoint "
                                                       "(or from a checkpoint file or folder)")
    p.set_defaults(func=main)


def main(args) -> int:
    from empgan.train.checkpoint import find_checkpoint, load_checkpoint, run_dir_of

    if args.config is None and args.resume is None:
        from empgan.errors import UserError
        raise UserError("empgan train needs a CONFIG (a YAML file or a shipped config name) or --resume RUN_DIR")
    if args.config is None:
        saved = load_checkpoint(find_checkpoint(args.resume))["config"]
        cfg = build_config(deep_merge(saved, parse_overrides(args.overrides)), str(args.resume))
    else:
        cfg = load_config(args.config, args.overrides)
    # Validation is done: only now load the heavy modules and start work.
    from empgan.train.loop import training_loop

    if args.run_dir:
        run_dir = Path(args.run_dir)
    elif args.resume:
        run_dir = run_dir_of(find_checkpoint(args.resume))
    else:
        run_dir = Path(f"runs/{time.strftime('%Y%m%d-%H%M%S')}-{cfg.model_kind}")
    outcome = training_loop(cfg, run_dir, resume=args.resume)
    summary = {"status": outcome.status, "reason": outcome.reason, "best_fid": outcome.best_fid,
               "best_checkpoint": outcome.best_checkpoint, "last_metrics": outcome.last_metrics}
    (run_dir / "outcome.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"status {outcome.status}{': ' + outcome.reason if outcome.reason else ''}  "
          f"best FID {outcome.best_fid:.3f}  run dir {run_dir}")
    return 0
