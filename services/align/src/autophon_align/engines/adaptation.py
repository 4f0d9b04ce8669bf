"""Speaker adaptation of the built-in engine's acoustic model: one MLLR transform per speaker.

pocketsphinx's US-English model was trained on many voices; a given speaker (or synthesiser,
or microphone) sits a little off it, and boundaries suffer where the model's phones match
the speaker's poorly. MLLR (maximum-likelihood linear regression) estimates one linear
transform of the model's Gaussian means that makes the speaker's own speech most likely;
pocketsphinx applies it at load time (its ``mllr`` option). The statistics come from the
recording itself, aligned once without adaptation: its pause-free stretches of words, each
with a little of the pauses around it (so that the silence model is adapted too), are fed to
SphinxTrain's ``bw`` with their aligned words (the pronunciation the first pass chose), and
``mllr_solve`` computes the transform. The worker then aligns the speaker's utterances again
(of a long recording the first pass aligned only a sample: pocketsphinx_worker.py).

Measured on connected synthetic speech (bench/accuracy.py): word edges within 20 ms rose from
88.8 to 94.1% (espeak-ng en-us), 84.9 to 92.1% (en), 78.3 to 80.9% (en-us+f3) and 86.8 to
92.1% (two speakers), with the largest error down from 422 to 182 ms; Festival's voices
stayed where they were (kal 78.9%, slt 88.8 -> 89.5%). At 10 dB SNR the adapted silence model
no longer told noisy pauses from weak onsets ("then" started 490 ms early), so speakers whose
speech stands less than ``MIN_LEVEL_DB`` above their pauses are not adapted (white noise at
20 dB SNR measures about 25 dB there, at 10 dB about 15).

Tools, from Debian's packages: ``sphinx_fe`` (sphinxbase-utils), ``bw`` and ``mllr_solve``
(sphinxtrain), ``pocketsphinx_mdef_convert`` (pocketsphinx). Where one is missing, or a step
fails, the speaker keeps the unadapted alignment and the engine log says why.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import wave
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A speaker needs this much aligned speech (s) for a transform of 3 x (13 x 13 + 13) values.
MIN_SECONDS = 10.0
# At most this much speech (s) per speaker goes into the statistics (spread over the
# recording): a single transform gains little from more, and ``bw``'s time grows with it.
MAX_SECONDS = 120.0
# Speech level over the pauses' noise floor (dB, engines/refine.py's measure) below which a
# speaker is not adapted.
MIN_LEVEL_DB = 20.0
# A stretch ends at a pause of at least MIN_PAUSE (s) or when it would pass MAX_STRETCH (s);
# it takes up to PAUSE_CONTEXT (s) of the pauses on either side (at most half of each).
MIN_PAUSE = 0.1
MAX_STRETCH = 20.0
PAUSE_CONTEXT = 0.3
SPHINXTRAIN_DIRS = ("/usr/lib/sphinxtrain", "/usr/libexec/sphinxtrain")
TOOL_TIMEOUT = 600.0  # s, for each tool run


class AdaptationUnavailable(RuntimeError):
    """Adaptation cannot run here, or failed: the message says why."""


@dataclass(frozen=True)
class Stretch:
    """Seconds of the recording, and the dictionary entries ("word" or "word(2)") aligned
    there."""

    start: float
    end: float
    entries: tuple[str, ...]

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Tools:
    sphinx_fe: str
    bw: str
    mllr_solve: str
    mdef_convert: str


def find_tools() -> Tools:
    """The four programs, or AdaptationUnavailable naming what is missing."""
    found = {
        "sphinx_fe": shutil.which("sphinx_fe"),
        "bw": _sphinxtrain("bw"),
        "mllr_solve": _sphinxtrain("mllr_solve"),
        "mdef_convert": shutil.which("pocketsphinx_mdef_convert"),
    }
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise AdaptationUnavailable(
            f"{', '.join(missing)} not installed (Debian packages sphinxbase-utils, "
            "sphinxtrain, pocketsphinx)"
        )
    return Tools(**{name: str(path) for name, path in found.items()})


def _sphinxtrain(tool: str) -> str | None:
    for folder in SPHINXTRAIN_DIRS:
        path = Path(folder) / tool
        if os.access(path, os.X_OK):
            return str(path)
    return shutil.which(tool)


def stretches(words: Sequence[dict[str, Any]], lo: float, hi: float) -> list[Stretch]:
    """The pause-free stretches of one utterance's aligned ``words`` (absolute times, each
    with its dictionary "entry"), widened into the pauses around them within [lo, hi]."""
    groups: list[list[dict[str, Any]]] = []
    for word in words:
        if (
            not groups
            or word["start"] - groups[-1][-1]["end"] >= MIN_PAUSE
            or word["end"] - groups[-1][0]["start"] > MAX_STRETCH
        ):
            groups.append([word])
        else:
            groups[-1].append(word)
    made = []
    for number, group in enumerate(groups):
        previous_end = groups[number - 1][-1]["end"] if number else lo
        next_start = groups[number + 1][0]["start"] if number + 1 < len(groups) else hi
        before = group[0]["start"] - previous_end
        after = next_start - group[-1]["end"]
        made.append(
            Stretch(
                max(lo, group[0]["start"] - min(PAUSE_CONTEXT, before / 2)),
                min(hi, group[-1]["end"] + min(PAUSE_CONTEXT, after / 2)),
                tuple(w["entry"] for w in group),
            )
        )
    return made


def spread(candidates: Sequence[Stretch], max_seconds: float = MAX_SECONDS) -> list[Stretch]:
    """At most ``max_seconds`` of ``candidates``, taken evenly from all of them."""
    total = sum(s.seconds for s in candidates)
    if total <= max_seconds:
        return list(candidates)
    share = max_seconds / total
    chosen, owed = [], 0.0
    for stretch in candidates:
        owed += share * stretch.seconds
        if owed >= stretch.seconds:
            chosen.append(stretch)
            owed -= stretch.seconds
    return chosen


class SpeakerAdapter:
    """Estimates MLLR transforms for one acoustic model, in ``folder`` (scratch space)."""

    def __init__(self, model_dir: Path, dictionary: Path, folder: Path, tools: Tools) -> None:
        self.model_dir = model_dir
        self.dictionary = dictionary
        self.folder = folder
        self.tools = tools
        self.log = folder / "adaptation.log"
        self._model: Path | None = None

    def transform(
        self,
        name: str,
        recording: wave.Wave_read,
        chosen: Sequence[Stretch],
        fill: Callable[[array[int]], array[int]],
    ) -> Path:
        """The MLLR transform (a file) for the speech in ``chosen``; ``fill`` prepares each
        stretch's samples as the aligner hears them (padding, digital silence filled).
        Whatever goes wrong (an unusual model folder included) is AdaptationUnavailable."""
        with _unavailable_on_error():
            model = self._prepared_model()
            work = self.folder / name
            work.mkdir()
            rate = recording.getframerate()
            _write_inputs(work, recording, chosen, fill)
            features = _feature_params(self.model_dir)
            self._run(
                self.tools.sphinx_fe,
                "-argfile", str(self.model_dir / "feat.params"),
                "-samprate", str(rate),
                "-c", str(work / "ctl"), "-di", str(work), "-do", str(work),
                "-ei", "wav", "-eo", "mfc", "-mswav", "yes",
            )  # fmt: skip
            self._run(
                self.tools.bw,
                "-hmmdir", str(model), "-moddeffn", str(model / "mdef.txt"),
                "-ts2cbfn", _codebook_mapping(model),
                "-feat", features.get("feat", "1s_c_d_dd"),
                *(["-svspec", features["svspec"]] if "svspec" in features else []),
                "-cmn", features.get("cmn", "batch"), "-agc", features.get("agc", "none"),
                "-varnorm", features.get("varnorm", "no"),
                "-dictfn", str(self.dictionary), "-fdictfn", str(self.model_dir / "noisedict"),
                "-ctlfn", str(work / "ctl"), "-lsnfn", str(work / "lsn"),
                "-cepdir", str(work), "-accumdir", str(work),
            )  # fmt: skip
            target = work / "mllr_matrix"
            self._run(
                self.tools.mllr_solve,
                "-meanfn", str(model / "means"), "-varfn", str(model / "variances"),
                "-outmllrfn", str(target), "-accumdir", str(work),
            )  # fmt: skip
            if not target.exists():
                raise AdaptationUnavailable("mllr_solve wrote no transform")
            return target

    def _prepared_model(self) -> Path:
        """The model as ``bw`` reads it: text model definition, plain mixture weights."""
        if self._model is not None:
            return self._model
        model = self.folder / "model"
        model.mkdir()
        for item in self.model_dir.iterdir():
            (model / item.name).symlink_to(item.resolve())
        mdef = self.model_dir / "mdef"
        self._run(self.tools.mdef_convert, "-text", str(mdef), str(model / "mdef.txt"))
        if not (model / "mixture_weights").exists():
            sendump = self.model_dir / "sendump"
            if not sendump.exists():
                raise AdaptationUnavailable("the model has neither mixture_weights nor sendump")
            write_mixture_weights(*read_sendump(sendump), model / "mixture_weights")
        self._model = model
        return model

    def _run(self, *command: str) -> None:
        """Run a tool, its output in the log; AdaptationUnavailable with the output's last
        line when it fails."""
        with self.log.open("a+", encoding="utf-8", errors="replace") as log:
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            start = log.tell()
            try:
                done = subprocess.run(
                    command, stdout=log, stderr=subprocess.STDOUT, timeout=TOOL_TIMEOUT
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise AdaptationUnavailable(f"{Path(command[0]).name}: {exc}") from None
            if done.returncode == 0:
                return
            log.seek(start)
            lines = [line.strip() for line in log.read().splitlines() if line.strip()]
        last = f": {lines[-1][:200]}" if lines else ""
        raise AdaptationUnavailable(
            f"{Path(command[0]).name} failed (exit code {done.returncode}){last}"
        )


def _write_inputs(
    work: Path,
    recording: wave.Wave_read,
    chosen: Sequence[Stretch],
    fill: Callable[[array[int]], array[int]],
) -> None:
    """Each stretch as a WAV file, the control file naming them, and their transcripts."""
    rate = recording.getframerate()
    ids = [f"s{number}" for number in range(len(chosen))]
    for utterance, stretch in zip(ids, chosen, strict=True):
        recording.setpos(round(stretch.start * rate))
        samples = array("h", recording.readframes(round(stretch.seconds * rate)))
        with wave.open(str(work / f"{utterance}.wav"), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(fill(samples).tobytes())
    (work / "ctl").write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    lines = [f"<s> {' '.join(s.entries)} </s> ({i})\n" for i, s in zip(ids, chosen, strict=True)]
    (work / "lsn").write_text("".join(lines), encoding="utf-8")


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    """Errors of files and formats (an unusual model folder, say) as AdaptationUnavailable."""
    try:
        yield
    except (OSError, ValueError, KeyError, IndexError, struct.error, wave.Error) as exc:
        raise AdaptationUnavailable(f"{type(exc).__name__}: {exc}") from None


def _feature_params(model_dir: Path) -> dict[str, str]:
    """The model's feat.params as {"feat": "1s_c_d_dd", ...}."""
    params: dict[str, str] = {}
    path = model_dir / "feat.params"
    if path.exists():
        tokens = path.read_text(encoding="utf-8").split()
        for key, value in zip(tokens[::2], tokens[1::2], strict=False):
            params[key.lstrip("-")] = value
    return params


