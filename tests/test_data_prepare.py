"""Prepared sets (folder and zip), their manifest and checks, and `empgan data prepare`."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from empgan.cli import run
from empgan.data import load_image_set, prepare_dataset
from empgan.errors import UserError

R = 16
POKEMON = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pokemon"


def make_source(root: Path) -> Path:
    """Seven images of mixed kinds and sizes (one of them nested), two unreadable ones, one note."""
    rng = np.random.default_rng(0)
    root.mkdir()
    (root / "sub").mkdir()
    for index in range(4):
        pixels = rng.integers(0, 256, (20 + 7 * index, 30, 3), dtype=np.uint8)  # [H, 30, 3]
        Image.fromarray(pixels).save(root / f"photo{index}.jpg", quality=90)
    Image.new("LA", (40, 40), (10, 128)).save(root / "sub" / "gray_alpha.png")
    Image.new("P", (9, 9), 0).save(root / "palette.gif")
    Image.new("RGBA", (5, 3), (0, 200, 0, 255)).save(root / "sub" / "tiny.webp", lossless=True)
    (root / "broken.png").write_bytes(b"not an image")
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("ignored")
    return root


EXPECTED_SKIPPED = [("broken.png", "not a recognised image format (12 bytes)"), ("empty.jpg", "empty file (0 bytes)")]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return make_source(tmp_path_factory.mktemp("data") / "raw")


@pytest.fixture(scope="module")
def raw_set(source):
    return load_image_set(str(source), R)


@pytest.mark.parametrize("dest_name", ["prepared", "prepared.zip"])
def test_prepared_set_round_trip_equals_raw_source(tmp_path, source, raw_set, dest_name):
    dest = tmp_path / dest_name
    summary = prepare_dataset(source, dest, R)
    assert (summary.count, summary.resolution, summary.fit, summary.ignored) == (7, R, "crop", 1)
    assert summary.skipped == EXPECTED_SKIPPED and summary.content_hash == raw_set.content_hash
    assert summary.seconds > 0
    prepared = load_image_set(str(dest), R)
    assert torch.equal(prepared.images, raw_set.images)
    assert prepared.content_hash == raw_set.content_hash
    assert prepared.skipped == EXPECTED_SKIPPED
    assert prepared.source == str(dest)
    assert not list(tmp_path.glob(".*partial*"))


def test_prepared_folder_layout_and_manifest(tmp_path, source, raw_set):
    dest = tmp_path / "prepared"
    prepare_dataset(source, dest, R)
    assert sorted(p.name for p in dest.iterdir()) == [f"{i:08d}.png" for i in range(7)] + ["dataset.json"]
    with Image.open(dest / "00000004.png") as first_png:
        assert (first_png.mode, first_png.size) == ("RGB", (R, R))
    manifest = json.loads((dest / "dataset.json").read_text())
    assert manifest == {
        "format": "empgan-image-set", "version": 1, "resolution": R, "count": 7, "fit": "crop",
        "source": str(source.resolve()), "content_hash": raw_set.content_hash,
        "skipped": [{"file": "broken.png", "reason": "not a recognised image format (12 bytes)"},
                    {"file": "empty.jpg", "reason": "empty file (0 bytes)"}],
        "ignored_files": 1,
        "source_files": ["palette.gif", "photo0.jpg", "photo1.jpg", "photo2.jpg", "photo3.jpg",
                         "sub/gray_alpha.png", "sub/tiny.webp"],
    }


def test_prepared_zip_is_reproducible(tmp_path, source):
    prepare_dataset(source, tmp_path / "one.zip", R)
    prepare_dataset(source, tmp_path / "two.zip", R)
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert archive.namelist() == [f"{i:08d}.png" for i in range(7)] + ["dataset.json"]


def test_pad_fit_is_recorded_and_enforced(tmp_path, source):
    dest = tmp_path / "padded"
    prepare_dataset(source, dest, R, fit="pad")
    padded = load_image_set(str(dest), R)
    assert torch.equal(padded.images, load_image_set(str(source), R, fit="pad").images)
    assert torch.equal(load_image_set(str(dest), R, fit="pad").images, padded.images)
    with pytest.raises(UserError, match=f"prepared set '{dest}' was made with fit 'pad', but fit 'crop' was asked"):
        load_image_set(str(dest), R, fit="crop")


def test_resolution_mismatch_names_both_resolutions(tmp_path, source):
    dest = tmp_path / "at16.zip"
    prepare_dataset(source, dest, R)
    with pytest.raises(UserError) as error:
        load_image_set(str(dest), 32)
    assert str(error.value).startswith(f"prepared set '{dest}' has resolution 16, but resolution 32 was asked")
    assert "--resolution 32" in str(error.value)


def test_modified_prepared_set_is_refused(tmp_path, source):
    dest = tmp_path / "prepared"
    prepare_dataset(source, dest, R)
    Image.new("RGB", (R, R), (1, 2, 3)).save(dest / "00000003.png")
    with pytest.raises(UserError, match="do not match the content_hash in dataset.json"):
        load_image_set(str(dest), R)
    Image.new("L", (R, R), 1).save(dest / "00000003.png")
    with pytest.raises(UserError, match="00000003.png is L 16x16, expected RGB 16x16"):
        load_image_set(str(dest), R)
    (dest / "00000003.png").write_bytes(b"garbage")
    with pytest.raises(UserError, match="00000003.png cannot be read \\(UnidentifiedImageError"):
        load_image_set(str(dest), R)
    (dest / "00000003.png").unlink()
    with pytest.raises(UserError, match="should hold exactly 00000000.png .. 00000006.png \\(7 images"):
        load_image_set(str(dest), R)


def test_foreign_dataset_json_is_read_as_raw_images(tmp_path):
    Image.new("RGB", (R, R), (9, 8, 7)).save(tmp_path / "img.png")
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": None}))  # e.g. StyleGAN's dataset_tool
    assert load_image_set(str(tmp_path), R).images[0, :, 0, 0].tolist() == [9, 8, 7]
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(UserError, match="dataset.json' is not valid JSON"):
        load_image_set(str(tmp_path), R)


def test_existing_destination_and_destination_inside_source_are_refused(tmp_path, source):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(UserError, match=f"destination '{tmp_path / 'taken'}' already exists"):
        prepare_dataset(source, tmp_path / "taken", R)
    with pytest.raises(UserError, match="is inside the source folder"):
        prepare_dataset(source, source / "out", R)
    (tmp_path / "empty").mkdir()
    assert prepare_dataset(source, tmp_path / "empty", R).count == 7


def test_preparing_a_source_without_images_writes_nothing(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bad.png").write_bytes(b"")
    with pytest.raises(UserError, match="has no readable image \\(1 image file\\(s\\) skipped"):
        prepare_dataset(tmp_path / "src", tmp_path / "out.zip", R)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_cli_prepare_prints_a_summary(tmp_path, source, raw_set, capsys):
    dest = tmp_path / "cli.zip"
    assert run(["data", "prepare", str(source), str(dest), "--resolution", str(R)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"wrote 7 images (16x16, fit crop) to {dest} in ") and out[0].endswith(" s")
    assert out[1:] == [f"content hash {raw_set.content_hash}",
                       "skipped 2 unreadable image file(s); ignored 1 non-image file(s)",
                       "  skipped broken.png: not a recognised image format (12 bytes)",
                       "  skipped empty.jpg: empty file (0 bytes)"]
    assert load_image_set(str(dest), R).content_hash == raw_set.content_hash


def test_cli_missing_source_is_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert run(["data", "prepare", str(missing), str(tmp_path / "out"), "--resolution", "64"]) == 2
    err = capsys.readouterr().err
    assert err == f"empgan: error: data source '{missing}' does not exist\n"


def test_cli_bad_resolution_is_one_line_and_exit_2(tmp_path, source, capsys):
    assert run(["data", "prepare", str(source), str(tmp_path / "out"), "--resolution", "100"]) == 2
    assert capsys.readouterr().err == "empgan: error: resolution 100: must be a power of two from 4 to 2048\n"


@pytest.mark.slow
def test_pokemon_prepares_all_800_images_at_64(tmp_path):
    if not POKEMON.is_dir():
        pytest.skip(f"shared Pokemon images not present at {POKEMON}")
    summary = prepare_dataset(POKEMON, tmp_path / "pokemon64.zip", 64)
    assert (summary.count, summary.skipped) == (800, [])
    image_set = load_image_set(str(tmp_path / "pokemon64.zip"), 64)
    assert tuple(image_set.images.shape) == (800, 3, 64, 64)
    assert image_set.content_hash == summary.content_hash
    # Artwork on white: the corners of most images are white.
    corners = image_set.images[:, :, 0, 0]  # [800, 3]
    assert (corners == 255).all(dim=1).float().mean() > 0.9
