"""Reading import sources (a zip archive or a server folder) without trusting member names.

Nothing is ever extracted to a path derived from a member name: members are read into memory one
at a time. A zip is checked as a whole before any member is read: names that escape the archive
(`..`, absolute paths, drive letters), symbolic links, encrypted members, too many members, too
large an unpacked total or member, a suspicious compression ratio (zip bombs) and member names in
a legacy code page are all refused.
"""

import os
import posixpath
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Protocol

from django.conf import settings
from django.core.files.storage import default_storage

from experiments.imports.problems import Problem

# Files that archivers and desktops add; never stimuli, never worth a complaint.
JUNK_PREFIXES = ("__MACOSX/",)
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
RATIO_CHECK_MIN_BYTES = 1024 * 1024  # tiny members compress well legitimately (CSV, blank PNGs)
UTF8_NAME_FLAG = 0x800  # general purpose bit 11 (APPNOTE 4.4.4): the name is UTF-8
REZIP_HINT = (
    "re-create the zip with UTF-8 names, e.g. with 7-Zip: 7z a -tzip -mcu=on stimuli.zip <folder>, "
    "or with Info-ZIP zip 3.0 or macOS Finder (both write UTF-8 names)"
)


def is_junk(name: str) -> bool:
    base = posixpath.basename(name)
    return name.startswith(JUNK_PREFIXES) or base in JUNK_NAMES or base.startswith("._")


def unsafe_name_reason(name: str, *, within: str = "the archive") -> str:
    """Why a name could escape the import folder ('' when it is safe). `within` says where the
    name was written: "the archive" for a zip member, "the manifest" for a file cell."""
    if "\x00" in name:
        return "the name contains a NUL byte"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        if within == "the archive":
            return "absolute paths are not allowed in an archive"
        return f"absolute paths are not allowed in {within}: give the path relative to it"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return f"'..' in a path is not allowed in {within} (it could escape the import folder)"
    return ""


class Source(Protocol):
    """What a planner needs: the member names (files only, '/'-separated) and their bytes."""

    label: str

    def names(self) -> list[str]: ...

    def read(self, name: str) -> bytes: ...


@dataclass
class ZipSource:
    archive: zipfile.ZipFile
    label: str = "archive"
    members: dict[str, zipfile.ZipInfo] = field(default_factory=dict)

    def names(self) -> list[str]:
        return list(self.members)

    def read(self, name: str) -> bytes:
        info = self.members[name]
        with self.archive.open(info) as handle:
            # zipfile stops at the declared size, which check_zip has capped.
            return handle.read(info.file_size + 1)[: info.file_size]


def member_name(info: zipfile.ZipInfo) -> str | None:
    """The member's name as written, or None when it is in a legacy code page.

    Without the UTF-8 flag, zipfile decodes names as CP437, so a GBK or Shift-JIS name turns into
    mojibake that matches no manifest row. Names whose raw bytes are valid UTF-8 (zip tools that
    write UTF-8 without setting the flag) are read as UTF-8; anything else cannot be trusted.
    """
    name = info.filename
    if info.flag_bits & UTF8_NAME_FLAG or name.isascii():
        return name
    try:
        return name.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None


def _legacy_names_problem(raw: list[str]) -> Problem:
    shown = ", ".join(n.encode("cp437").decode("utf-8", "backslashreplace") for n in raw[:3])
    return Problem(
        f"{len(raw):,} member name(s) are not UTF-8 encoded (e.g. {shown}), so they cannot be matched "
        f"with the manifest; {REZIP_HINT}"
    )


