"""When a trial has diverged: non-finite losses, FID above a ceiling, or FID far worse than its best for K milestones."""

from __future__ import annotations

import math
from dataclasses import dataclass

from empgan.config import DivergenceConfig


@dataclass
class DivergenceMonitor:
    cfg: DivergenceConfig
    best_fid: float = math.inf
    worse_in_a_row: int = 0

    def check_losses(self, losses: dict[str, float]) -> str | None:
        bad = sorted(k for k, v in losses.items() if not math.isfinite(v))
        return f"non-finite loss: {', '.join(f'{k}={losses[k]}' for k in bad)}" if bad else None

    def check_fid(self, fid: float) -> str | None:
        """Record a milestone FID; returns the reason when the trial has diverged."""
        if not math.isfinite(fid):
            return f"non-finite FID {fid}"
        if fid > self.best_fid * self.cfg.worse_factor:
            self.worse_in_a_row += 1
        else:
            self.worse_in_a_row = 0
        self.best_fid = min(self.best_fid, fid)
        if fid > self.cfg.fid_ceiling:
            return f"FID {fid:.2f} above divergence.fid_ceiling {self.cfg.fid_ceiling:g}"
        if self.worse_in_a_row >= self.cfg.patience:
            return (f"FID {fid:.2f} worse than {self.cfg.worse_factor:g} x best ({self.best_fid:.2f}) "
                    f"for {self.worse_in_a_row} milestones in a row")
        return None

    def state_dict(self) -> dict:
        return {"best_fid": self.best_fid, "worse_in_a_row": self.worse_in_a_row}

    def load_state_dict(self, state: dict) -> None:
        self.best_fid, self.worse_in_a_row = float(state["best_fid"]), int(state["worse_in_a_row"])
