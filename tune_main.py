#!/usr/bin/env python
"""Run a Ray Tune sweep of EMP-GAN trials: `python tune_main.py sweeps/demo.yaml [--address ...] [--resume] [--dry-run]`."""

import sys

from empgan.tune.cli import main

if __name__ == "__main__":
    sys.exit(main())