def _codebook_mapping(model: Path) -> str:
    """bw's -ts2cbfn: ".semi." (one codebook), ".ptm." (one per base phone) or ".cont."."""
    codebooks = read_gaussian_header(model / "means")[0]
    if codebooks == 1:
        return ".semi."
    base_phones = 0
    for line in (model / "mdef.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "n_base":
            base_phones = int(parts[0])
            break
    return ".ptm." if codebooks == base_phones else ".cont."


def _data_start(raw: bytes) -> int:
    end = raw.find(b"endhdr\n")
    if not raw.startswith(b"s3\n") or end < 0:
        raise AdaptationUnavailable("not a Sphinx model file")
    return end + len(b"endhdr\n")


def read_gaussian_header(path: Path) -> tuple[int, int, int, tuple[int, ...]]:
    """(codebooks, feature streams, densities, vector length per stream) of a means file."""
    raw = path.read_bytes()[:4096]
    pos = _data_start(raw)
    order = _byte_order(raw[pos : pos + 4])
    codebooks, streams, densities = struct.unpack_from(f"{order}III", raw, pos + 4)
    lengths = struct.unpack_from(f"{order}{streams}I", raw, pos + 16)
    return codebooks, streams, densities, lengths


def _byte_order(magic: bytes) -> str:
    for order in "<>":
        if struct.unpack(f"{order}I", magic)[0] == 0x11223344:
            return order
    raise AdaptationUnavailable("unknown byte order in a Sphinx model file")


def read_sendump(path: Path) -> tuple[tuple[int, int, int], array[float]]:
    """pocketsphinx's quantised mixture weights (``sendump``) as ((senones, streams,
    densities), weights), each senone's weights per stream summing to 1."""
    raw = path.read_bytes()
    order = "<" if struct.unpack("<I", raw[:4])[0] <= 65536 else ">"
    pos = 0
    info: dict[str, int] = {}
    first = True
    while True:
        (size,) = struct.unpack_from(f"{order}I", raw, pos)
        pos += 4
        if size == 0:
            break
        text = raw[pos : pos + size - 1].decode("ascii", "replace")
        pos += size
        if first:  # the title
            first = False
            continue
        parts = text.split()
        if len(parts) == 2 and parts[1].isdigit():
            info[parts[0]] = int(parts[1])
    shift = info.get("mixw_shift", 10)
    streams = info["feature_count"]
    if info.get("cluster_count", 0) == 0:
        densities, senones = struct.unpack_from(f"{order}II", raw, pos)
        pos += 8
    else:
        raise AdaptationUnavailable("clustered sendump files are not supported")
    if len(raw) < pos + streams * densities * senones:
        raise AdaptationUnavailable(f"{path.name} is truncated")
    table = [1.0001 ** -(value << shift) for value in range(256)]
    weights = array("f", bytes(4 * senones * streams * densities))
    # Stored stream by stream, density by density, one byte per senone.
    for stream in range(streams):
        for density in range(densities):
            row = raw[pos : pos + senones]
            pos += senones
            base = stream * densities + density
            for senone, value in enumerate(row):
                weights[(senone * streams) * densities + base] = table[value]
    for start in range(0, len(weights), densities):
        total = sum(weights[start : start + densities]) or 1.0
        for i in range(start, start + densities):
            weights[i] /= total
    return (senones, streams, densities), weights


def write_mixture_weights(shape: tuple[int, int, int], weights: array[float], path: Path) -> None:
    """A SphinxTrain mixture_weights file (version 1.0, no checksum)."""
    senones, streams, densities = shape
    header = b"s3\nversion 1.0\n"
    rest = (len(header) + len(b"endhdr\n")) % 4
    header += b" " * ((4 - rest) % 4) + b"endhdr\n"
    body = struct.pack("=I", 0x11223344)
    body += struct.pack("=IIII", senones, streams, densities, len(weights))
    path.write_bytes(header + body + weights.tobytes())
