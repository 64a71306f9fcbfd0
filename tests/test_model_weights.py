"""Feature-network weights: random init, pre-placed files, and the offline error."""

import huggingface_hub
import pytest
import timm
import torch
from safetensors.torch import save_file

from empgan.errors import UserError
from empgan.model.feature_network import FeatureNetwork

NET = "tf_efficientnet_lite0"


@pytest.fixture
def saved_state():
    torch.manual_seed(7)
    return {k: v.clone() for k, v in timm.create_model(NET, pretrained=False).state_dict().items()}


@pytest.fixture
def offline_without_cache(monkeypatch, tmp_path):
    """No network, an empty Hugging Face cache and no weights folder, whatever the machine has."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("EMPGAN_WEIGHTS_DIR", raising=False)


def assert_loaded(network: FeatureNetwork, state: dict) -> None:
    # The frozen stages carry their BatchNorm folded in: W * gamma / sqrt(running_var + eps), eps 1e-3.
    scale = state["bn1.weight"] * (state["bn1.running_var"] + 1e-3).rsqrt()    # [32]
    stem = network.stages[0][0]
    torch.testing.assert_close(stem.weight, state["conv_stem.weight"] * scale[:, None, None, None])
    torch.testing.assert_close(stem.bias, state["bn1.bias"] - state["bn1.running_mean"] * scale)
    # The last stage (trainable by EMP) keeps its weights and BatchNorms as loaded.
    last_block = network.last_stage[-1][-1]
    torch.testing.assert_close(last_block.conv_pwl.weight, state["blocks.6.0.conv_pwl.weight"], rtol=0, atol=0)
    torch.testing.assert_close(last_block.bn3.running_var, state["blocks.6.0.bn3.running_var"], rtol=0, atol=0)


def test_pretrained_without_weights_offline_names_the_fix(offline_without_cache):
    with pytest.raises(UserError) as err:
        FeatureNetwork(NET, pretrained=True)
    message = str(err.value)
    assert "'pretrained' = True" in message and NET in message
    assert "pretrained=false" in message and "model.feature_weights" in message
    assert "empgan weights fetch" in message and "\n" not in message


def test_weights_file_from_config(tmp_path, saved_state, offline_without_cache):
    path = tmp_path / "lite0.safetensors"
    save_file(saved_state, str(path))
    assert_loaded(FeatureNetwork(NET, pretrained=True, feature_weights=str(path)), saved_state)


def test_weights_dir_from_environment(tmp_path, saved_state, offline_without_cache, monkeypatch):
    torch.save(saved_state, tmp_path / f"{NET}.pth")
    monkeypatch.setenv("EMPGAN_WEIGHTS_DIR", str(tmp_path))
    assert_loaded(FeatureNetwork(NET, pretrained=True), saved_state)


def test_pretrained_false_ignores_weight_files(tmp_path, saved_state, monkeypatch):
    torch.save(saved_state, tmp_path / f"{NET}.pth")
    monkeypatch.setenv("EMPGAN_WEIGHTS_DIR", str(tmp_path))
    network = FeatureNetwork(NET, pretrained=False)
    last_conv = network.last_stage[-1][-1].conv_pwl                           # not folded: compared as loaded
    assert not torch.equal(last_conv.weight, saved_state["blocks.6.0.conv_pwl.weight"])


def test_missing_weights_file_is_a_user_error(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(UserError, match=r"'model.feature_weights' = '.*nope.safetensors': file does not exist"):
        FeatureNetwork(NET, pretrained=True, feature_weights=str(missing))


def test_wrong_weights_file_is_a_user_error(tmp_path):
    wrong = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(UserError, match=rf"weights file '.*other.pth' is not a state dict of '{NET}'"):
        FeatureNetwork(NET, pretrained=True, feature_weights=str(wrong))
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a tensor file")
    with pytest.raises(UserError, match=r"weights file '.*garbage.safetensors' is not a state dict"):
        FeatureNetwork(NET, pretrained=True, feature_weights=str(garbage))


def test_unknown_timm_name_is_a_user_error():
    with pytest.raises(UserError, match=r"'model.feature_net' = 'effnet_b99': not a timm model name"):
        FeatureNetwork("effnet_b99", pretrained=False)
