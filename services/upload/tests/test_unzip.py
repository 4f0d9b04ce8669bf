"""extract_zip: flattening, zip-slip, links, nested archives, bombs, limits, damage."""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path

import pytest

from autophon_upload.processing import BadInputError, extract_zip

MB = 1024 * 1024


def make_zip(
    path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def patch_central_directory(path: Path, member: str, offset: int, fmt: str, value: int) -> None:
    """Overwrite a field of ``member``'s central-directory entry (what zipfile trusts)."""
    data = bytearray(path.read_bytes())
    position = data.find(b"PK\x01\x02")
    while position != -1:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        name = bytes(data[position + 46 : position + 46 + name_length]).decode()
        if name == member:
            struct.pack_into(fmt, data, position + offset, value)
            path.write_bytes(bytes(data))
            return
        position = data.find(b"PK\x01\x02", position + 4)
    raise AssertionError(f"{member} not in the central directory")


def all_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(zip folder, destination); the destination sits two levels down so that a zip-slip
    would be visible in tmp_path."""
    dest = tmp_path / "task" / "upload" / "batch.zip.unzipped"
    return tmp_path / "task" / "upload", dest


def test_flattens_folders_and_keeps_content(sandbox: tuple[Path, Path]) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    archive = make_zip(
        upload / "batch.zip",
        {"batch/": b"", "batch/audio/fox.wav": b"RIFF", "batch/text/fox.txt": b"hello"},
    )
    written = extract_zip(archive, dest, max_files=10, max_bytes=MB)
    assert [p.name for p in written] == ["fox.wav", "fox.txt"]
    assert (dest / "fox.txt").read_bytes() == b"hello"
    assert all_files(dest) == {"fox.wav", "fox.txt"}


@pytest.mark.parametrize(
    "member",
    [
        "../../evil.txt",
        "/etc/evil.txt",
        "..\\..\\evil.txt",
        "C:\\Windows\\evil.txt",
        "a/../../evil.txt",
    ],
)
def test_zip_slip_is_neutralised(sandbox: tuple[Path, Path], tmp_path: Path, member: str) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    archive = make_zip(upload / "batch.zip", {member: b"gotcha"})
    assert zipfile.ZipFile(archive).namelist() == [member]  # the name really is hostile
    extract_zip(archive, dest, max_files=10, max_bytes=MB)
    assert all_files(tmp_path) == {
        "task/upload/batch.zip",
        "task/upload/batch.zip.unzipped/evil.txt",
    }


def test_symlink_member_is_refused(sandbox: tuple[Path, Path]) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    info = zipfile.ZipInfo("fox.wav")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(upload / "batch.zip", "w") as archive:
        archive.writestr("fox.txt", b"hello")
        archive.writestr(info, b"/etc/passwd")
    with pytest.raises(BadInputError, match=r"batch\.zip contains a symbolic link \(fox\.wav\)"):
        extract_zip(upload / "batch.zip", dest, max_files=10, max_bytes=MB)
    assert not dest.exists() or all_files(dest) == set()


@pytest.mark.parametrize("inner", ["inner.zip", "deeper/Inner.ZIP", "more.tar.gz", "x.7z"])
def test_nested_archive_is_refused(sandbox: tuple[Path, Path], tmp_path: Path, inner: str) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    nested = make_zip(tmp_path / "inner.zip", {"fox.wav": b"RIFF"}).read_bytes()
    archive = make_zip(upload / "batch.zip", {"fox.txt": b"hi", inner: nested})
    with pytest.raises(BadInputError, match="contains another archive"):
        extract_zip(archive, dest, max_files=10, max_bytes=MB)
    assert all_files(dest) == set()


def test_compression_bomb_is_stopped_by_real_bytes(sandbox: tuple[Path, Path]) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    archive = make_zip(upload / "bomb.zip", {"a.wav": bytes(8 * MB), "b.wav": bytes(8 * MB)})
    assert archive.stat().st_size < 100_000
    # The headers claim 16 MB: refused before anything is written.
    with pytest.raises(BadInputError, match=r"bomb\.zip unpacks to more than 10 MB"):
        extract_zip(archive, dest, max_files=10, max_bytes=10 * MB)
    # Lying headers (claiming 1 KB each) do not help: real bytes are counted, and zipfile
    # stops at the claimed size anyway (then reports the CRC mismatch as damage).
    for member in ("a.wav", "b.wav"):
        patch_central_directory(archive, member, 24, "<I", 1024)
    with pytest.raises(BadInputError, match=r"bomb\.zip is not a valid zip archive or is damaged"):
        extract_zip(archive, dest, max_files=10, max_bytes=10 * MB)
    assert all_files(dest) == set()


def test_real_byte_count_applies_across_members(sandbox: tuple[Path, Path]) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    archive = make_zip(upload / "big.zip", {f"{i}.wav": bytes(MB) for i in range(3)})
    written = extract_zip(archive, dest, max_files=10, max_bytes=3 * MB)
    assert len(written) == 3
    with pytest.raises(BadInputError, match="unpacks to more than"):
        extract_zip(archive, dest.with_name("again"), max_files=10, max_bytes=3 * MB - 1)
    assert all_files(dest.with_name("again")) == set()


def test_member_count_is_bounded(sandbox: tuple[Path, Path]) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    archive = make_zip(upload / "many.zip", {f"{i}.txt": b"x" for i in range(6)})
    with pytest.raises(BadInputError, match=r"many\.zip contains more than 5 files"):
        extract_zip(archive, dest, max_files=5, max_bytes=MB)
    # Far too many entries is refused from the end record, before reading the directory.
    huge = make_zip(upload / "huge.zip", {f"d{i}/": b"" for i in range(100)})
    with pytest.raises(BadInputError, match=r"huge\.zip contains more than 5 files"):
        extract_zip(huge, dest, max_files=5, max_bytes=MB)


def test_os_clutter_is_skipped_and_not_counted(sandbox: tuple[Path, Path]) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    archive = make_zip(
        upload / "mac.zip",
        {
            "batch/fox.wav": b"RIFF",
            "batch/fox.txt": b"hi",
            "__MACOSX/batch/._fox.wav": b"junk",
            "batch/._fox.txt": b"junk",
            "batch/.DS_Store": b"junk",
            "batch/Thumbs.db": b"junk",
        },
    )
    extract_zip(archive, dest, max_files=2, max_bytes=MB)
    assert all_files(dest) == {"fox.wav", "fox.txt"}


def test_two_members_with_one_flat_name_are_refused(sandbox: tuple[Path, Path]) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    archive = make_zip(upload / "dup.zip", {"a/fox.wav": b"1", "b/FOX.wav": b"2"})
    with pytest.raises(BadInputError, match=r"dup\.zip contains two files named FOX\.wav"):
        extract_zip(archive, dest, max_files=10, max_bytes=MB)


def test_existing_files_are_never_overwritten(sandbox: tuple[Path, Path]) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    archive = make_zip(upload / "batch.zip", {"fox.wav": b"new", "fox.txt": b"new"})
    dest.mkdir(parents=True)
    (dest / "fox.TXT").write_bytes(b"old")
    with pytest.raises(BadInputError, match=r"a file named fox\.TXT is already there"):
        extract_zip(archive, dest, max_files=10, max_bytes=MB)
    assert all_files(dest) == {"fox.TXT"}
    assert (dest / "fox.TXT").read_bytes() == b"old"


def test_encrypted_member_is_refused(sandbox: tuple[Path, Path]) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    archive = make_zip(upload / "secret.zip", {"fox.wav": b"RIFF"})
    patch_central_directory(archive, "fox.wav", 8, "<H", 0x1)
    with pytest.raises(BadInputError, match=r"secret\.zip is password-protected"):
        extract_zip(archive, dest, max_files=10, max_bytes=MB)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04" + bytes(40)])
def test_damaged_archive(sandbox: tuple[Path, Path], content: bytes) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    (upload / "bad.zip").write_bytes(content)
    with pytest.raises(BadInputError, match=r"^bad\.zip is not a valid zip archive"):
        extract_zip(upload / "bad.zip", dest, max_files=10, max_bytes=MB)


def test_truncated_archive_leaves_nothing_behind(sandbox: tuple[Path, Path]) -> None:
    upload, dest = sandbox
    upload.mkdir(parents=True)
    good = make_zip(upload / "cut.zip", {"a.wav": bytes(200_000), "b.wav": bytes(200_000)})
    data = good.read_bytes()
    # Corrupt the second member's compressed data, keep the directory intact.
    second = data.find(b"PK\x03\x04", 10)
    good.write_bytes(data[: second + 40] + b"\xff" * 20 + data[second + 60 :])
    with pytest.raises(BadInputError, match=r"cut\.zip is not a valid zip archive or is damaged"):
        extract_zip(good, dest, max_files=10, max_bytes=MB)
    assert all_files(dest) == set()


def test_utf8_names_without_the_utf8_flag(sandbox: tuple[Path, Path]) -> None:
    """Info-ZIP and macOS write UTF-8 names without setting the flag; zipfile decodes them as
    cp437 (mojibake). Danish, Norwegian and Swedish file names must survive."""
    upload, dest = sandbox
    upload.mkdir(parents=True)
    archive = make_zip(upload / "nordic.zip", {"blåbærgrød.wav": b"RIFF"})
    patch_central_directory(archive, "blåbærgrød.wav", 8, "<H", 0)
    data = bytearray(archive.read_bytes())
    struct.pack_into("<H", data, data.find(b"PK\x03\x04") + 6, 0)  # the local header's flags
    archive.write_bytes(bytes(data))
    assert zipfile.ZipFile(archive).namelist() != ["blåbærgrød.wav"]  # mojibake
    written = extract_zip(archive, dest, max_files=10, max_bytes=MB)
    assert [p.name for p in written] == ["blåbærgrød.wav"]
