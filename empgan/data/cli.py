"""`empgan data prepare SRC DEST --resolution N [--fit crop|pad]`."""

from __future__ import annotations

import argparse

from empgan.data.images import FITS
from empgan.data.prepare import PrepareSummary, prepare_dataset


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="dataset tools")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    prepare = data_sub.add_parser(
        "prepare", help="turn a folder or zip of images into a training set of same-size RGB PNGs",
        description="Turn a folder (nested or not) or zip of images of any format, mode and size into a "
                    "prepared set: RGB PNGs 00000000.png, ... at RESOLUTION x RESOLUTION plus dataset.json. "
                    "DEST ending in .zip writes a zip, anything else a folder.")
    prepare.add_argument("source", metavar="SRC", help="folder or .zip of images")
    prepare.add_argument("dest", metavar="DEST", help="output folder, or a path ending in .zip")
    prepare.add_argument("--resolution", type=int, required=True, metavar="N",
                         help="side of the square output images (a power of two)")
    prepare.add_argument("--fit", choices=FITS, default="crop",
                         help="crop: centre square (default); pad: whole image on a white square")
    prepare.set_defaults(func=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    summary = prepare_dataset(args.source, args.dest, args.resolution, args.fit)
    print(format_summary(summary))
    return 0


def format_summary(summary: PrepareSummary) -> str:
    lines = [f"wrote {summary.count} images ({summary.resolution}x{summary.resolution}, fit {summary.fit}) "
             f"to {summary.dest} in {summary.seconds:.1f} s",
             f"content hash {summary.content_hash}",
             f"skipped {len(summary.skipped)} unreadable image file(s); ignored {summary.ignored} non-image file(s)"]
    lines += [f"  skipped {name}: {reason}" for name, reason in summary.skipped]
    return "\n".join(lines)
