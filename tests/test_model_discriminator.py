"""The projected discriminator's parts: feature-network stages, random projections, heads."""

import pytest
import timm
import torch

from empgan.errors import ConfigError
from empgan.model.discriminator import ProjectedDiscriminator
from empgan.model.feature_network import FeatureNetwork
from empgan.model.heads import DiscriminatorHead, DownBlock, MultiScaleHeads
from empgan.model.projections import RandomProjection


@pytest.fixture(scope="module")
def feature_network():
    torch.manual_seed(0)
    return FeatureNetwork("tf_efficientnet_lite0", pretrained=False)


def test_stages_channels_and_strides(feature_network):
    assert feature_network.channels == [24, 40, 112, 320]
    assert feature_network.strides == [4, 8, 16, 32]
    assert [len(stage) for stage in feature_network.stages] == [2 + 2, 1, 2, 2]   # stem + bn, then blocks
    maps = feature_network(torch.zeros(2, 3, 64, 64))
    assert [tuple(m.shape) for m in maps] == [(2, 24, 16, 16), (2, 40, 8, 8), (2, 112, 4, 4), (2, 320, 2, 2)]


def randomised_backbone(seed: int = 0) -> torch.nn.Module:
    """tf_efficientnet_lite0 with random weights and random BatchNorm statistics (ImageNet-like, not identity)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    backbone = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    for module in backbone.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
            module.running_var.copy_(torch.rand(n, generator=gen) * 2 + 0.1)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)
    return backbone.eval()


def test_stages_equal_timm_feature_extraction_with_batchnorm_folded():
    backbone = randomised_backbone()
    reference = timm.create_model("tf_efficientnet_lite0", pretrained=False, features_only=True, out_indices=(1, 2, 3, 4))
    missing, unexpected = reference.load_state_dict(backbone.state_dict(), strict=False)
    assert not missing and set(unexpected) == {"conv_head.weight", "bn2.weight", "bn2.bias", "bn2.running_mean",
                                               "bn2.running_var", "bn2.num_batches_tracked", "classifier.weight",
                                               "classifier.bias"}
    reference.eval()
    ours = FeatureNetwork("tf_efficientnet_lite0", backbone=backbone)
    # The three frozen stages have no BatchNorm left (folded into their convs); the last stage keeps its 15.
    early_bns = [m for stage in ours.stages[:-1] for m in stage.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    last_bns = [m for m in ours.last_stage.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert (len(early_bns), len(last_bns)) == (0, 15)
    x = torch.randn(2, 3, 64, 64)                                              # [2, 3, 64, 64]
    with torch.no_grad():
        for k, (mine, theirs) in enumerate(zip(ours(x), reference(x))):
            assert mine.shape == theirs.shape, k
            torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))


def test_batchnorm_folding_keeps_channels_last_features_equal():
    ours = FeatureNetwork("tf_efficientnet_lite0", backbone=randomised_backbone(1))
    x = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        plain = ours(x)
        nhwc = ours.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    for a, b in zip(plain, nhwc):
        assert b.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(a.abs().max()))


def test_feature_network_is_frozen_and_stays_in_eval_mode(feature_network):
    feature_network.train()
    assert not feature_network.training and not any(m.training for m in feature_network.modules())
    assert not any(p.requires_grad for p in feature_network.parameters())


def test_concatenating_real_and_fake_in_the_frozen_network_is_exact(feature_network):
    a, b = torch.randn(2, 3, 32, 32), torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        together = feature_network(torch.cat([a, b]))
        apart = [torch.cat(pair) for pair in zip(feature_network(a), feature_network(b))]
    for x, y in zip(together, apart):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)


def test_non_efficientnet_backbone_is_a_config_error():
    with pytest.raises(ConfigError, match=r"'model.feature_net' = 'resnet18': must be a timm network of the EfficientNet"):
        FeatureNetwork("resnet18", pretrained=False)


def test_random_projection_channels_and_sizes():
    torch.manual_seed(0)
    projection = RandomProjection([24, 40, 112, 320])
    maps = [torch.randn(2, c, s, s) for c, s in zip([24, 40, 112, 320], [56, 28, 14, 7])]
    out = projection(maps)
    assert [tuple(x.shape) for x in out] == [(2, 64, 112, 112), (2, 64, 56, 56), (2, 128, 28, 28), (2, 256, 14, 14)]
    assert [m.out_channels for m in projection.channel_mixing] == [64, 128, 256, 512]
    assert not any(p.requires_grad for p in projection.parameters())
    projection.train()
    assert not projection.training


def test_cross_scale_mixing_adds_the_coarser_level():
    torch.manual_seed(0)
    projection = RandomProjection([3, 3, 3, 3], base_channels=2)
    maps = [torch.randn(1, 3, s, s) for s in (8, 4, 2, 1)]
    out = projection(maps)
    mixed = [ccm(x) for ccm, x in zip(projection.channel_mixing, maps)]
    up = lambda x: torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)  # noqa: E731
    expected_2 = projection.scale_mixing[2](up(mixed[2] + projection.scale_mixing[3](up(mixed[3]))))
    torch.testing.assert_close(out[2], expected_2)


@pytest.mark.parametrize("map_size, down_blocks, logit_size, kernel", [
    (128, 4, 5, 4),    # 256 px input, scale 0
    (112, 4, 4, 4),    # 224 px input, scale 0: as Projected GAN
    (14, 1, 4, 4),     # 224 px input, scale 3
    (8, 0, 5, 4),
    (4, 0, 1, 4),
    (2, 0, 1, 2),      # native 32 px input: map smaller than the 4x4 logit kernel
])
def test_head_depth_and_logit_size(map_size, down_blocks, logit_size, kernel):
    head = DiscriminatorHead(16, map_size)
    assert sum(isinstance(layer, DownBlock) for layer in head) == down_blocks
    assert head[-1].kernel_size == (kernel, kernel)
    assert head.logit_size == logit_size
    assert head(torch.randn(2, 16, map_size, map_size)).shape == (2, 1, logit_size, logit_size)


def test_head_channels_follow_projected_gan():
    head = DiscriminatorHead(64, 112)
    assert [layer[0].out_channels for layer in list(head)[:-1]] == [64, 128, 256, 512]


def test_multi_scale_heads_concatenate_all_logits():
    heads = MultiScaleHeads([64, 64, 128, 256], [32, 16, 8, 4])                # native 64 px input
    maps = [torch.randn(2, c, s, s) for c, s in zip([64, 64, 128, 256], [32, 16, 8, 4])]
    assert heads.num_logits == 25 + 25 + 25 + 1
    logits = heads(maps)
    assert logits.shape == (2, 76)
    torch.testing.assert_close(logits[:, 75:], heads.heads[3](maps[3]).flatten(1))


def test_discriminator_map_sizes_for_224_and_native_32():
    assert ProjectedDiscriminator(224, pretrained=False).feature_sizes == [56, 28, 14, 7]
    d32 = ProjectedDiscriminator(32, pretrained=False)
    assert d32.feature_sizes == [8, 4, 2, 1]
    assert d32.heads.num_logits == 25 + 25 + 1 + 1
