"""Sweep YAML: schema, defaults and validation. Imports no Ray, so `--dry-run` and errors are instant.

    name: demo                          # sweep name (experiment name by default)
    base: {data: builtin:digits, ...}   # trial config overrides (empgan/config.py keys, dotted or nested)
    search_space:                       # dotted trial-config key -> one distribution
      w:         {loguniform: [1, 20]}
      len:       {choice: [16, 32, 64]}
      patch_num: {int: [1, 8]}
      prob:      {uniform: [0, 3]}
      seed:      {grid: [0, 1]}
      proj_reduce: {choice: [true, false], when: {emp: true}}   # conditional key
      overrides: {grid: [{batch: 88}, {patch_num: 4, emp: true}]}  # whole rows (grid/random search only)
    search:    {algorithm: optuna|grid|random, sampler: tpe|random, seed: 0, num_samples: 8,
                max_concurrent: 2, points_to_evaluate: [{...}], storage: sqlite:///... }
    scheduler: {type: asha|none, grace_period: 100, reduction_factor: 2, max_t: null}
    objective: {metric: fid, mode: min}
    seeds: [0, 1]                       # or a count: 2 -> [0, 1]
    resources: {cpu: 1, gpu: 0}         # per trial; fractional allowed
    max_failures: 2                     # restarts of a failed trial from its last checkpoint
    mlflow: {tracking_uri: null, experiment: null}   # null: $MLFLOW_TRACKING_URI, else sqlite <cwd>/mlflow.db
    storage_path: null                  # Ray results; default <cwd>/ray_results
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from empgan.config import (SCIENTIFIC, TrainConfig, build_config, deep_merge, flatten, parse_overrides, read_yaml, to_dict,
                           unflatten)
from empgan.errors import ConfigError
from empgan.tracking import resolve_tracking_uri

DISTRIBUTIONS = ("choice", "grid", "int", "uniform", "loguniform")
TOP_KEYS = ("name", "base", "search_space", "search", "scheduler", "objective", "seeds", "resources",
            "max_failures", "mlflow", "storage_path")
SEARCH_KEYS = ("algorithm", "sampler", "seed", "num_samples", "max_concurrent", "points_to_evaluate", "storage")
SCHEDULER_KEYS = ("type", "metric", "mode", "time_attr", "grace_period", "reduction_factor", "max_t")
OBJECTIVE_KEYS = ("metric", "mode")
RESOURCE_KEYS = ("cpu", "gpu")
MLFLOW_KEYS = ("tracking_uri", "experiment")
METRICS = ("fid",)
ROWS_KEY = "overrides"   # a dimension whose values are whole mappings of trial-config overrides


@dataclass
class Dimension:
    key: str                        # dotted trial-config key
    kind: str                       # choice | grid | int | uniform | loguniform
    values: list                    # choices, or [lo, hi]
    when: dict = field(default_factory=dict)   # dotted key -> required value, else the key is not set


@dataclass
class Sweep:
    name: str
    source: str
    base: dict                      # nested trial-config overrides
    dimensions: list[Dimension]
    algorithm: str = "optuna"
    sampler: str = "tpe"
    search_seed: int = 0
    num_samples: int = 1
    max_concurrent: int = 0         # 0 = as many as resources allow
    points_to_evaluate: list[dict] = field(default_factory=list)
    optuna_storage: Optional[str] = None
    scheduler: str = "asha"
    grace_period: float = 1.0
    reduction_factor: float = 2.0
    max_t: Optional[float] = None
    metric: str = "fid"
    mode: str = "min"
    seeds: list[int] = field(default_factory=lambda: [0])
    cpu: float = 1.0
    gpu: float = 0.0
    max_failures: int = 2
    tracking_uri: Optional[str] = None
    experiment: Optional[str] = None
    storage_path: str = ""

    def base_config(self) -> TrainConfig:
        return build_config(self.base, f"{self.source}: base")

    @property
    def total_trials(self) -> int:
        if self.algorithm == "grid":
            grid = math.prod(len(d.values) for d in self.dimensions if d.kind in ("grid", "choice"))
            return grid * self.num_samples * len(self.seeds)
        return self.num_samples * len(self.seeds)

    @property
    def experiment_dir(self) -> Path:
        return Path(self.storage_path) / self.name


def _err(source: str, key: str, value, allowed: str) -> ConfigError:
    return ConfigError(key, value, allowed, source)


def _mapping(source: str, key: str, value, allowed_keys: tuple) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(source, key, value, "must be a mapping with keys " + ", ".join(allowed_keys))
    for k in value:
        if k not in allowed_keys:
            raise _err(source, f"{key}.{k}", value[k], "unknown key; allowed: " + ", ".join(allowed_keys))
    return value


def _number(source: str, key: str, value, *, integer=False, minimum=None, exclusive=False) -> float:
    if not integer and isinstance(value, str) and SCIENTIFIC.fullmatch(value.strip()):
        value = float(value)                                   # YAML 1.1 reads `1e-4` (no dot) as a string
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok_type or isinstance(value, bool):
        raise _err(source, key, value, "must be an integer" if integer else "must be a number")
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        raise _err(source, key, value, f"must be {'>' if exclusive else '>='} {minimum}")
    return value


def _choice(source: str, key: str, value, allowed: tuple) -> str:
    if value not in allowed:
        raise _err(source, key, value, "must be one of " + ", ".join(allowed))
    return value


def _check_trial_values(source: str, key: str, sweep_key: str, values: list, base: dict) -> None:
    """Every value a dimension can take must make a valid trial config (e.g. patch_num >= 1)."""
    for v in values:
        try:
            build_config(deep_merge(base, unflatten({key: v})))
        except ConfigError as exc:
            raise _err(source, sweep_key, v, f"gives an invalid trial config: {exc.key} {exc.allowed}") from None


def _dimension(source: str, key: str, spec, base: dict, valid_keys: set[str]) -> Dimension:
    where = f"search_space.{key}"
    if key == ROWS_KEY:
        return _rows_dimension(source, spec, base)
    if key not in valid_keys:
        raise _err(source, where, spec, "is not a trial config key (see empgan/config.py)")
    if not isinstance(spec, dict):
        raise _err(source, where, spec, "must be a mapping like {choice: [...]}, {int: [lo, hi]}, "
                   "{uniform: [lo, hi]}, {loguniform: [lo, hi]} or {grid: [...]}")
    kinds = [k for k in spec if k in DISTRIBUTIONS]
    extra = [k for k in spec if k not in DISTRIBUTIONS and k != "when"]
    if len(kinds) != 1 or extra:
        raise _err(source, where, spec, "must have exactly one of " + ", ".join(DISTRIBUTIONS) + " (and optionally `when`)")
    kind = kinds[0]
    values = spec[kind]
    if not isinstance(values, list) or not values:
        raise _err(source, f"{where}.{kind}", values, "must be a non-empty list")
    if kind in ("int", "uniform", "loguniform"):
        if len(values) != 2:
            raise _err(source, f"{where}.{kind}", values, "must be [lo, hi]")
        lo, hi = (_number(source, f"{where}.{kind}", v, integer=(kind == "int")) for v in values)
        if lo >= hi:
            raise _err(source, f"{where}.{kind}", values, "is empty or inverted: needs lo < hi")
        if kind == "loguniform" and lo <= 0:
            raise _err(source, f"{where}.{kind}", values, "needs lo > 0 for a log scale")
        values = [lo, hi]
        # An interior non-integer point too: an integer key (len, patch_num) needs an {int: [lo, hi]} range.
        probe = [lo, hi, lo + (hi - lo) / math.pi] if kind != "int" else [int(lo), int(hi)]
    else:
        if len(set(map(repr, values))) != len(values):
            raise _err(source, f"{where}.{kind}", values, "has repeated values")
        probe = values
    _check_trial_values(source, key, f"{where}.{kind}", probe, base)
    when = spec.get("when") or {}
    if not isinstance(when, dict) or not when:
        if "when" in spec:
            raise _err(source, f"{where}.when", spec["when"], "must be a mapping {key: value}")
    typed_when = {}
    for wk, wv in when.items():
        if wk not in valid_keys:
            raise _err(source, f"{where}.when.{wk}", wv, "is not a trial config key")
        try:   # the value a trial config would hold (yes/on -> true, 1 -> 1.0), so the condition can match
            typed_when[wk] = flatten(to_dict(build_config(deep_merge(base, unflatten({wk: wv})))))[wk]
        except ConfigError as exc:
            raise _err(source, f"{where}.when.{wk}", wv, f"can never match: {exc.key} {exc.allowed}") from None
    return Dimension(key=key, kind=kind, values=list(values), when=typed_when)


def _rows_dimension(source: str, spec, base: dict) -> Dimension:
    where = f"search_space.{ROWS_KEY}"
    if not isinstance(spec, dict) or set(spec) - {"grid", "choice"} or len(spec) != 1:
        raise _err(source, where, spec, "must be {grid: [mapping, ...]} or {choice: [mapping, ...]}")
    kind, rows = next(iter(spec.items()))
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) and r for r in rows):
        raise _err(source, f"{where}.{kind}", rows, "must be a non-empty list of non-empty mappings of trial config keys")
    for i, row in enumerate(rows):
        try:
            build_config(deep_merge(base, unflatten(flatten(row))))
        except ConfigError as exc:
            raise _err(source, f"{where}.{kind}[{i}].{exc.key}", exc.value, exc.allowed) from None
    return Dimension(key=ROWS_KEY, kind=kind, values=rows)


def parse_sweep(data: dict, source: str = "<sweep>", overrides: list[str] | None = None,
                cwd: str | os.PathLike | None = None) -> Sweep:
    """Validate a sweep mapping (+ --set overrides) into a Sweep. Raises ConfigError naming the key."""
    data = deep_merge(data, parse_overrides(overrides)) if overrides else data
    cwd = Path(cwd or os.getcwd()).resolve()
    for k in data:
        if k not in TOP_KEYS:
            raise _err(source, k, data[k], "unknown key; allowed: " + ", ".join(TOP_KEYS))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "/\\ "):
        raise _err(source, "name", name, "must be a non-empty string without spaces or slashes")

    base_raw = data.get("base") or {}
    if not isinstance(base_raw, dict):
        raise _err(source, "base", base_raw, "must be a mapping of trial config keys")
    base = unflatten(flatten(base_raw))  # accept dotted and nested keys alike
    base_cfg = build_config(base, f"{source}: base")
    valid_keys = set(flatten(to_dict(base_cfg)))

    space = data.get("search_space") or {}
    if not isinstance(space, dict):
        raise _err(source, "search_space", space, "must be a mapping of trial config keys to distributions")
    dims = [_dimension(source, k, v, base, valid_keys) for k, v in space.items()]
    data_path = base_cfg.data
    if not data_path.startswith("builtin:") and "://" not in data_path:
        resolved = (cwd / data_path).resolve()
        if not resolved.exists():
            raise _err(source, "base.data", data_path, f"does not exist (resolved to {resolved}); a folder, zip, "
                       "prepared set or builtin:digits, at the same path on every Ray node")
        base = deep_merge(base, {"data": str(resolved)})  # Ray runs trials in their own folders

    search = _mapping(source, "search", data.get("search"), SEARCH_KEYS)
    algorithm = _choice(source, "search.algorithm", search.get("algorithm", "optuna"), ("optuna", "grid", "random"))
    if algorithm == "optuna" and ROWS_KEY in space:
        raise _err(source, f"search_space.{ROWS_KEY}", space[ROWS_KEY], "needs search.algorithm grid or random "
                   "(Optuna samples single keys)")
    sampler = _choice(source, "search.sampler", search.get("sampler", "tpe"), ("tpe", "random"))
    num_samples = _number(source, "search.num_samples", search.get("num_samples", 1), integer=True, minimum=1)
    max_concurrent = _number(source, "search.max_concurrent", search.get("max_concurrent", 0), integer=True, minimum=0)
    search_seed = _number(source, "search.seed", search.get("seed", 0), integer=True, minimum=0)
    if algorithm == "grid":
        continuous = [d.key for d in dims if d.kind not in ("grid", "choice")]
        if continuous:
            raise _err(source, f"search_space.{continuous[0]}", space[continuous[0]],
                       "search.algorithm grid needs {grid: [...]} or {choice: [...]} dimensions")
    points = search.get("points_to_evaluate") or []
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise _err(source, "search.points_to_evaluate", points, "must be a list of {key: value} mappings")
    dims_by_key = {d.key: d for d in dims}
    for i, point in enumerate(points):
        for k, v in point.items():
            if k not in dims_by_key:
                raise _err(source, f"search.points_to_evaluate[{i}].{k}", v,
                           "is not a search_space key; allowed: " + ", ".join(sorted(dims_by_key)))
            dim = dims_by_key[k]
            if dim.kind in ("choice", "grid") and v not in dim.values:
                raise _err(source, f"search.points_to_evaluate[{i}].{k}", v,
                           f"is not one of the search_space {dim.kind} values {dim.values}")
            if dim.kind in ("int", "uniform", "loguniform") and not (
                    isinstance(v, (int, float)) and not isinstance(v, bool) and dim.values[0] <= v <= dim.values[1]):
                raise _err(source, f"search.points_to_evaluate[{i}].{k}", v,
                           f"is outside the search_space {dim.kind} range [{dim.values[0]:g}, {dim.values[1]:g}]")
        try:
            build_config(deep_merge(base, unflatten(point)))
        except ConfigError as exc:
            raise _err(source, f"search.points_to_evaluate[{i}].{exc.key}", exc.value, exc.allowed) from None
    storage = search.get("storage")
    if storage is not None and not (isinstance(storage, str) and "://" in storage):
        raise _err(source, "search.storage", storage, "must be an RDB URL such as sqlite:////abs/path/optuna.db")

    objective = _mapping(source, "objective", data.get("objective"), OBJECTIVE_KEYS)
    metric = _choice(source, "objective.metric", objective.get("metric", "fid"), METRICS)
    mode = _choice(source, "objective.mode", objective.get("mode", "min"), ("min", "max"))
    if metric == "fid" and mode != "min":
        raise _err(source, "objective.mode", mode, "must be min for metric fid (lower FID is better)")

    sched = _mapping(source, "scheduler", data.get("scheduler"), SCHEDULER_KEYS)
    sched_type = _choice(source, "scheduler.type", sched.get("type", "asha"), ("asha", "none"))
    for k, expected in (("metric", metric), ("mode", mode), ("time_attr", "kimg")):
        if k in sched and sched[k] != expected:
            raise _err(source, f"scheduler.{k}", sched[k], f"conflicts with {'objective.' + k if k != 'time_attr' else 'the time attribute'} "
                       f"({expected}); the scheduler and the searcher must use the same {k}")
    total_kimg = base_cfg.total_kimg
    grace = _number(source, "scheduler.grace_period", sched.get("grace_period", base_cfg.milestones_kimg[0]),
                    minimum=0, exclusive=True)
    reduction = _number(source, "scheduler.reduction_factor", sched.get("reduction_factor", 2), minimum=1, exclusive=True)
    max_t = sched.get("max_t")
    if max_t is not None:
        _number(source, "scheduler.max_t", max_t, minimum=grace, exclusive=True)
    if sched_type == "asha" and grace > total_kimg:
        raise _err(source, "scheduler.grace_period", grace, f"must not exceed base total_kimg ({total_kimg:g})")

    seeds_raw = data.get("seeds", [base_cfg.seed])
    if isinstance(seeds_raw, int) and not isinstance(seeds_raw, bool):
        if seeds_raw < 1:
            raise _err(source, "seeds", seeds_raw, "a count must be >= 1 (or give a list of seeds)")
        seeds = list(range(seeds_raw))
    elif isinstance(seeds_raw, list) and seeds_raw and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds_raw):
        if len(set(seeds_raw)) != len(seeds_raw):
            raise _err(source, "seeds", seeds_raw, "has repeated seeds")
        seeds = list(seeds_raw)
    else:
        raise _err(source, "seeds", seeds_raw, "must be a count >= 1 or a non-empty list of integers >= 0")
    if "seed" in dims_by_key and len(seeds) > 1:
        raise _err(source, "seeds", seeds_raw, "cannot be combined with a `seed` dimension in search_space")

    resources = _mapping(source, "resources", data.get("resources"), RESOURCE_KEYS)
    cpu = _number(source, "resources.cpu", resources.get("cpu", 1), minimum=0, exclusive=True)
    gpu = _number(source, "resources.gpu", resources.get("gpu", 0), minimum=0)
    if gpu > 1 and not float(gpu).is_integer():
        raise _err(source, "resources.gpu", gpu, "must be a fraction <= 1 or a whole number of GPUs")
    if gpu > 0 and base_cfg.device == "cpu":
        raise _err(source, "base.device", "cpu", "conflicts with resources.gpu > 0")
    max_failures = _number(source, "max_failures", data.get("max_failures", 2), integer=True, minimum=-1)

    ml = _mapping(source, "mlflow", data.get("mlflow"), MLFLOW_KEYS)
    tracking_uri = ml.get("tracking_uri")
    if tracking_uri is not None and not isinstance(tracking_uri, str):
        raise _err(source, "mlflow.tracking_uri", tracking_uri, "must be a string URI (http://host:5000, sqlite:////abs/path.db)")
    tracking_uri = resolve_tracking_uri(tracking_uri, cwd)   # the YAML, else $MLFLOW_TRACKING_URI, else ./mlflow.db
    experiment = ml.get("experiment", name)
    if not isinstance(experiment, str) or not experiment:
        raise _err(source, "mlflow.experiment", experiment, "must be a non-empty string")

    storage_path = data.get("storage_path") or str(cwd / "ray_results")
    if not isinstance(storage_path, str):
        raise _err(source, "storage_path", storage_path, "must be a path or URI string")
    if "://" not in storage_path:
        storage_path = str((cwd / storage_path).resolve())

    # MLflow steps are whole kimg: a table column per milestone.
    for m in base_cfg.milestones_kimg:
        if not float(m).is_integer():
            raise _err(source, "base.milestones_kimg", base_cfg.milestones_kimg,
                       "must be whole kimg in a sweep (they are the MLflow steps and the table's columns)")

    return Sweep(name=name, source=source, base=base, dimensions=dims, algorithm=algorithm, sampler=sampler,
                 search_seed=search_seed, num_samples=num_samples, max_concurrent=max_concurrent,
                 points_to_evaluate=points, optuna_storage=storage, scheduler=sched_type, grace_period=grace,
                 reduction_factor=reduction, max_t=max_t, metric=metric, mode=mode, seeds=seeds, cpu=cpu, gpu=gpu,
                 max_failures=max_failures, tracking_uri=tracking_uri,
                 experiment=experiment, storage_path=storage_path)


def load_sweep(path: str | os.PathLike, overrides: list[str] | None = None) -> Sweep:
    return parse_sweep(read_yaml(path), str(path), overrides)


def trial_config(sweep: Sweep, params: dict[str, Any], seed: int | None) -> TrainConfig:
    """The resolved trial config: base <- sampled params (conditions applied) <- seed."""
    values = dict(params)
    base = deep_merge(sweep.base, unflatten(flatten(values.pop(ROWS_KEY, {}))))
    flat_base = flatten(to_dict(build_config(base, f"{sweep.source}: trial")))
    for dim in sweep.dimensions:
        if dim.key in values and dim.when:
            current = {**flat_base, **values}
            if any(current.get(k) != v for k, v in dim.when.items()):
                values.pop(dim.key)
    over = unflatten(values)
    if seed is not None:
        over["seed"] = seed
    return build_config(deep_merge(base, over), f"{sweep.source}: trial")


def describe(sweep: Sweep) -> str:
    """The resolved sweep, as `--dry-run` prints it."""
    lines = [f"sweep {sweep.name}  (from {sweep.source})",
             f"  search      {sweep.algorithm}" + (f" ({sweep.sampler}, seed {sweep.search_seed})" if sweep.algorithm == "optuna" else ""),
             f"  trials      {sweep.total_trials}  (num_samples {sweep.num_samples} x seeds {sweep.seeds}"
             + (", x grid" if sweep.algorithm == "grid" else "") + ")",
             f"  concurrent  {sweep.max_concurrent or 'as resources allow'}",
             f"  scheduler   {sweep.scheduler}" + (f" (metric {sweep.metric} {sweep.mode}, time kimg, grace {sweep.grace_period:g}, "
                                                   f"reduction {sweep.reduction_factor:g})" if sweep.scheduler == "asha" else ""),
             f"  resources   cpu {sweep.cpu:g}, gpu {sweep.gpu:g} per trial; max_failures {sweep.max_failures}",
             f"  mlflow      {sweep.tracking_uri}  experiment '{sweep.experiment}'",
             f"  ray results {sweep.storage_path}/{sweep.name}-<YYYYmmdd-HHMMSS>",
             "  search space:"]
    for d in sweep.dimensions:
        cond = f"  when {d.when}" if d.when else ""
        lines.append(f"    {d.key:<24} {d.kind} {d.values}{cond}")
    if sweep.points_to_evaluate:
        lines.append(f"  points to evaluate first: {sweep.points_to_evaluate}")
    base = sweep.base_config()
    lines.append(f"  base: data {base.data}, {base.resolution}px, batch {base.batch}, total {base.total_kimg:g} kimg, "
                 f"milestones {base.milestones_kimg}, fid_samples {base.fid_samples}")
    return "\n".join(lines)
