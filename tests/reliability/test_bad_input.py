"""A corpus of bad uploads through the real API and upload worker (in this process, on
SQLite): each one is answered with an error that names the problem (the API's answer, or the
failed task's stored error), nothing leaks out of the storage root, and good tasks sent
alongside are prepared as usual.

Most of these are unit-tested in services/upload/tests; here they go through the whole
upload path together, the way users send them.
"""

from __future__ import annotations

import io
import re
import socket
import stat
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from autophon_core.runtime import Runtime
from autophon_core.storage import safe_name
from autophon_core.taskfiles import Manifest
from autophon_core.testing import make_settings

from . import support

pytestmark = pytest.mark.reliability

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UNZIPPED_BYTES = 20 * 1024 * 1024
WORDS = b"the quick brown fox jumps over the lazy dog"


@dataclass
class Case:
    """One bad (or tricky) upload and what must come of it.

    ``status`` is the API's answer; for 202 the task must end ``outcome`` ("failed", or
    "uploaded" for input that is sanitised rather than refused). ``expect`` are the
    substrings of the error (the API's detail or the task's error) that name the problem."""

    name: str
    files: list[tuple[str, bytes]] = field(default_factory=list)
    expect: tuple[str, ...] = ()
    status: int = 202
    outcome: str = "failed"
    raw: bytes | None = None  # a hand-made multipart body (names a client would not send)
    content_type: str = "multipart/form-data; boundary=XyZ"
    data: dict[str, str] = field(default_factory=dict)


def textgrid(tiers: dict[str, list[tuple[float, float, str]]], xmax: float = 3.4) -> bytes:
    return support.long_textgrid(list(tiers.items()), xmax).encode()


def zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("fox.wav")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("fox.txt", WORDS)
    return buffer.getvalue()


