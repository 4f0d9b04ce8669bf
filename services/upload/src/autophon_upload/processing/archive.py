"""Safe extraction of an uploaded zip.

Every member is flattened to its sanitised base name (``safe_name``), so nothing can land
outside ``dest_dir`` whatever the member's path says (``../../x``, ``/etc/x``, ``C:\\x``).
Symbolic links, encrypted members and archives inside the archive are refused; operating-system
clutter (``__MACOSX/``, ``._*``, ``.DS_Store``, ``Thumbs.db``, other hidden files) is skipped.
The uncompressed size is bounded by counting the bytes actually decompressed, since a zip bomb's
headers may lie; the member count is bounded from the end-of-archive record before the central
directory is even parsed.
"""

from __future__ import annotations

import lzma
import stat
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from autophon_core.storage import UnsafeNameError, safe_name
from autophon_upload.processing.errors import BadInputError
from autophon_upload.processing.filetypes import (
    JUNK_NAMES,
    OTHER_ARCHIVE_EXTENSIONS,
    ZIP_EXTENSIONS,
)

ARCHIVE_EXTENSIONS = ZIP_EXTENSIONS | OTHER_ARCHIVE_EXTENSIONS
JUNK_DIRS = frozenset({"__MACOSX"})
CHUNK_BYTES = 1024 * 1024
# Skipped clutter and directories count too, within this multiple of max_files.
ENTRY_ALLOWANCE = 4

# What zipfile raises on damaged data, besides BadZipFile (bz2 raises OSError).
_DAMAGED = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError)


def is_junk(member_name: str) -> bool:
    """OS clutter that users never meant to upload."""
    parts = [p for p in member_name.replace("\\", "/").split("/") if p]
    if not parts:
        return True
    if any(part in JUNK_DIRS for part in parts[:-1]):
        return True
    base = parts[-1]
    return base.casefold() in JUNK_NAMES or (base.startswith(".") and base not in {".", ".."})


def extract_zip(zip_path: Path, dest_dir: Path, max_files: int, max_bytes: int) -> list[Path]:
    """Extract ``zip_path`` flat into ``dest_dir``; return the files written, in archive order.

    Raises BadInputError naming the archive (and member) when the archive is damaged, holds
    too many files or bytes, a link, an encrypted member, another archive, or two members that
    flatten to the same name (compared case-insensitively). Never overwrites an existing file.
    On any error the files already written by this call are removed.
    """
    name = zip_path.name
    _check_entry_count(zip_path, max_files)
    try:
        archive = zipfile.ZipFile(zip_path)
    except _DAMAGED as exc:
        raise _damaged(name) from exc
    dest_dir.mkdir(parents=True, exist_ok=True)
    taken = {entry.name.casefold(): entry.name for entry in dest_dir.iterdir()}
    written: list[Path] = []
    try:
        with archive:
            plan = _plan(archive, name, max_files, max_bytes)
            budget = max_bytes
            for info, target in plan:
                key = target.casefold()
                if key in taken:
                    raise BadInputError(
                        f"{name} contains {_member(info)}, but a file named {taken[key]} is "
                        "already there; give each file its own name."
                    )
                taken[key] = target
                path = dest_dir / target
                with path.open("xb") as out:  # exclusive: never through an existing file/link
                    written.append(path)
                    budget -= _copy_member(archive, info, out, name, budget, max_bytes)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


def _check_entry_count(zip_path: Path, max_files: int) -> None:
    """Refuse archives with absurd entry counts before zipfile builds its whole directory."""
    # zipfile's private end-record reader, stable since Python 2; skip the check if it goes.
    end_record = getattr(zipfile, "_EndRecData", None)
    entries_field = getattr(zipfile, "_ECD_ENTRIES_TOTAL", None)
    if end_record is None or entries_field is None:
        return
    with zip_path.open("rb") as handle:
        try:
            record = end_record(handle)
        except _DAMAGED:
            return  # zipfile.ZipFile reports the damage properly
    if record and record[entries_field] > max_files * ENTRY_ALLOWANCE + 64:
        raise _too_many(zip_path.name, max_files)


def _plan(
    archive: zipfile.ZipFile, name: str, max_files: int, max_bytes: int
) -> list[tuple[zipfile.ZipInfo, str]]:
    """Members to extract with their flat names, after refusing the unacceptable ones."""
    plan: list[tuple[zipfile.ZipInfo, str]] = []
    seen: dict[str, str] = {}
    claimed = 0
    for info in archive.infolist():
        member = _member_name(info)
        if member.endswith(("/", "\\")) or is_junk(member):
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise BadInputError(
                f"{name} contains a symbolic link ({_shorten(member)}); "
                "zip the files themselves, not links to them."
            )
        if info.flag_bits & 0x1:
            raise BadInputError(
                f"{name} is password-protected ({_shorten(member)}); upload an unencrypted zip."
            )
        try:
            target = safe_name(member)
        except UnsafeNameError:
            raise BadInputError(
                f"{name} contains a file with an unusable name ({_shorten(member)}); rename it."
            ) from None
        if Path(target).suffix.lower() in ARCHIVE_EXTENSIONS:
            raise BadInputError(
                f"{name} contains another archive ({_shorten(member)}); put all files in "
                "a single zip, without archives inside it."
            )
        key = target.casefold()
        if key in seen:
            raise BadInputError(
                f"{name} contains two files named {target} ({_shorten(seen[key])} and "
                f"{_shorten(member)}); give each file its own name."
            )
        seen[key] = member
        if len(plan) >= max_files:
            raise _too_many(name, max_files)
        claimed += info.file_size
        if claimed > max_bytes:
            raise _too_big(name, max_bytes)
        plan.append((info, target))
    return plan


def _copy_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    out: BinaryIO,
    name: str,
    budget: int,
    max_bytes: int,
) -> int:
    """Stream one member into ``out``; return the bytes written (real decompressed bytes)."""
    copied = 0
    try:
        source = archive.open(info)
    except NotImplementedError as exc:
        raise BadInputError(
            f"{name} uses a compression method that is not supported ({_member(info)}); "
            "create the zip with ordinary (deflate) compression."
        ) from exc
    except (*_DAMAGED, RuntimeError) as exc:
        raise _damaged(name, info) from exc
    with source:
        while True:
            try:
                chunk = source.read(CHUNK_BYTES)
            except _DAMAGED as exc:
                raise _damaged(name, info) from exc
            if not chunk:
                break
            copied += len(chunk)
            if copied > budget:
                raise _too_big(name, max_bytes)
            out.write(chunk)
    return copied


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name; zips without the UTF-8 flag are often UTF-8 anyway (Linux, macOS)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _member(info: zipfile.ZipInfo) -> str:
    return _shorten(_member_name(info))


def _shorten(member: str) -> str:
    printable = "".join(ch if ch.isprintable() else "?" for ch in member)
    return printable if len(printable) <= 80 else printable[:77] + "..."


def _damaged(name: str, info: zipfile.ZipInfo | None = None) -> BadInputError:
    where = f" (at {_member(info)})" if info is not None else ""
    return BadInputError(
        f"{name} is not a valid zip archive or is damaged{where}; create it again and upload it."
    )


def _too_many(name: str, max_files: int) -> BadInputError:
    return BadInputError(
        f"{name} contains more than {max_files} files; split the batch into several uploads."
    )


def _too_big(name: str, max_bytes: int) -> BadInputError:
    return BadInputError(
        f"{name} unpacks to more than {format_bytes(max_bytes)}; split the batch into "
        "several uploads."
    )


def format_bytes(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{size} bytes"
