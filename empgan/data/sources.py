"""List the image files of a source (a folder, nested or not, or a zip), sorted by relative path.

Files count as images by extension (case-insensitive, `images.IMAGE_EXTENSIONS`); every other
file is ignored and only counted. Hidden entries (a path part starting with '.', such as
'.DS_Store' or macOS '._name.png' forks) and zip '__MACOSX/' folders are ignored too. Names are
POSIX relative paths, so a folder and a zip of the same tree list the same names in the same order
(Python string order, case-sensitive).
"""

from __future__ import annotations

import contextlib
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from empgan.data.images import IMAGE_EXTENSIONS, ImageDecodeError
from empgan.errors import UserError


@dataclass(frozen=True)
class SourceFile:
    name: str                       # POSIX path relative to the source root
    read: Callable[[], bytes]       # raises ImageDecodeError when the bytes cannot be read


@dataclass(frozen=True)
class SourceListing:
    files: list[SourceFile]         # image files, sorted by name
    ignored: int                    # files without an image extension (or hidden)


def is_image_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    if any(part.startswith(".") or part == "__MACOSX" for part in parts):
        return False
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


@contextlib.contextmanager
def open_source(path: Path) -> Iterator[SourceListing]:
    """A folder or a zip file -> its listing; a zip stays open (and readable) inside the block."""
    if not path.exists():
        raise UserError(f"data source '{path}' does not exist")
    if path.is_dir():
        yield _list_folder(path)
        return
    if not zipfile.is_zipfile(path):
        raise UserError(f"data source '{path}' is a file but not a zip; expected a folder of images or a .zip of them")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"data source '{path}' is not a readable zip: {exc}") from None
    with archive:
        yield _list_zip(archive)


def _list_folder(root: Path) -> SourceListing:
    names, ignored = [], 0
    seen_folders = set()                 # real paths walked, so a symlink loop is walked once
    for folder, subfolders, filenames in os.walk(root, followlinks=True):   # datasets are often symlinked in
        real = os.path.realpath(folder)
        if real in seen_folders:
            subfolders[:] = []
            continue
        seen_folders.add(real)
        for filename in filenames:
            name = Path(folder, filename).relative_to(root).as_posix()
            if is_image_name(name):
                names.append(name)
            else:
                ignored += 1
    files = [SourceFile(name, _file_reader(root / name)) for name in sorted(names)]
    return SourceListing(files, ignored)


def _list_zip(archive: zipfile.ZipFile) -> SourceListing:
    members, ignored = {}, 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        name = info.filename.replace("\\", "/")
        if is_image_name(name):
            members[name] = info
        else:
            ignored += 1
    files = [SourceFile(name, _member_reader(archive, members[name])) for name in sorted(members)]
    return SourceListing(files, ignored)


def _file_reader(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ImageDecodeError(f"cannot read file: {exc.strerror or exc}") from None
    return read


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return archive.read(info)
        except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
            raise ImageDecodeError(f"cannot read zip member: {exc}") from None
    return read