def zip_bomb() -> bytes:
    """About 30 KB that unpacks to 30 MB (over MAX_UNZIPPED_BYTES)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.wav", b"\0" * (30 * 1024 * 1024))
        archive.writestr("bomb.txt", WORDS)
    return buffer.getvalue()


def multipart(*parts: tuple[bytes, bytes]) -> bytes:
    """A multipart body with raw Content-Disposition parameters (boundary XyZ)."""
    body = b""
    for disposition, data in parts:
        body += b"--XyZ\r\nContent-Disposition: form-data; name=files; " + disposition
        body += b"\r\n\r\n" + data + b"\r\n"
    return body + b"--XyZ--\r\n"


def corpus(samples: Path) -> list[Case]:
    fox = (samples / "fox.wav").read_bytes()
    text = (samples / "fox.txt").read_bytes()
    fine = [(0.2, 1.5, "the quick brown fox"), (1.6, 3.2, "jumps over the lazy dog")]
    return [
        # --- audio -------------------------------------------------------------------------
        Case("corrupt", [("noise.wav", (samples / "corrupt.wav").read_bytes()),
                         ("noise.txt", text)], ("noise.wav", "could not be read as audio")),
        Case("empty", [("empty.wav", b""), ("empty.txt", text)], ("empty.wav", "is empty")),
        Case("truncated wav", [("cut.wav", fox[:3000]), ("cut.txt", text)],
             ("cut.wav", "is truncated")),
        Case("wav header only", [("head.wav", fox[:44]), ("head.txt", text)],
             ("head.wav", "is truncated")),
        Case("truncated flac", [("cut.flac", (samples / "fox.flac").read_bytes()[:5000]),
                                ("cut.txt", text)], ("cut.flac", "truncated")),
        Case("zero-length audio", [("silent.wav", support.wav_bytes(0)),
                                   ("silent.txt", text)], ("silent.wav", "contains no audio")),
        Case("text named .wav", [("words.wav", WORDS * 40), ("words.txt", text)],
             ("words.wav", "could not be read as audio")),
        Case("audio named .txt", [("swap.wav", fox), ("swap.txt", fox)],
             ("swap.txt", "is not UTF-8 or UTF-16 text")),
        Case("mp3 named .wav (converted by content)",
             [("mp3.wav", (samples / "fox.mp3").read_bytes()), ("mp3.txt", text)],
             outcome="uploaded"),
        # --- TextGrids ---------------------------------------------------------------------
        Case("overlapping intervals", [("ov.wav", fox), ("ov.TextGrid", textgrid(
            {"A": [(0.2, 2.0, "the quick brown fox"), (1.5, 3.0, "jumps over")]}))],
            ("ov.TextGrid", "overlaps")),
        Case("negative interval", [("neg.wav", fox), ("neg.TextGrid", textgrid(
            {"A": [(-1.0, 2.0, "the quick brown fox")]}))],
            ("neg.TextGrid", "must not be negative")),
        Case("intervals beyond the audio", [("far.wav", fox), ("far.TextGrid", textgrid(
            {"A": [(10.0, 12.0, "the quick brown fox")]}, xmax=12.0))],
            ("far.TextGrid", "has no text within")),
        Case("unknown encoding", [("enc.wav", fox), ("enc.TextGrid", textgrid(
            {"A": [(0.2, 3.0, "caf\u00e9 au lait")]}).decode().encode("cp1252"))],
            ("enc.TextGrid", "is not UTF-8 or UTF-16 text")),
        Case("no tiers", [("none.wav", fox), ("none.TextGrid", textgrid({}))],
             ("none.TextGrid", "no interval tiers")),
        Case("not a TextGrid", [("junk.wav", fox), ("junk.TextGrid", b"hello\nworld\n")],
             ("junk.TextGrid", "is not a Praat TextGrid")),
        Case("two tiers with one name", [("dup.wav", fox), ("dup.TextGrid", textgrid(
            {"A": fine, "B": fine}).replace(b'name = "B"', b'name = "A"'))],
            ("dup.TextGrid", 'two tiers named "A"')),
        # --- tables ------------------------------------------------------------------------
        Case("table with missing columns", [("cols.wav", fox), ("cols.tsv", b"0.2\tthe fox\n")],
             ("cols.tsv", "expected 3 columns")),
        Case("table with non-numeric times", [("nan.wav", fox),
                                              ("nan.tsv", b"start\tend\ttext\na\tb\tthe fox\n")],
             ("nan.tsv", "must be numbers of seconds")),
        Case("table with end before start", [("back.wav", fox),
                                             ("back.tsv", b"2.0\t1.0\tthe fox\n")],
             ("back.tsv", "must be greater than start")),
        # --- pairing (refused by the API at once) ---------------------------------------------
        Case("recording without transcript", [("alone.wav", fox)],
             ("alone.wav has no transcript",), status=400),
        Case("transcript without recording", [("a.wav", fox), ("a.txt", text), ("b.txt", text)],
             ("b.txt has no recording",), status=400),
        Case("duplicate stems", [("d.wav", fox), ("d.mp3", (samples / "fox.mp3").read_bytes()),
                                 ("d.txt", text)], ("d.mp3 and d.wav", "same name"), status=400),
        Case("one name twice", [("t.wav", fox), ("t.wav", fox), ("t.txt", text)],
             ("t.wav was sent twice",), status=400),
        Case("unsupported file", [("u.wav", fox), ("u.txt", text), ("notes.docx", b"PK")],
             ("notes.docx", "word-processor"), status=400),
        Case("two dictionaries", [("v.wav", fox), ("v.txt", text), ("a.dict", b"FOX F AA K S\n"),
                                  ("b.dict", b"FOX F AA K S\n")],
             ("Only one pronunciation dictionary",), status=400),
        # --- zips --------------------------------------------------------------------------
        Case("zip with traversal entries", [("trip.zip", support.zip_bytes(
            {"../../../evil.wav": fox, "/tmp/evil.txt": text}))], outcome="uploaded"),
        Case("zip with a symlink", [("link.zip", zip_with_symlink())],
             ("link.zip", "symbolic link")),
        Case("nested zip", [("outer.zip", support.zip_bytes(
            {"inner.zip": support.zip_bytes({"fox.wav": fox, "fox.txt": text})}))],
            ("outer.zip", "another archive")),
        Case("compression bomb", [("bomb.zip", zip_bomb())], ("bomb.zip", "unpacks to more than")),
        Case("zip with thousands of entries", [("many.zip", support.zip_bytes(
            {f"f{i}.txt": b"x" for i in range(5000)}))], ("many.zip", "more than 1000 files")),
        Case("damaged zip", [("bad.zip", b"PK\x03\x04" + b"\x00" * 100)],
             ("bad.zip", "not a valid zip archive")),
        # --- names -------------------------------------------------------------------------
        Case("NUL in names", raw=multipart((b'filename="n\x00ul.wav"', fox),
                                           (b'filename="n\x00ul.txt"', text)),
             outcome="uploaded"),
        Case("non-UTF-8 names", raw=multipart((b'filename="\xff\xfeq.wav"', fox),
                                              (b'filename="\xff\xfeq.txt"', text)),
             outcome="uploaded"),
        Case("newline in names (as browsers encode it)",
             raw=multipart((b'filename="new%0Aline.wav"', fox),
                           (b'filename="new%0Aline.txt"', text)), outcome="uploaded"),
        Case("'..' as a name", [("..", fox), ("x.txt", text)], ("'..'", "not usable"),
             status=400),
        Case("very long names", [("L" * 400 + ".wav", fox), ("L" * 400 + ".txt", text)],
             outcome="uploaded"),
        Case("RFC 2231 filename*", raw=multipart((b"filename*=UTF-8''f%C3%B6x.wav", fox)),
             expect=("has no file name",), status=400),
        Case("CR inside a name", raw=multipart((b'filename="c\rr.wav"', fox)),
             expect=("multipart",), status=400),
        # --- dictionaries ------------------------------------------------------------------
        Case("malformed dictionary", [("w.wav", fox), ("w.txt", text),
                                      ("my.dict", b"FOX F AA K S\nBROKENLINE\n")],
             ("my.dict, line 2", "expected a word followed by its phones")),
        Case("binary dictionary", [("y.wav", fox), ("y.txt", text), ("bin.dict", fox[:500])],
             ("bin.dict",)),
        # --- limits and requests -------------------------------------------------------------
        Case("oversize upload", [("huge.wav", support.wav_bytes(200)), ("huge.txt", text)],
             ("exceeds the limit of 5 MB",), status=413),
        Case("thousands of files", [(f"f{i}.txt", b"x") for i in range(1500)],
             ("Too many files", "1000"), status=413),
        Case("no files", [], ("No files were sent",), status=400,
             raw=b"--XyZ--\r\n"),
        Case("not multipart", raw=b"just some bytes", content_type="text/plain",
             expect=("multipart/form-data",), status=400),
        Case("unknown language", [("l.wav", fox), ("l.txt", text)],
             ("Unknown language 'xx'",), status=400, data={"language": "xx"}),
    ]  # fmt: skip


@pytest.fixture
def upload(sqlite_url: str, tmp_path: Path) -> Iterator[support.UploadStage]:
    settings = make_settings(
        sqlite_url,
        tmp_path,
        api={"max_upload_bytes": MAX_UPLOAD_BYTES, "max_unzipped_bytes": MAX_UNZIPPED_BYTES},
    )
    runtime = Runtime.create(settings)
    stage = support.UploadStage(runtime)
    stage.start_worker()
    yield stage
    stage.close()
    runtime.close()


def _send(upload: support.UploadStage, case: Case) -> httpx.Response:
    if case.raw is not None:
        return upload.client.post(
            "/api/v1/tasks", content=case.raw, headers={"content-type": case.content_type}
        )
    return upload.post(case.files, **case.data)


def test_every_bad_input_is_answered_clearly_and_good_tasks_still_succeed(
    upload: support.UploadStage, samples: Path, tmp_path: Path, figures: dict[str, Any]
) -> None:
    cases = corpus(samples)
    good = [("fox.wav", (samples / "fox.wav").read_bytes()), ("fox.txt", WORDS)]
    first_good = upload.post(good).json()["id"]
    sent: list[tuple[Case, httpx.Response]] = [(case, _send(upload, case)) for case in cases]
    last_good = upload.post(good).json()["id"]

    problems: list[str] = []
    accepted: list[str] = []
    for case, response in sent:
        if response.status_code != case.status:
            problems.append(f"{case.name}: HTTP {response.status_code}: {response.text[:300]}")
            continue
        if response.status_code != 202:
            detail = response.json()["detail"]
            missing = [e for e in case.expect if e not in detail]
            if missing:
                problems.append(f"{case.name}: {missing} not in {detail!r}")
            continue
        task = upload.settle(response.json()["id"])
        accepted.append(task["id"])
        if task["status"] != case.outcome:
            problems.append(f"{case.name}: {task['status']} ({task['error']})")
        elif case.outcome == "failed":
            missing = [e for e in case.expect if e not in (task["error"] or "")]
            if missing:
                problems.append(f"{case.name}: {missing} not in {task['error']!r}")
    assert not problems, "\n".join(problems)

    # Good tasks before and after the corpus went through; the worker is still serving.
    for task_id in (first_good, last_good):
        assert upload.settle(task_id)["status"] == "uploaded"
    assert upload.worker_alive
    # Refused uploads left no folder; accepted ones stayed inside the storage root.
    storage = upload.runtime.storage
    folders = sorted(p.name for p in storage.tasks_dir.iterdir())
    assert folders == sorted([*accepted, first_good, last_good])
    outside = [p for p in tmp_path.rglob("evil*") if storage.tasks_dir not in p.parents]
    assert outside == [] and not Path("/tmp/evil.txt").exists()
    # Every stored name is a plain, printable name the file system takes (the uploaded ones
    # are safe_name's; derived ones add a suffix such as .TextGrid).
    for path in storage.tasks_dir.rglob("*"):
        name = path.name
        assert name not in (".", "..") and len(name.encode()) <= 255, path
        assert name.isprintable() and "/" not in name and "\\" not in name, path
        if path.parent.name == "upload":
            assert safe_name(name) == name, path
    # Sanitised rather than refused: what became of the tricky names.
    by_name = {case.name: response for case, response in sent}
    traversal = storage.task(by_name["zip with traversal entries"].json()["id"])
    assert [(f.name, f.transcript) for f in Manifest.load(traversal).files] == [
        ("evil.wav", "evil.txt")
    ]
    long_name = by_name["very long names"].json()["files"][0]["name"]
    assert len(long_name.encode()) <= 200 and long_name.endswith(".wav")

    figures.update(
        bad_inputs=len(cases),
        refused_by_api=sum(r.status_code != 202 for _, r in sent),
        failed_by_worker=sum(c.outcome == "failed" and r.status_code == 202 for c, r in sent),
        sanitised=sum(c.outcome == "uploaded" for c, _ in sent),
        good_tasks_ok=2,
    )


def read_response(connection: socket.socket, seconds: float = 30.0) -> bytes:
    """One whole HTTP response: its headers and the body its Content-Length announces, or
    everything until the server closes; however the bytes happen to arrive."""
    deadline = time.monotonic() + seconds
    data = b""
    while time.monotonic() < deadline:
        head, separator, rest = data.partition(b"\r\n\r\n")
        if separator:
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if length and len(rest) >= int(length.group(1)):
                return data
        connection.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"no complete response within {seconds} s: {data!r}")


def test_an_oversize_body_is_refused_while_it_is_being_sent(
    sqlite_url: str, tmp_path: Path, samples: Path
) -> None:
    """Over real HTTP, with no declared length: the 413 arrives while the client is still
    sending, long before the whole body, and nothing is kept."""
    settings = make_settings(sqlite_url, tmp_path, api={"max_upload_bytes": 1024 * 1024})
    runtime = Runtime.create(settings)
    chunk = b"x" * 65536
    total = 64 * 1024 * 1024
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b"--XyZ\r\nContent-Disposition: form-data; name=files; filename=big.wav\r\n\r\n"
        while sent < total:
            sent += len(chunk)
            yield chunk

    try:
        with support.serving(runtime) as base_url:
            # A declared length over the limit: refused before any of the body is sent.
            port = int(base_url.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
                connection.sendall(
                    b"POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: multipart/form-data; boundary=XyZ\r\n"
                    b"Content-Length: 2097152\r\n\r\n"
                )
                answer = read_response(connection)
            assert answer.startswith(b"HTTP/1.1 413") and b"exceeds the limit" in answer
            try:
                streamed = httpx.post(
                    f"{base_url}/api/v1/tasks",
                    content=body(),
                    headers={"content-type": "multipart/form-data; boundary=XyZ"},
                    timeout=30,
                )
                assert streamed.status_code == 413, streamed.text
                assert "exceeds the limit of 1 MB" in streamed.json()["detail"]
            except httpx.TransportError:
                pass  # the server may close the connection before the client reads its 413
        assert sent < total  # refused long before the end of the body
        assert list(runtime.storage.tasks_dir.iterdir()) == []
    finally:
        runtime.close()
