"""Figure 7: the API's memory while it receives a large upload.

A real ``autophon api`` process on a fresh PostgreSQL database receives one ~100 MB WAV
(2 MiB quick) with its transcript, streamed by httpx from a generator (the body is never
whole in this process either). The figure is the API's peak resident memory (VmHWM after
the upload) minus its resident memory just before; the baseline is the file's size, what a
receiver that holds the body in memory would need at least.
"""

from __future__ import annotations

import struct
import time
import uuid
from collections.abc import Iterator

import httpx

from bench.env import BenchEnv
from bench.http_client import upload
from bench.processes import RssSampler
from bench.report import Figure
from bench.services import deployment

CHUNK = 1024 * 1024
# The figure passes when the API grows by less than this share of the file.
TARGET_SHARE = 0.1


def wav_header(data_bytes: int, rate: int = 16000) -> bytes:
    """A 16-bit mono PCM WAV header for ``data_bytes`` of samples."""
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def multipart(boundary: str, data_bytes: int, transcript: str) -> tuple[int, Iterator[bytes]]:
    """The body's length, and the body as chunks: big.wav (``data_bytes`` of low noise)
    and big.txt, as ``files`` fields."""
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="files"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + wav_header(data_bytes)
    tail = (
        f"\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="files"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
        f"{transcript}\r\n--{boundary}--\r\n"
    ).encode()
    noise = bytes((i * 7919) % 7 for i in range(CHUNK))

    def chunks() -> Iterator[bytes]:
        yield head
        left = data_bytes
        while left > 0:
            step = min(CHUNK, left)
            yield noise[:step]
            left -= step
        yield tail

    return len(head) + data_bytes + len(tail), chunks()


def run(env: BenchEnv) -> Iterator[Figure]:
    size: int = env.pick(100 * 1024 * 1024, 2 * 1024 * 1024)
    transcript = (env.samples / "fox.txt").read_text("utf-8").strip()
    with env.pg.database() as url, deployment(url, env.folder("upload"), ("api",)) as dep:
        api = dep.services["api"]
        with httpx.Client() as client:
            # Warm the upload path up, so its first-use imports are not counted.
            upload(client, dep.base_url, env.samples / "fox.wav", transcript, "warm")
            time.sleep(0.5)
            before_rss, before_hwm = api.rss_kib(), api.hwm_kib()
            boundary = uuid.uuid4().hex
            length, body = multipart(boundary, size, transcript)
            with RssSampler({"api": api.pid}, interval=0.02) as sampler:
                started = time.monotonic()
                response = client.post(
                    f"{dep.base_url}/api/v1/tasks",
                    content=body,
                    headers={
                        "Content-Type": f"multipart/form-data; boundary={boundary}",
                        "Content-Length": str(length),
                    },
                    timeout=300,
                )
                elapsed = time.monotonic() - started
            if response.status_code != 202:
                raise RuntimeError(f"upload refused: {response.status_code} {response.text}")
            after_hwm = api.hwm_kib()
    delta_mib = (after_hwm - before_rss) / 1024
    file_mib = size / (1024 * 1024)
    yield Figure(
        name="upload_peak_rss_delta",
        value=delta_mib,
        unit="MiB",
        baseline=file_mib,
        target=f"< {TARGET_SHARE:g} x the file size",
        target_met=delta_mib < TARGET_SHARE * file_mib,
        context={
            "file_mib": file_mib,
            "rss_before_mib": before_rss / 1024,
            "hwm_before_mib": before_hwm / 1024,
            "hwm_after_mib": after_hwm / 1024,
            "sampled_peak_delta_mib": (sampler.peak_kib["api"] - before_rss) / 1024,
            "db": "postgresql",
        },
    )
    yield Figure(
        name="upload_throughput",
        value=file_mib / elapsed,
        unit="MiB/s",
        context={"file_mib": file_mib, "seconds": elapsed, "transport": "http://127.0.0.1"},
    )
