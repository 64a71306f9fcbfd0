"""The typed config tree of one training trial.

A trial config is a YAML overlay on these defaults. The top-level keys are the knobs users type
most; the names here are the names that appear in sweeps and in MLflow (`w`, `len`, `prob`, ...).
Every key can be overridden by dotted path: `--set emp_loss.hidden=512`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from empgan.errors import ConfigError, UserError

BUILTIN_CONFIG_DIR = Path(__file__).parent / "configs"
SCIENTIFIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")   # 2e-4, 1E5, .5e-3


@dataclass
class ModelConfig:
    z_dim:          int = 256                       # latent size; z is normalised to unit 2nd moment
    ngf:            int = 128                       # generator width multiplier (FastGAN-lite)
    feature_net:    str = "tf_efficientnet_lite0"   # timm name of the frozen feature network
    feature_weights: Optional[str] = None           # pre-placed weights file (air-gapped clusters)
    feature_resize: int = 224                       # D inputs below this size are resized to it (bilinear); 0 = native size (CPU tests)


@dataclass
class AugmentConfig:
    diffaugment:    str = "color,translation,cutout"  # DiffAugment policy on every input of D
    p_base:         float = 0.2                     # ADA op probability is min(1, prob * p_base)
    mirror:         bool = True                     # x-flip the training set (dataset doubling)


@dataclass
class EmpLossConfig:
    hidden:         int = 1024                      # projector hidden width (EMP-SSL uses 4096)
    reduce_channels: int = 16                       # variant C: 1x1 conv to this many channels
    eps:            float = 0.2                     # TCR distortion, as in EMP-SSL
    inv_weight:     float = 200.0                   # L_EMP = -inv_weight * invariance - tcr_weight * TCR
    tcr_weight:     float = 1.0
    tune_backbone:  Literal["none", "last_stage"] = "last_stage"  # what EMP trains besides the projector
    on_fake:        bool = False                    # also apply EMP to fake views in the G step


@dataclass
class OptimConfig:
    lr_g:           float = 2e-4
    lr_d:           float = 2e-4                    # heads, projector (and last stage via EMP)
    beta1:          float = 0.0
    beta2:          float = 0.99
    ema_kimg:       Optional[float] = None          # G_ema half-life; None: batch * 10 / 32
    ema_rampup:     float = 0.05                    # ramp-up ratio (half-life <= kimg * rampup)


@dataclass
class EvalConfig:
    fid_weights:    Optional[str] = None            # Inception TorchScript; None: env, clean-fid, package
    fid_min_samples: int = 2048                     # fewer generated samples is refused ...
    allow_few_fid_samples: bool = False             # ... unless explicitly allowed (tests, CPU demo)
    fid_batch:      int = 100                       # generator/Inception batch during FID
    fid_real_images: int = 0                        # real images in the FID statistics; 0 = all (fixed subset otherwise)
    cache_dir:      Optional[str] = None            # real-set FID statistics; None: $EMPGAN_CACHE or ~/.cache/empgan
    grid_rows:      int = 4                         # sample grid (fixed z) at every milestone
    grid_cols:      int = 8


@dataclass
class CheckpointConfig:
    keep_last:      int = 3                         # milestone checkpoints kept (the best is kept too)
    interval_s:     float = 0.0                     # extra wall-clock checkpoints; 0 = off


@dataclass
class DivergenceConfig:
    fid_ceiling:    float = 500.0                   # FID above this at a milestone: diverged
    worse_factor:   float = 2.0                     # FID > best * factor ...
    patience:       int = 3                         # ... for this many milestones in a row: diverged


@dataclass
class PerfConfig:
    channels_last:  bool = True                     # NHWC activations and weights in G and D (oneDNN on CPU, tensor cores on GPU)
    autocast:       Literal["off", "bf16"] = "off"  # bf16 autocast of the G and D forwards; losses and EMP in fp32
    compile:        bool = False                    # torch.compile G and the feature network in place; eager if it fails


@dataclass
class TrainConfig:
    data:           str = "builtin:digits"          # folder, zip, prepared set, or builtin:digits
    resolution:     int = 32                        # power of two, 32 .. 1024
    batch:          int = 16                        # real images per iteration
    seed:           int = 0
    total_kimg:     float = 1.0                     # real images shown to D, in thousands
    milestones_kimg: list[float] = field(default_factory=lambda: [0.5, 1.0])
    w:              float = 1.0                     # D objective: w * d_loss + emp_loss
    len:            int = 32                        # projector output length
    prob:           float = 0.0                     # augmentation strength (multiplier of p_base)
    patch_num:      int = 1                         # augmented views of every image seen by D
    proj_reduce:    bool = False                    # variant C
    emp:            bool = False                    # EMP loss on/off (off + 1 view + prob 0 = PG)
    pretrained:     bool = True                     # ImageNet weights for the feature network
    fid_samples:    int = 10000                     # generated samples per FID evaluation
    device:         str = "auto"                    # auto, cpu, cuda, cuda:N
    tick_kimg:      float = 4.0                     # one status line per tick
    model:          ModelConfig = field(default_factory=ModelConfig)
    augment:        AugmentConfig = field(default_factory=AugmentConfig)
    emp_loss:       EmpLossConfig = field(default_factory=EmpLossConfig)
    optim:          OptimConfig = field(default_factory=OptimConfig)
    eval:           EvalConfig = field(default_factory=EvalConfig)
    checkpoint:     CheckpointConfig = field(default_factory=CheckpointConfig)
    divergence:     DivergenceConfig = field(default_factory=DivergenceConfig)
    perf:           PerfConfig = field(default_factory=PerfConfig)

    @property
    def model_kind(self) -> str:
        """'PG' for the Projected GAN baseline, 'EG' for anything with EMP or extra views."""
        return "EG" if (self.emp or self.patch_num > 1 or self.prob > 0) else "PG"


# Keys a resume may change: schedule length and evaluation, never the model or the optimisation.
RESUME_MUTABLE_PREFIXES = ("total_kimg", "milestones_kimg", "fid_samples", "tick_kimg", "device",
                           "eval.", "checkpoint.", "divergence.", "perf.")


# ---------------------------------------------------------------------------------------------
# dict <-> dataclass with key-path errors


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is typing.Union:
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(tp, str(tp))


def _coerce(value, tp, key: str, source: str | None):
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
            if arg is not type(None):
                try:
                    return _coerce(value, arg, key, source)
                except ConfigError:
                    pass
        raise ConfigError(key, value, f"must be {_type_name(tp)}", source)
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(key, value, f"must be {_type_name(tp)}", source)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, value, f"must be {_type_name(tp)}", source)
        (inner,) = typing.get_args(tp)
        return [_coerce(v, inner, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if value in ("on", "off"):  # YAML 1.2 strings users type for `emp: on`
            return value == "on"
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and SCIENTIFIC.fullmatch(value.strip()):
            return float(value)                          # YAML 1.1 reads `2e-4` (no dot) as a string
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ConfigError(key, value, f"must be {_type_name(tp)}", source)


def _from_dict(cls, data: dict, prefix: str, source: str | None):
    if not isinstance(data, dict):
        raise ConfigError(prefix.rstrip(".") or "<root>", data, "must be a mapping of keys", source)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(path, value, "unknown key; allowed: " + ", ".join(sorted(names)), source)
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _from_dict(tp, value, path + ".", source)
        else:
            kwargs[key] = _coerce(value, tp, path, source)
    return cls(**kwargs)


def to_dict(cfg) -> dict:
    """Nested plain dict (YAML- and JSON-safe) of a config dataclass."""
    return dataclasses.asdict(cfg)


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}. Lists stay values."""
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def unflatten(d: dict[str, Any]) -> dict:
    """{'a.b': 1} -> {'a': {'b': 1}}; nested dicts are merged."""
    out: dict = {}
    for key, value in d.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(key, value, f"'{part}' is not a section", None)
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = deep_merge(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return out


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_overrides(items: list[str] | None) -> dict:
    """['a.b=1', 'emp=on'] -> nested dict; values parsed as YAML scalars/lists."""
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--set '{item}': expected key=value (e.g. --set patch_num=4)")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise UserError(f"--set '{item}': the value is not valid YAML ({getattr(exc, 'problem', exc)}); "
                            "e.g. --set milestones_kimg=[1,2]") from None
        out = deep_merge(out, unflatten({key.strip(): value}))
    return out


