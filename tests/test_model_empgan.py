"""The composite EMP-GAN model: shapes, losses, and which parameters each step trains."""

import pytest
import torch

from empgan.config import deep_merge, load_config
from empgan.errors import ConfigError
from empgan.model import EMPGAN

KINDS = {
    "PG":   {},
    "EG":   {"emp": True, "patch_num": 4, "prob": 1.0},
    "EG-C": {"emp": True, "patch_num": 4, "prob": 1.0, "proj_reduce": True},
}
# Logits per view: heads on projected maps of a native R px input (map sizes R/2, R/4, R/8, R/16).
NUM_LOGITS = {32: 25 + 25 + 1 + 1, 64: 25 + 25 + 25 + 1, 256: 4 * 25}


def make_model(resolution=32, batch=4, seed=0, **overrides) -> tuple[EMPGAN, object]:
    base = {"resolution": resolution, "batch": batch, "pretrained": False,
            "model": {"ngf": 8, "z_dim": 16, "feature_resize": 0}, "emp_loss": {"hidden": 32}}
    cfg = load_config(None, deep_merge(base, overrides))
    torch.manual_seed(seed)
    return EMPGAN(cfg).train(), cfg


def batch_of(cfg, seed=1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    real = torch.rand(cfg.batch, 3, cfg.resolution, cfg.resolution, generator=gen) * 2 - 1  # [B, 3, R, R]
    return real, torch.randn(cfg.batch, cfg.model.z_dim, generator=gen)


def adam_step(params, loss) -> None:
    optimiser = torch.optim.Adam(params, lr=2e-4, betas=(0.0, 0.99))
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def params_of(module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def state_of(module) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in module.state_dict().items()}


def changed(before: dict, now: dict) -> set[str]:
    return {name for name, value in before.items() if not torch.equal(value, now[name])}


# ---- forward / backward at 32, 64 and 256 px ---------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("resolution", [32, 64, 256])
def test_shapes_losses_and_gradients(resolution, kind):
    model, cfg = make_model(resolution, batch=2 if resolution == 256 else 4, **KINDS[kind])
    real, z = batch_of(cfg)
    views = model.views(real)
    assert views.shape == (cfg.patch_num * cfg.batch, 3, resolution, resolution)
    assert model.D.heads.num_logits == NUM_LOGITS[resolution]

    d_total, d_stats = model.d_loss(real, z)
    assert set(d_stats) == {"loss/d_real", "loss/d_fake", "loss/emp", "emp/tcr", "emp/invariance"}
    assert all(v.dim() == 0 and not v.requires_grad for v in d_stats.values())
    assert torch.isfinite(d_total)
    if kind == "PG":
        assert d_stats["loss/emp"] == 0 and d_stats["emp/tcr"] == 0
        torch.testing.assert_close(d_total, d_stats["loss/d_real"] + d_stats["loss/d_fake"])
    else:
        assert d_stats["emp/tcr"] > 0 and 0 < d_stats["emp/invariance"] < 1
        torch.testing.assert_close(d_stats["loss/emp"], -200 * d_stats["emp/invariance"] - d_stats["emp/tcr"])
    d_total.backward()
    for p in model.d_trainable_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()

    g_total, g_stats = model.g_loss(z)
    assert torch.isfinite(g_total) and g_stats["loss/g"] == g_total.detach()
    g_total.backward()
    grads = [p.grad for p in model.g_trainable_parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0
    assert model.G(z).shape == (cfg.batch, 3, resolution, resolution)


# ---- which parameters each step trains ---------------------------------------------------------

def test_d_step_trains_heads_projector_and_last_stage_only():
    model, cfg = make_model(**KINDS["EG"])
    features = model.D.feature_network
    before = {"heads": params_of(model.D.heads), "projector": params_of(model.projector),
              "last": params_of(features.last_stage), "early": state_of(features.stages[:3]),
              "feature_buffers": {n: b.clone() for n, b in features.named_buffers()},
              "projection": state_of(model.D.projection), "G": params_of(model.G)}
    loss, _ = model.d_loss(*batch_of(cfg))
    adam_step(model.d_trainable_parameters(), loss)

    assert changed(before["heads"], params_of(model.D.heads)) == set(before["heads"])
    assert changed(before["projector"], params_of(model.projector)) == set(before["projector"])
    assert changed(before["last"], params_of(features.last_stage))
    assert not changed(before["early"], state_of(features.stages[:3]))
    assert not changed(before["feature_buffers"], dict(features.named_buffers()))
    assert not changed(before["projection"], state_of(model.D.projection))
    assert not changed(before["G"], params_of(model.G))
    assert all(p.grad is None for p in model.G.parameters())


def test_g_step_trains_the_generator_only():
    model, cfg = make_model(**KINDS["EG"])
    model.d_loss(*batch_of(cfg))                                               # the trainer alternates steps
    before_g, before_d = params_of(model.G), state_of(model.D.feature_network)
    before_heads, before_projector = params_of(model.D.heads), params_of(model.projector)
    loss, stats = model.g_loss(batch_of(cfg)[1])
    adam_step(model.g_trainable_parameters(), loss)

    assert changed(before_g, params_of(model.G)) == set(before_g)
    assert not changed(before_heads, params_of(model.D.heads))
    assert not changed(before_projector, params_of(model.projector))
    assert not changed(before_d, state_of(model.D.feature_network))
    assert all(p.grad is None for p in model.d_trainable_parameters())
    assert stats["loss/g_emp"] == 0                                            # emp_loss.on_fake is off


def test_hinge_never_reaches_the_last_stage():
    grads = {}
    for w in (1.0, 0.0):
        model, cfg = make_model(w=w, **KINDS["EG"])
        torch.manual_seed(5)
        loss, _ = model.d_loss(*batch_of(cfg))
        loss.backward()
        grads[w] = [p.grad.clone() for p in model.D.feature_network.last_stage.parameters()]
        head_grads = [p.grad for p in model.D.heads.parameters()]
        assert all(g.abs().sum() == 0 for g in head_grads) == (w == 0)
    assert sum(g.abs().sum() for g in grads[0.0]) > 0
    for with_hinge, emp_only in zip(grads[1.0], grads[0.0]):
        torch.testing.assert_close(with_hinge, emp_only, rtol=0, atol=0)


def test_with_w_zero_only_emp_trains():
    model, cfg = make_model(w=0.0, **KINDS["EG"])
    heads, projector = params_of(model.D.heads), params_of(model.projector)
    last = params_of(model.D.feature_network.last_stage)
    loss, stats = model.d_loss(*batch_of(cfg))
    torch.testing.assert_close(loss.detach(), stats["loss/emp"])
    adam_step(model.d_trainable_parameters(), loss)
    assert not changed(heads, params_of(model.D.heads))
    assert changed(projector, params_of(model.projector)) == set(projector)
    assert changed(last, params_of(model.D.feature_network.last_stage))


def test_emp_off_leaves_the_last_stage_alone():
    model, cfg = make_model(patch_num=2, prob=1.0)
    assert model.projector is None
    assert {id(p) for p in model.d_trainable_parameters()} == {id(p) for p in model.D.heads.parameters()}
    last = state_of(model.D.feature_network.last_stage)
    loss, _ = model.d_loss(*batch_of(cfg))
    adam_step(model.d_trainable_parameters(), loss)
    assert not changed(last, state_of(model.D.feature_network.last_stage))


def test_tune_backbone_none_trains_the_projector_only():
    model, cfg = make_model(emp_loss={"tune_backbone": "none"}, **KINDS["EG"])
    trainable = {id(p) for p in model.d_trainable_parameters()}
    assert trainable == {id(p) for p in [*model.D.heads.parameters(), *model.projector.parameters()]}
    last, projector = state_of(model.D.feature_network.last_stage), params_of(model.projector)
    loss, _ = model.d_loss(*batch_of(cfg))
    adam_step(model.d_trainable_parameters(), loss)
    assert not changed(last, state_of(model.D.feature_network.last_stage))
    assert changed(projector, params_of(model.projector)) == set(projector)


def test_emp_on_fake_views_trains_g_not_the_projector():
    model, cfg = make_model(emp_loss={"on_fake": True}, **KINDS["EG"])
    projector, generator = params_of(model.projector), params_of(model.G)
    loss, stats = model.g_loss(batch_of(cfg)[1])
    assert stats["loss/g_emp"] < 0                                            # -200 * invariance - TCR
    torch.testing.assert_close(loss.detach(), stats["loss/g"] + stats["loss/g_emp"])
    adam_step(model.g_trainable_parameters(), loss)
    assert not changed(projector, params_of(model.projector))
    assert changed(generator, params_of(model.G)) == set(generator)


# ---- structure ---------------------------------------------------------------------------------

def test_pg_has_no_projector_and_one_plain_view():
    model, cfg = make_model()
    assert cfg.model_kind == "PG" and model.projector is None
    assert not any("projector" in name for name, _ in model.named_parameters())
    assert model.views.patch_num == 1 and model.views.ada.probability == 0


def test_projector_sizes_with_and_without_reduction():
    plain, _ = make_model(resolution=64, len=8, **KINDS["EG"])                 # deepest map 320 x 2 x 2
    reduced, _ = make_model(resolution=64, len=8, **KINDS["EG-C"])             # 1x1 conv to 16 channels
    assert plain.projector.mlp[0].in_features == 320 * 2 * 2
    assert reduced.projector.mlp[0].in_features == 16 * 2 * 2
    assert reduced.projector.reduce.out_channels == 16
    z = reduced.projector(torch.randn(6, 320, 2, 2))
    assert z.shape == (6, 8)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(6))


def test_train_and_eval_keep_the_frozen_parts_in_eval_mode():
    model, _ = make_model(**KINDS["EG"])
    model.train()
    assert model.D.heads.training and model.G.training and model.projector.training
    assert not any(m.training for m in model.D.feature_network.modules())
    assert not any(m.training for m in model.D.projection.modules())
    model.eval()
    assert not any(m.training for m in model.modules())


def test_feature_resize_224_resizes_small_inputs():
    model, cfg = make_model(resolution=32, batch=2, model={"feature_resize": 224})
    real, z = batch_of(cfg)
    assert model.views(real).shape == (2, 3, 224, 224)
    assert model.D.feature_sizes == [56, 28, 14, 7]
    assert model.D.heads.num_logits == 4 * 16                                  # as Projected GAN at 224
    d_total, _ = model.d_loss(real, z)
    assert torch.isfinite(d_total)


def test_feature_resize_must_be_a_multiple_of_the_stride():
    with pytest.raises(ConfigError, match=r"'model.feature_resize' = 100: must be 0 \(native size\) or a multiple of 32"):
        make_model(model={"feature_resize": 100})