def check_zip(archive: zipfile.ZipFile) -> tuple[dict[str, zipfile.ZipInfo], list[Problem]]:
    """The safe file members of the archive by name, and every reason to refuse it."""
    max_members = settings.STIMULUS_IMPORT_MAX_MEMBERS
    max_total = settings.STIMULUS_IMPORT_MAX_UNPACKED_BYTES
    max_member = settings.STIMULUS_IMPORT_MAX_MEMBER_BYTES
    max_ratio = settings.STIMULUS_IMPORT_MAX_RATIO
    infos = archive.infolist()
    problems: list[Problem] = []
    if len(infos) > max_members:
        return {}, [Problem(f"the archive has {len(infos):,} members; the limit is {max_members:,}")]
    members: dict[str, zipfile.ZipInfo] = {}
    legacy: list[str] = []
    total = 0
    for info in infos:
        decoded = member_name(info)
        if decoded is None:
            if not (info.is_dir() or is_junk(info.filename)):
                legacy.append(info.filename)
            continue
        name = decoded
        reason = unsafe_name_reason(name)
        mode = info.external_attr >> 16
        if reason:
            problems.append(Problem(reason, file=name))
            continue
        if stat.S_ISLNK(mode):
            problems.append(Problem("symbolic links are not allowed in an archive", file=name))
            continue
        if info.is_dir() or is_junk(name):
            continue
        if info.flag_bits & 0x1:
            problems.append(Problem("encrypted members cannot be read", file=name))
            continue
        if name in members:
            problems.append(Problem("the archive holds this name twice", file=name))
            continue
        if info.file_size > max_member:
            problems.append(
                Problem(
                    f"the file unpacks to {info.file_size:,} bytes; the limit is {max_member:,}", file=name
                )
            )
            continue
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > max_ratio * max(
            info.compress_size, 1
        ):
            problems.append(
                Problem(
                    f"compression ratio {info.file_size / max(info.compress_size, 1):,.0f}:1 "
                    f"exceeds {max_ratio}:1 (a zip bomb?)",
                    file=name,
                )
            )
            continue
        total += info.file_size
        members[name] = info
    if legacy:
        problems.append(_legacy_names_problem(legacy))
    if total > max_total:
        problems.append(Problem(f"the archive unpacks to {total:,} bytes; the limit is {max_total:,} bytes"))
    return members, problems


@dataclass
class FolderSource:
    root: str
    label: str = "folder"
    files: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return list(self.files)

    def read(self, name: str) -> bytes:
        # `name` comes from our own walk, never from user input.
        with open(os.path.join(self.root, *name.split("/")), "rb") as handle:
            return handle.read()


def scan_folder(root: str) -> tuple[list[str], list[Problem]]:
    """Relative '/'-separated names of the regular files under root; links are refused."""
    files: list[str] = []
    problems: list[Problem] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                problems.append(Problem("symbolic links are not allowed", file=_join(rel_dir, d)))
                dirnames.remove(d)
        for f in sorted(filenames):
            rel = _join(rel_dir, f)
            full = os.path.join(dirpath, f)
            if os.path.islink(full):
                problems.append(Problem("symbolic links are not allowed", file=rel))
            elif os.path.isfile(full) and not is_junk(rel):
                size = os.path.getsize(full)
                if size > settings.STIMULUS_IMPORT_MAX_MEMBER_BYTES:
                    limit = settings.STIMULUS_IMPORT_MAX_MEMBER_BYTES
                    problems.append(Problem(f"the file is {size:,} bytes; the limit is {limit:,}", file=rel))
                    continue
                files.append(rel)
                total += size
    limit = settings.STIMULUS_IMPORT_MAX_UNPACKED_BYTES
    if total > limit:
        problems.append(Problem(f"the folder holds {total:,} bytes; the limit is {limit:,} bytes"))
    if len(files) > settings.STIMULUS_IMPORT_MAX_MEMBERS:
        problems.append(
            Problem(
                f"the folder holds {len(files):,} files; the limit is {settings.STIMULUS_IMPORT_MAX_MEMBERS:,}"
            )
        )
    return files, problems


def _join(rel_dir: str, name: str) -> str:
    return name if rel_dir == "." else f"{rel_dir.replace(os.sep, '/')}/{name}"


@contextmanager
def open_source(source: str) -> Iterator[tuple[Source | None, list[Problem]]]:
    """Open an import source: an absolute server path (folder or .zip), or a storage name (.zip)."""
    if os.path.isabs(source) and os.path.isdir(source):
        files, problems = scan_folder(source)
        yield FolderSource(root=source, label=os.path.basename(source.rstrip("/")), files=files), problems
        return
    handle: IO[bytes]
    # Closed below.
    handle = open(source, "rb") if os.path.isabs(source) else default_storage.open(source, "rb")  # noqa: SIM115
    try:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            yield None, [Problem(f"not a readable zip archive ({exc})")]
            return
        with archive:
            members, problems = check_zip(archive)
            yield ZipSource(archive=archive, members=members), problems
    finally:
        handle.close()
