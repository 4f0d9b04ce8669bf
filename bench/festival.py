"""Connected synthetic speech from Festival's voices, with the synthesiser's own word and
segment times (the second source of bench/speech.py, beside espeak-ng).

Festival (Debian's ``festival`` with ``festvox-kallpc16k`` and ``festvox-kdlpc16k``, diphone
voices, and ``festvox-us-slt-hts``, an HTS voice; for other languages two diphone voices each
of Italian, Finnish and Czech: VOICE_PACKAGES) synthesises each sentence as one utterance
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

# Short names of the English voices used here -> Festival's voice procedure.
VOICES = {
    "kal": "voice_kal_diphone",
    "slt": "voice_cmu_us_slt_arctic_hts",
    "ked": "voice_ked_diphone",  # held out: played no part in tuning (bench/accuracy.py)
}
# Festival's diphone voices of other languages (codes of bench/speech.py LANGUAGE_SENTENCES):
# short name -> (voice procedure, the 8-bit character set it reads its text in: Festival has
# no Unicode, and a letter it cannot read it spells out as "unknown character").
LANGUAGE_VOICES = {
    "ita": {"lp": ("voice_lp_diphone", "iso-8859-1"), "pc": ("voice_pc_diphone", "iso-8859-1")},
    "fin": {
        "lj": ("voice_suo_fi_lj_diphone", "iso-8859-1"),
        "mv": ("voice_hy_fi_mv_diphone", "iso-8859-1"),
    },
    "ces": {"dita": ("voice_czech_dita", "iso-8859-2"), "ph": ("voice_czech_ph", "iso-8859-2")},
}
_PROCEDURES = {
    **{name: (procedure, "utf-8") for name, procedure in VOICES.items()},
    **{name: each for voices in LANGUAGE_VOICES.values() for name, each in voices.items()},
}
PREFIX = "festival/"
VOICE_ROOT = Path("/usr/share/festival/voices")
VOICE_PACKAGES = {
    "english/kal_diphone": "festvox-kallpc16k",
    "us/cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
    "english/ked_diphone": "festvox-kdlpc16k",
    "italian/lp_diphone": "festvox-italp16k",
    "italian/pc_diphone": "festvox-itapc16k",
    "finnish/suo_fi_lj_diphone": "festvox-suopuhe-lj",
    "finnish/hy_fi_mv_diphone": "festvox-suopuhe-mv",
    "czech/czech_dita": "festvox-czech-dita",
    "czech/czech_ph": "festvox-czech-ph",
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
    """None when Festival and all its voices used here are installed, else what is missing."""
    if shutil.which("festival") is None:
        return "Festival is not installed (Debian package festival)"
    for folder, package in VOICE_PACKAGES.items():
        if not (VOICE_ROOT / folder).is_dir():
            return f"Festival's voice {folder} is not installed (Debian package {package})"
    return None


def record_all(
    texts: Sequence[tuple[str, Path]], voice: str
) -> list[list[tuple[str, list[tuple[str, float, float]]]]]:
    """Speak each (text, path) with Festival's ``voice`` (a key of VOICES or of a language's
    LANGUAGE_VOICES) into the WAV file ``path`` (the voice's own rate); per text, its tokens'
    (label, [(segment, start, end)])."""
    procedure, encoding = _PROCEDURES[voice]
    lines = [f"({procedure})"]
    for text, path in texts:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(_DUMP % {"text": escaped, "path": str(path.resolve())})
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "speak.scm"
        script.write_text("\n".join(lines), encoding=encoding)
        done = subprocess.run(
            ["festival", "-b", str(script)],
            capture_output=True,
            encoding=encoding,
            errors="replace",
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
