"""Receiving an upload: the multipart body is streamed straight into a new task folder.

Nothing is held whole in memory, the size limit is enforced while streaming (a declared
Content-Length over the limit is refused before a byte is stored), names are sanitised, and
on any error the half-written folder is removed. The task row is created by the caller only
after this returns, so a task never points at files that are not on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from autophon_core.config import ApiConfig
from autophon_core.models import new_task_id
from autophon_core.storage import Storage, TaskPaths, UnsafeNameError, safe_name

MAX_FIELD_BYTES = 1024


class UploadRejected(Exception):
    """The upload is refused; ``detail`` tells the user why."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass
class ReceivedUpload:
    task_id: str
    paths: TaskPaths
    files: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    size_bytes: int = 0


class _PartWriter:
    """Callbacks for the multipart parser: form fields into a dict, files onto disk."""

    def __init__(self, upload: ReceivedUpload, max_files: int) -> None:
        self.upload = upload
        self.max_files = max_files
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._file: BinaryIO | None = None
        self._field: tuple[str, bytearray] | None = None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            if name == "files":
                # Not a file (RFC 7578 names files with filename="..."; a filename* parameter
                # is not understood): say so rather than report a long form field.
                raise UploadRejected(
                    400,
                    "A part named 'files' has no file name: send each file with "
                    'filename="..." in its Content-Disposition (curl -F files=@fox.wav).',
                )
            self._field = (name, bytearray())
            return
        self._open_file(filename)

    def _open_file(self, raw_name: bytes) -> None:
        shown = raw_name.decode("utf-8", "replace")[:80]
        try:
            name = safe_name(raw_name)
        except UnsafeNameError:
            raise UploadRejected(400, f"The file name {shown!r} is not usable.") from None
        if len(self.upload.files) >= self.max_files:
            raise UploadRejected(
                413, f"Too many files: at most {self.max_files} files can be sent in one task."
            )
        if name.lower() in {f.lower() for f in self.upload.files}:
            raise UploadRejected(400, f"{name} was sent twice; each file name must be unique.")
        self.upload.paths.upload_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.upload.paths.upload_file(name), "xb")  # noqa: SIM115
        self.upload.files.append(name)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
        elif self._field is not None:
            value = self._field[1]
            value += data[start:end]
            if len(value) > MAX_FIELD_BYTES:
                raise UploadRejected(400, f"The form field {self._field[0]!r} is too long.")

    def on_part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        elif self._field is not None:
            name, value = self._field
            self.upload.fields[name] = value.decode("utf-8", "replace").strip()
            self._field = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UploadRejected(
            400, "Send the files as multipart/form-data in one or more 'files' fields."
        )
    return boundary


def _storage_unavailable() -> UploadRejected:
    return UploadRejected(
        507,
        "The server could not store the files (its storage is full or unavailable); "
        "please try again later.",
    )


def _too_large(limits: ApiConfig) -> UploadRejected:
    megabytes = limits.max_upload_bytes / (1024 * 1024)
    return UploadRejected(413, f"The upload exceeds the limit of {megabytes:.0f} MB.")


async def receive_upload(request: Request, storage: Storage, limits: ApiConfig) -> ReceivedUpload:
    """Stream the request body into a new task folder; raises UploadRejected."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_upload_bytes:
        raise _too_large(limits)
    boundary = _boundary(request)
    task_id = new_task_id()
    try:
        upload = ReceivedUpload(task_id=task_id, paths=storage.create_task_dir(task_id))
    except OSError as exc:  # read-only or full storage
        storage.remove_task_dir(task_id)
        raise _storage_unavailable() from exc
    writer = _PartWriter(upload, limits.max_files)
    parser = MultipartParser(boundary, writer.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            upload.size_bytes += len(chunk)
            if upload.size_bytes > limits.max_upload_bytes:
                raise _too_large(limits)
            await anyio.to_thread.run_sync(parser.write, chunk)
        parser.finalize()
        if not upload.files:
            raise UploadRejected(400, "No files were sent: add recordings and transcripts.")
    except BaseException as exc:
        writer.close()
        storage.remove_task_dir(task_id)
        if isinstance(exc, OSError):
            raise _storage_unavailable() from exc
        if isinstance(exc, MultipartParseError):
            raise UploadRejected(
                400, "The upload could not be read as multipart form data."
            ) from exc
        raise
    return upload
