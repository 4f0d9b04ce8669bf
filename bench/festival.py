"""Connected synthetic speech from Festival's voices, with the synthesiser's own word and
segment times (the second source of bench/speech.py, beside espeak-ng).

Festival (Debian's ``festival`` with ``festvox-kallpc16k`` and ``festvox-kdlpc16k``, diphone
voices, and ``festvox-us-slt-hts``, an HTS voice) synthesises each sentence as one utterance
and keeps, in its Segment relation, the end time of every segment it generated (the diphone
voices join their units at those times; the HTS voice's times are the durations it
generated, in 5 ms frames). Each token of the text (a word as written, with its punctuation)
is one timed unit: its start is its first segment's start, its end its last segment's end,
its phones its segments. A token Festival speaks as several words ("1990", "Smith's") stays
one unit.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

# Short names of the voices used here -> Festival's voice procedure.
VOICES = {
    "kal": "voice_kal_diphone",
    "slt": "voice_cmu_us_slt_arctic_hts",
    "ked": "voice_ked_diphone",  # held out: played no part in tuning (bench/accuracy.py)
}
PREFIX = "festival/"
VOICE_ROOT = Path("/usr/share/festival/voices")
VOICE_PACKAGES = {
    "english/kal_diphone": "festvox-kallpc16k",
    "us/cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
    "english/ked_diphone": "festvox-kdlpc16k",
}

_DUMP = """
(set! utt (utt.synth (Utterance Text "%(text)s")))
(utt.save.wave utt "%(path)s" 'riff)
(set! token (utt.relation.first utt 'Token))
(format t "UTT\\n")
(while token
  (format t "T")
  (mapcar (lambda (word)
     (mapcar (lambda (syllable)
        (mapcar (lambda (segment)
           (format t " %%s %%f %%f" (item.name segment) (item.feat segment "segment_start")
                   (item.feat segment "end")))
          (item.daughters syllable)))
       (item.daughters (item.relation word 'SylStructure))))
    (item.daughters token))
  (format t "\\n")
  (set! token (item.next token)))
"""


def available() -> str | None:
    """None when Festival and both voices are installed, else what is missing."""
    if shutil.which("festival") is None:
        return "Festival is not installed (Debian package festival)"
    for folder, package in VOICE_PACKAGES.items():
        if not (VOICE_ROOT / folder).is_dir():
            return f"Festival's voice {folder} is not installed (Debian package {package})"
    return None


def record_all(
    texts: Sequence[tuple[str, Path]], voice: str
) -> list[list[tuple[str, list[tuple[str, float, float]]]]]:
    """Speak each (text, path) with Festival's ``voice`` (a key of VOICES) into the WAV file
    ``path`` (the voice's own rate); per text, its tokens' (label, [(segment, start, end)])."""
    lines = [f"({VOICES[voice]})"]
    for text, path in texts:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(_DUMP % {"text": escaped, "path": str(path.resolve())})
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "speak.scm"
        script.write_text("\n".join(lines), encoding="utf-8")
        done = subprocess.run(
            ["festival", "-b", str(script)],
            capture_output=True,
            text=True,
            timeout=60 + 20 * len(texts),
            check=False,
        )
    if done.returncode != 0 or "UTT" not in done.stdout:
        raise RuntimeError(f"Festival failed: {(done.stderr or done.stdout).strip()[-500:]}")
    made: list[list[tuple[str, list[tuple[str, float, float]]]]] = []
    for (text, _), block in zip(texts, done.stdout.split("UTT\n")[1:], strict=True):
        tokens = text.split()
        rows = [line.split()[1:] for line in block.splitlines() if line.startswith("T")]
        if len(rows) != len(tokens):
            raise RuntimeError(f"Festival made {len(rows)} tokens of {len(tokens)}: {text!r}")
        made.append(
            [
                (token, [(r[i], float(r[i + 1]), float(r[i + 2])) for i in range(0, len(r), 3)])
                for token, r in zip(tokens, rows, strict=True)
            ]
        )
    return made
