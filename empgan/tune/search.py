"""Sweep -> Ray Tune search algorithm, parameter space and scheduler."""

from __future__ import annotations

from pathlib import Path

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import BasicVariantGenerator, Repeater

from empgan.config import flatten, to_dict
from empgan.tune.sweep_config import Dimension, Sweep
from empgan.tune.trainable import SEED_KEY


def _ray_domain(dim: Dimension):
    lo_hi = dim.values
    return {"choice": lambda: tune.choice(dim.values),
            "grid": lambda: tune.grid_search(dim.values),
            "int": lambda: tune.randint(lo_hi[0], lo_hi[1] + 1),     # inclusive hi, as Optuna's suggest_int
            "uniform": lambda: tune.uniform(*lo_hi),
            "loguniform": lambda: tune.loguniform(*lo_hi)}[dim.kind]()


class OptunaDefineByRun:
    """Optuna define-by-run space: conditional keys are only suggested when their `when` holds."""

    def __init__(self, sweep: Sweep):
        self.dimensions = sweep.dimensions
        self.base = flatten(to_dict(sweep.base_config()))

    def __call__(self, trial) -> None:
        values: dict = {}
        for d in self.dimensions:
            current = {**self.base, **values}
            if d.when and any(current.get(k) != v for k, v in d.when.items()):
                continue
            if d.kind in ("choice", "grid"):
                values[d.key] = trial.suggest_categorical(d.key, d.values)
            elif d.kind == "int":
                values[d.key] = trial.suggest_int(d.key, d.values[0], d.values[1])
            else:
                values[d.key] = trial.suggest_float(d.key, d.values[0], d.values[1], log=d.kind == "loguniform")


def optuna_storage_url(sweep: Sweep, experiment_dir: Path) -> str:
    return sweep.optuna_storage or f"sqlite:///{experiment_dir / 'optuna.db'}"


def build_search(sweep: Sweep, experiment_dir: Path, study_name: str):
    """(search_alg, param_space, num_samples) for the Tuner."""
    if sweep.algorithm == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        sampler = (optuna.samplers.TPESampler(seed=sweep.search_seed) if sweep.sampler == "tpe"
                   else optuna.samplers.RandomSampler(seed=sweep.search_seed))
        storage = optuna.storages.RDBStorage(optuna_storage_url(sweep, experiment_dir))
        searcher = OptunaSearch(space=OptunaDefineByRun(sweep), metric=sweep.metric, mode=sweep.mode, sampler=sampler,
                                study_name=study_name, storage=storage,
                                points_to_evaluate=sweep.points_to_evaluate or None)
        if len(sweep.seeds) > 1:
            # Each suggestion runs once per seed; the searcher sees the mean FID of the repeats.
            return Repeater(searcher, repeat=len(sweep.seeds), set_index=True), {}, sweep.num_samples * len(sweep.seeds)
        return searcher, {}, sweep.num_samples
    space = {d.key: _ray_domain(d) for d in sweep.dimensions}
    if len(sweep.seeds) > 1:
        space[SEED_KEY] = tune.grid_search(sweep.seeds)
    searcher = BasicVariantGenerator(points_to_evaluate=sweep.points_to_evaluate or None,
                                     random_state=sweep.search_seed)
    return searcher, space, sweep.num_samples


def build_scheduler(sweep: Sweep):
    if sweep.scheduler == "none":
        return FIFOScheduler()
    base = sweep.base_config()
    return ASHAScheduler(time_attr="kimg", max_t=sweep.max_t or base.total_kimg, grace_period=sweep.grace_period,
                         reduction_factor=sweep.reduction_factor)
