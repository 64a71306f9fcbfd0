"""TrainStep and the perf switches: channels_last, bf16 autocast and torch.compile keep the results."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from empgan.config import build_config, resume_differences, to_dict
from empgan.model import EMPGAN
from empgan.train.step import TrainStep

BASE = {"resolution": 32, "batch": 4, "pretrained": False, "emp": True, "patch_num": 2, "prob": 1.0,
        "model": {"ngf": 8, "z_dim": 16, "feature_resize": 0}, "emp_loss": {"hidden": 32}}
PG = {"emp": False, "patch_num": 1, "prob": 0.0}


def one_iteration(perf: dict, **overrides) -> tuple[EMPGAN, dict[str, float]]:
    """One D step and one G step from fixed weights, data and augmentation draws."""
    cfg = build_config({**BASE, **overrides, "perf": perf})
    torch.manual_seed(0)
    model = EMPGAN(cfg).train()
    step = TrainStep(model, cfg, torch.device("cpu"))
    data = torch.Generator().manual_seed(1)
    real = torch.rand(cfg.batch, 3, 32, 32, generator=data) * 2 - 1          # [B, 3, 32, 32]
    z_d, z_g = torch.randn(2, cfg.batch, cfg.model.z_dim, generator=data)    # [B, z_dim] each
    torch.manual_seed(2)                                                       # the views' random draws
    stats = {**step.d_step(real, z_d), **step.g_step(z_g)}
    return model, {k: float(v) for k, v in stats.items()}


def assert_same_gradients(a: EMPGAN, b: EMPGAN, rtol: float = 1e-2) -> None:
    """After one iteration every trainable parameter holds its last step's gradient (D's from the D step, G's from
    the G step); they must agree relative to each tensor's largest entry (1e-4 absolute for gradients that are
    zero in exact arithmetic, e.g. a BatchNorm shift the projector's BatchNorm removes)."""
    grads_b = {name: p.grad for name, p in b.named_parameters()}
    compared = 0
    for name, p in a.named_parameters():
        assert (p.grad is None) == (grads_b[name] is None), name
        if p.grad is not None:
            scale = float(p.grad.abs().max())
            torch.testing.assert_close(grads_b[name], p.grad, rtol=rtol, atol=max(rtol * scale, 1e-4), msg=name)
            compared += scale > 0
    assert compared > 10


def test_channels_last_gives_the_same_losses_and_updates():
    nchw, stats_nchw = one_iteration({"channels_last": False})
    nhwc, stats_nhwc = one_iteration({"channels_last": True})
    assert not nchw.G.to_rgb.weight.is_contiguous(memory_format=torch.channels_last)
    conv_weights = [p for p in nhwc.parameters() if p.dim() == 4 and p.shape[-1] > 1 and p.shape[1] > 1]
    assert conv_weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights)
    views = nhwc.views(torch.zeros(4, 3, 32, 32))
    assert views.shape == (8, 3, 32, 32) and views.is_contiguous(memory_format=torch.channels_last)
    assert set(stats_nchw) == set(stats_nhwc)
    for key in stats_nchw:
        assert stats_nhwc[key] == pytest.approx(stats_nchw[key], rel=1e-4, abs=1e-4), key
    assert_same_gradients(nchw, nhwc)


def test_bf16_autocast_keeps_logits_and_emp_in_fp32_and_close_to_fp32():
    _, fp32 = one_iteration({"autocast": "off"})
    model, bf16 = one_iteration({"autocast": "bf16"})
    for key in ("loss/d_real", "loss/d_fake", "loss/g"):
        assert abs(bf16[key] - fp32[key]) < 0.05, (key, bf16[key], fp32[key])
    assert bf16["emp/tcr"] == pytest.approx(fp32["emp/tcr"], rel=0.05)
    assert bf16["emp/invariance"] == pytest.approx(fp32["emp/invariance"], abs=0.05)
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        maps = model.D.feature_network(model.views(real))
        loss, stats = model.d_loss(real, torch.randn(4, 16))
    assert maps[0].dtype == torch.bfloat16                                     # the networks ran in bf16 ...
    assert loss.dtype == torch.float32 and stats["emp/tcr"].dtype == torch.float32   # ... the losses did not


def test_perf_keys_may_change_on_resume():
    old = to_dict(build_config(BASE))
    new = to_dict(build_config({**BASE, "perf": {"channels_last": False, "autocast": "bf16", "compile": True}}))
    assert resume_differences(old, new) == []
    assert resume_differences(old, to_dict(build_config({**BASE, "patch_num": 4}))) == ["patch_num"]


@pytest.mark.slow
def test_compile_gives_the_eager_results_and_the_same_checkpoint_keys():
    eager, stats_eager = one_iteration({"compile": False}, **PG)
    compiled, stats_compiled = one_iteration({"compile": True}, **PG)
    assert type(compiled.G.forward) is type(eager.G.forward)                   # compiled in place, not wrapped
    assert list(compiled.state_dict()) == list(eager.state_dict())
    for key in stats_eager:
        assert stats_compiled[key] == pytest.approx(stats_eager[key], rel=1e-4, abs=1e-5), key
    assert_same_gradients(eager, compiled)


THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def minor_faults_for_256_mib(env: dict) -> int:
    code = ("import empgan, resource, torch\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "x = torch.ones(64 * 2**20)\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not THP_SETTING.exists() or "[never]" in THP_SETTING.read_text(),
                    reason="transparent huge pages are off on this kernel")
def test_importing_empgan_backs_large_tensors_with_huge_pages():
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    with_thp = minor_faults_for_256_mib(env)
    without = minor_faults_for_256_mib({**env, "THP_MEM_ALLOC_ENABLE": "0"})
    assert without >= 60000                                                    # 4 KiB pages: 65,536 faults
    assert with_thp < without / 20                                             # 2 MiB pages: ~128 (+ a few)