def read_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise UserError(f"config file '{path}' is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file '{path}' must hold a mapping of keys, got {type(data).__name__}")
    return data


def resolve_config_path(name: str) -> Path:
    """A path, or the name of a shipped config (`cpu_tiny`, `pg`, `eg`) in empgan/configs/."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    builtin = BUILTIN_CONFIG_DIR / f"{name}.yaml"
    if builtin.is_file():
        return builtin
    shipped = sorted(p.stem for p in BUILTIN_CONFIG_DIR.glob("*.yaml"))
    raise UserError(f"config '{name}' is neither a file nor a shipped config; shipped: {', '.join(shipped)}")


def build_config(data: dict, source: str | None = None) -> TrainConfig:
    cfg = _from_dict(TrainConfig, data, "", source)
    validate(cfg, source)
    return cfg


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | dict | None = None) -> TrainConfig:
    """Defaults <- YAML file <- overrides ('a.b=v' strings or a nested dict)."""
    data = read_yaml(resolve_config_path(str(path))) if path is not None else {}
    over = overrides if isinstance(overrides, dict) else parse_overrides(overrides)
    return build_config(deep_merge(data, over), str(path) if path is not None else None)


def validate(cfg: TrainConfig, source: str | None = None) -> None:
    """Ranges and cross-key rules; raises ConfigError naming the key."""

    def check(ok: bool, key: str, allowed: str):
        if not ok:
            value = cfg
            for part in key.split("."):
                value = getattr(value, part)
            raise ConfigError(key, value, allowed, source)

    for key in ("total_kimg", "w", "prob", "optim.lr_g", "optim.lr_d", "emp_loss.eps", "emp_loss.inv_weight",
                "emp_loss.tcr_weight", "divergence.fid_ceiling"):
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        check(math.isfinite(value), key, "must be a finite number")
    res = cfg.resolution
    check(res >= 32 and res <= 1024 and res & (res - 1) == 0, "resolution", "must be a power of two from 32 to 1024")
    check(cfg.batch >= 1, "batch", "must be >= 1")
    check(not cfg.emp or cfg.batch * cfg.patch_num >= 2, "batch",
          "must be >= 2 with emp on and patch_num 1 (the projector's BatchNorm needs two views per step)")
    check(cfg.total_kimg > 0, "total_kimg", "must be > 0")
    check(len(cfg.milestones_kimg) >= 1, "milestones_kimg", "must list at least one milestone (kimg)")
    check(all(m > 0 for m in cfg.milestones_kimg), "milestones_kimg", "must all be > 0")
    check(list(cfg.milestones_kimg) == sorted(set(cfg.milestones_kimg)), "milestones_kimg", "must be strictly increasing")
    check(max(cfg.milestones_kimg) <= cfg.total_kimg, "milestones_kimg", f"must not exceed total_kimg ({cfg.total_kimg})")
    check(cfg.milestones_kimg[-1] == cfg.total_kimg, "total_kimg",
          f"must equal the last milestone ({cfg.milestones_kimg[-1]:g}): training past it is never evaluated")
    check(cfg.w >= 0, "w", "must be >= 0")
    check(cfg.len >= 1, "len", "must be >= 1")
    check(cfg.prob >= 0, "prob", "must be >= 0 (0 = no ADA augmentation)")
    check(cfg.patch_num >= 1, "patch_num", "must be >= 1")
    check(cfg.fid_samples >= 2, "fid_samples", "must be >= 2")
    check(cfg.fid_samples >= cfg.eval.fid_min_samples or cfg.eval.allow_few_fid_samples, "fid_samples",
          f"is below eval.fid_min_samples ({cfg.eval.fid_min_samples}); FID from few samples is biased. "
          "Set eval.allow_few_fid_samples=true to allow it")
    check(cfg.tick_kimg > 0, "tick_kimg", "must be > 0")
    check(re.fullmatch(r"auto|cpu|cuda(:\d+)?", cfg.device) is not None, "device", "must be auto, cpu, cuda or cuda:N")
    check(0 <= cfg.optim.beta1 < 1, "optim.beta1", "must be in [0, 1)")
    check(0 <= cfg.optim.beta2 < 1, "optim.beta2", "must be in [0, 1)")
    check(cfg.model.z_dim >= 1, "model.z_dim", "must be >= 1")
    check(cfg.model.ngf >= 1, "model.ngf", "must be >= 1")
    check(cfg.model.feature_resize >= 0, "model.feature_resize", "must be >= 0 (0 = native size)")
    check(cfg.eval.fid_real_images >= 0, "eval.fid_real_images", "must be >= 0 (0 = all)")
    check(0 <= cfg.augment.p_base <= 1, "augment.p_base", "must be in [0, 1]")
    check(cfg.emp_loss.hidden >= 1, "emp_loss.hidden", "must be >= 1")
    check(cfg.emp_loss.reduce_channels >= 1, "emp_loss.reduce_channels", "must be >= 1")
    check(cfg.emp_loss.eps > 0, "emp_loss.eps", "must be > 0")
    check(cfg.optim.lr_g > 0, "optim.lr_g", "must be > 0")
    check(cfg.optim.lr_d > 0, "optim.lr_d", "must be > 0")
    check(cfg.optim.ema_kimg is None or cfg.optim.ema_kimg >= 0, "optim.ema_kimg", "must be >= 0 or null")
    check(cfg.eval.fid_batch >= 1, "eval.fid_batch", "must be >= 1")
    check(cfg.eval.grid_rows >= 1 and cfg.eval.grid_cols >= 1, "eval.grid_rows", "grid_rows and grid_cols must be >= 1")
    check(cfg.checkpoint.keep_last >= 1, "checkpoint.keep_last", "must be >= 1")
    check(cfg.checkpoint.interval_s >= 0, "checkpoint.interval_s", "must be >= 0 (0 = off)")
    check(cfg.divergence.fid_ceiling > 0, "divergence.fid_ceiling", "must be > 0")
    check(cfg.divergence.worse_factor >= 1, "divergence.worse_factor", "must be >= 1")
    check(cfg.divergence.patience >= 1, "divergence.patience", "must be >= 1")
    if cfg.emp:
        check(cfg.batch >= 2, "batch", "must be >= 2 when emp is on (the coding rate needs several images)")


def resume_differences(old: dict, new: dict) -> list[str]:
    """Dotted keys whose values differ between two resolved configs, minus the keys a resume may change."""
    a, b = flatten(old), flatten(new)
    keys = sorted(set(a) | set(b))
    return [k for k in keys if a.get(k) != b.get(k) and not k.startswith(RESUME_MUTABLE_PREFIXES)]


def dump_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
