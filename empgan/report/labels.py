"""Row identity and row labels, as the report writes them.

`PG, batch=88` and `EG,patch=8,prob=1,batch=32,w=10,len=32,C` (C: variant C, `proj_reduce` on).
Any other config key whose value differs between rows is appended (`model.ngf=64`), so two
different configurations never share a label; keys equal in every row are left out.
"""

from __future__ import annotations

from empgan.report.units import format_label_value, format_value

# (label name, config key) always shown for rows of that kind, in this order.
HEADLINE = {"PG": (("batch", "batch"),),
            "EG": (("patch", "patch_num"), ("prob", "prob"), ("batch", "batch"), ("w", "w"), ("len", "len"))}
SEPARATOR = {"PG": ", ", "EG": ","}
# Written as flags in EG labels (`C`, `noEMP`) rather than as key=value.
FLAGS = ("proj_reduce", "emp")
# Keys that only matter to EMP-GAN: whether they vary is judged among rows of the same kind, so an
# EG-only setting never lands in a PG label because EG rows use another value.
EG_ONLY = ("patch_num", "prob", "w", "len", "proj_reduce", "emp", "emp_loss.", "augment.p_base")
# Keys that change neither what is trained nor how it is measured: seeds of one configuration are
# grouped across them and labels never show them.
BOOKKEEPING = ("seed", "device", "tick_kimg", "model.feature_weights", "eval.fid_weights", "eval.cache_dir",
               "eval.fid_batch", "eval.fid_min_samples", "eval.allow_few_fid_samples", "eval.grid_rows",
               "eval.grid_cols", "checkpoint.")


def _matches(key: str, names: tuple[str, ...]) -> bool:
    return any(key == n or (n.endswith(".") and key.startswith(n)) for n in names)


def config_key(kind: str, params: dict[str, str]) -> tuple:
    """What makes two runs the same configuration: every param except seed and bookkeeping keys."""
    return (kind,) + tuple(sorted((k, format_value(v)) for k, v in params.items() if not _matches(k, BOOKKEEPING)))


def make_labels(rows: list[tuple[str, dict[str, str]]]) -> list[str]:
    """One label per (kind, params) row, seeds not included."""
    keys = sorted({k for _, params in rows for k in params if not _matches(k, BOOKKEEPING) and k not in FLAGS})
    values_all = {k: {format_value(p.get(k, "")) for _, p in rows} for k in keys}
    varying = {}
    for kind in {kind for kind, _ in rows}:
        own = [p for knd, p in rows if knd == kind]
        shown = {key for _, key in HEADLINE.get(kind, ())}
        varying[kind] = [k for k in keys if k not in shown and len(
            {format_value(p.get(k, "")) for p in own} if _matches(k, EG_ONLY) else values_all[k]) > 1]

    labels = []
    for kind, params in rows:
        parts = [kind] + [f"{name}={format_label_value(params.get(key, '?'))}" for name, key in HEADLINE.get(kind, ())]
        if kind == "EG":
            parts += ["C"] if params.get("proj_reduce") == "True" else []
            parts += ["noEMP"] if params.get("emp") == "False" else []
        parts += [f"{k}={format_label_value(params.get(k, '?'))}" for k in varying[kind]]
        labels.append(SEPARATOR.get(kind, ",").join(parts))
    return labels
