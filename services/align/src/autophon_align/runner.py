"""``autophon run-task <task-id>``: align one task's recordings, as one alignment Job.

Reads only the task's folder (see autophon_core.storage): ``input/manifest.json``, each
recording's ``input/<stem>.wav`` and ``input/<stem>.TextGrid``, and ``input/user.dict`` if
the user uploaded one. Writes ``output/`` (the TextGrids), ``result.zip`` (TextGrids,
missing_words.txt, README.txt; renamed into place only when complete), ``engine.log`` (the
engine's last log lines), ``progress.json`` after each recording and as the engine reports
on one (see autophon_align.progress), ``view/<stem>.json`` per recording (see
autophon_align.views) and last ``result.json`` (a RunResult), then returns the exit code
the controller reads: 0, ExitCode.BAD_INPUT when running again cannot help,
ExitCode.RESOURCE when the input is beyond the engine's limits (too long, or out of memory;
not retried either), ExitCode.INTERNAL otherwise. It needs no database.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import threading
import time
import wave
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import Any

from autophon_align.engines import UnknownEngineError, create_engine
from autophon_align.engines.arpabet import arpabet_to_ipa
from autophon_align.engines.audio import wav_duration
from autophon_align.engines.base import (
    ENGINE_LOG_NAME,
    AlignedWord,
    Engine,
    EngineError,
    EngineInputError,
    EngineResourceError,
    EngineTimeout,
    EngineUnavailable,
    Interval,
    ProgressCallback,
    Utterance,
)
from autophon_align.engines.espeak import espeak_pronunciations, espeak_version
from autophon_align.engines.ipa import ipa_labels_for
from autophon_align.engines.process import Deadline, tail_lines
from autophon_align.engines.pronunciations import (
    TaskLexicon,
    build_task_lexicon,
    missing_words_text,
)
from autophon_align.language_check import LanguageCheck, check_language
from autophon_align.outcomes import completed_result
from autophon_align.progress import ProgressReport
from autophon_align.textgrids import TextGridError, read_utterances, write_alignment
from autophon_align.views import write_view
from autophon_core.config import LanguageConfig, Settings
from autophon_core.languages import alignment_description, phone_set
from autophon_core.lexicon import DictionaryError, Lexicon, dictionary_path, read_dictionary
from autophon_core.storage import Storage, TaskPaths, atomic_path, atomic_write_bytes
from autophon_core.taskfiles import ExitCode, Manifest, ManifestFile, ResultFile, RunResult

LOG = logging.getLogger("autophon.runner")
# In the task folder, locked by the runner that works on the task (see exclusive_task).
RUNNER_LOCK_NAME = "runner.lock"
LOCK_POLL_SECONDS = 0.5
LOCK_LOG_INTERVAL_SECONDS = 30.0
# An aligned word may overhang its utterance by this much (s) before it counts as outside.
TOLERANCE = 0.02
IPA_SUFFIX = "_IPA.TextGrid"


class TaskFailure(Exception):
    """The task failed; the message is for the user, the exit code for the controller."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Recording:
    file: ManifestFile
    audio: Path
    duration: float
    utterances: list[Utterance]
    # Speaker tiers in output order; [""] for a plain transcript.
    speakers: list[str]
    # "<original stem>.TextGrid", the name inside result.zip.
    result_name: str

    @property
    def ipa_result_name(self) -> str:
        """ "<original stem>_IPA.TextGrid": the same alignment with the phones in IPA."""
        return self.result_name.removesuffix(".TextGrid") + IPA_SUFFIX


def run_task(task_id: str, settings: Settings) -> int:
    """Align task ``task_id``; returns the process exit code (see ExitCode)."""
    extra = {"task_id": task_id}
    try:
        paths = Storage(settings.storage.root).task(task_id)
    except ValueError:
        LOG.error("not a task id", extra=extra)
        return int(ExitCode.BAD_INPUT)
    if not paths.root.is_dir():
        LOG.error("task folder not found", extra={**extra, "path": str(paths.root)})
        return int(ExitCode.INTERNAL)
    with _sigterm_as_exit(), exclusive_task(paths):
        if completed_result(paths) is not None:
            # A runner of this task finished while this one waited for it (see exclusive_task):
            # its result stands, and its recordings may be gone already.
            LOG.info("already completed by an earlier runner; nothing to do", extra=extra)
            return int(ExitCode.OK)
        result = TaskRun(paths, settings).run()
        if result.status == "completed" and settings.storage.delete_audio_after_alignment:
            Storage(settings.storage.root).remove_audio(task_id)
            LOG.info("recordings deleted", extra=extra)
    return int(result.exit_code)


@contextmanager
def exclusive_task(paths: TaskPaths, poll_seconds: float = LOCK_POLL_SECONDS) -> Iterator[None]:
    """Hold an exclusive lock (flock) on the task folder's ``runner.lock`` while running.

    Two runners of one task must never work at once: Kubernetes starts a Job's replacement
    pod while the old one may still be terminating, and the new runner would wipe ``work/``
    under the old one. So a second runner **waits** (logging every 30 s) until the first is
    gone: the kernel releases the lock when its process ends, however it ends, and the Job's
    activeDeadlineSeconds bounds the wait. Waiting rather than refusing lets the replacement
    pod go on with the task instead of failing the Job; a result the first one completed
    meanwhile is kept (see :func:`run_task`)."""
    descriptor = os.open(
        paths.root / RUNNER_LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o660
    )
    try:
        waiting_since: float | None = None
        next_log = 0.0
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                waiting_since = now if waiting_since is None else waiting_since
                if now >= next_log:
                    LOG.warning(
                        "another runner of this task is still running; waiting for it",
                        extra={"task_id": paths.task_id, "waited_s": round(now - waiting_since)},
                    )
                    next_log = now + LOCK_LOG_INTERVAL_SECONDS
                time.sleep(poll_seconds)
        if waiting_since is not None:
            LOG.info("the other runner is gone; going on", extra={"task_id": paths.task_id})
        yield
    finally:
        os.close(descriptor)  # releases the lock


class TaskRun:
    """One attempt at one task."""

    def __init__(self, paths: TaskPaths, settings: Settings) -> None:
        self.paths = paths
        self.settings = settings
        self.task_id = paths.task_id
        self.warnings: list[str] = []
        self.language_check = LanguageCheck([], None, "the task's language")
        self.engine_seconds = 0.0
        self.logs: list[Path] = []

    def log(self, level: int, event: str, exc_info: bool = False, **fields: Any) -> None:
        LOG.log(level, event, exc_info=exc_info, extra={"task_id": self.task_id, **fields})

    def run(self) -> RunResult:
        started = datetime.now(UTC)
        self._reset()
        result = RunResult(status="failed", started_at=started)
        try:
            result = self._align_task(result)
        except TaskFailure as failure:
            result.error, result.exit_code = str(failure), failure.exit_code
        except Exception:
            self.log(logging.ERROR, "internal error", exc_info=True)
            result.error = "An internal error stopped the alignment; it will be tried again."
            result.exit_code = ExitCode.INTERNAL
        finally:
            self._keep_log_tail()
            shutil.rmtree(self.paths.work_dir, ignore_errors=True)
        result.warnings = self.warnings
        result.engine_seconds = round(self.engine_seconds, 3)
        result.finished_at = datetime.now(UTC)
        result.save(self.paths)
        if result.status == "completed":
            self.log(logging.INFO, "task completed", seconds=_seconds(started))
        else:
            self.log(logging.WARNING, "task failed", error=result.error, exit_code=result.exit_code)
        return result

    def _reset(self) -> None:
        """Forget what an earlier attempt left behind."""
        self.paths.result_json.unlink(missing_ok=True)
        self.paths.engine_log.unlink(missing_ok=True)
        self.paths.progress_json.unlink(missing_ok=True)
        shutil.rmtree(self.paths.view_dir, ignore_errors=True)
        for temporary in self.paths.root.glob(".*.tmp"):  # atomic writes cut short by a kill
            temporary.unlink(missing_ok=True)
        for folder in (self.paths.work_dir, self.paths.output_dir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)

    def _align_task(self, result: RunResult) -> RunResult:
        manifest = self._manifest()
        self.warnings.extend(manifest.warnings)
        language = self._language(manifest)
        engine = self._engine(manifest.engine, language)
        result.engine, result.engine_version = engine.name, engine.version()
        recordings = _unique_names([self._recording(f) for f in manifest.files])
        audio_seconds = sum(r.duration for r in recordings)
        alignment = self.settings.alignment
        limit = alignment.timeout_base_seconds + alignment.timeout_per_audio_second * audio_seconds
        deadline = Deadline(limit)
        self.log(
            logging.INFO,
            "task started",
            engine=engine.name,
            language=language.code,
            files=len(recordings),
            audio_seconds=round(audio_seconds, 3),
            timeout_seconds=round(limit, 1),
        )
        words = [w for r in recordings for u in r.utterances for w in u.words]
        if not words:
            raise TaskFailure(
                "The transcripts contain no words to align: write the words spoken in each "
                "recording.",
                ExitCode.BAD_INPUT,
            )
        lexicon = self._lexicon(engine, language, words, deadline)
        progress = ProgressReport(self.paths, [r.duration for r in recordings])
        aligned = []
        for recording in recordings:
            share_done = partial(progress.partly, recording.duration)
            aligned.append(self._align(engine, recording, lexicon, deadline, limit, share_done))
            progress.done(recording.duration)
        self._package(manifest, language, engine, recordings, aligned, lexicon)
        self._write_views(recordings)
        result.status, result.error, result.exit_code = "completed", None, ExitCode.OK
        missing = set(lexicon.missing)
        result.files = [
            ResultFile(
                name=r.file.name,
                duration_s=round(r.duration, 3),
                words=sum(len(u.words) for u in r.utterances),
                missing_words=len({w for u in r.utterances for w in u.words} & missing),
                tiers=r.file.tiers,
            )
            for r in recordings
        ]
        return result

    def _manifest(self) -> Manifest:
        try:
            return Manifest.load(self.paths)
        except (OSError, ValueError) as exc:
            self.log(logging.ERROR, "manifest unreadable", error=str(exc))
            raise TaskFailure(
                "The task's list of files (manifest) is missing or damaged; the upload step "
                "must run again.",
                ExitCode.INTERNAL,
            ) from exc

    def _language(self, manifest: Manifest) -> LanguageConfig:
        try:
            return self.settings.language(manifest.language)
        except KeyError:
            raise TaskFailure(
                f'The language "{manifest.language}" is not configured on this server.',
                ExitCode.INTERNAL,
            ) from None

    def _engine(self, name: str, language: LanguageConfig) -> Engine:
        try:
            return create_engine(name, language)
        except UnknownEngineError:
            raise TaskFailure(
                f'The alignment engine "{name}" is not available on this server.',
                ExitCode.INTERNAL,
            ) from None

    def _recording(self, file: ManifestFile) -> Recording:
        audio = self.paths.input_audio(file.stem)
        try:
            duration = wav_duration(audio)
        except (OSError, EOFError, wave.Error, ValueError) as exc:
            raise TaskFailure(
                f"The recording {file.name} could not be read ({_reason(exc)}); upload it "
                "again, as WAV, MP3, FLAC or another supported audio format.",
                ExitCode.BAD_INPUT,
            ) from exc
        try:
            utterances = read_utterances(
                self.paths.input_textgrid(file.stem), file.tiers, duration, file.plain
            )
        except TextGridError as exc:
            raise TaskFailure(
                f"The transcript {file.transcript} could not be read ({exc}); upload it again.",
                ExitCode.BAD_INPUT,
            ) from exc
        return Recording(
            file=file,
            audio=audio,
            duration=duration,
            utterances=utterances,
            speakers=[""] if file.plain else list(file.tiers),
            result_name=f"{_original_stem(file)}.TextGrid",
        )

    def _lexicon(
        self, engine: Engine, language: LanguageConfig, words: list[str], deadline: Deadline
    ) -> TaskLexicon:
        user = Lexicon()
        if self.paths.user_dict.exists():
            try:
                user = read_dictionary(self.paths.user_dict)
            except (DictionaryError, OSError) as exc:
                raise TaskFailure(
                    f"Your pronunciation dictionary could not be read: {exc}. Correct it "
                    "(one word per line followed by its phones) and upload it again.",
                    ExitCode.BAD_INPUT,
                ) from exc
        try:
            lexicon = build_task_lexicon(
                words,
                base=engine.base_lexicon(set(words)),
                user=user,
                guess=self._guesser(engine, language, deadline),
                to_engine=engine.engine_phones,
                to_ipa=ipa_labels_for(phone_set(language)),
                guessed_variants=engine.guessed_variants,
            )
        except EngineError as exc:
            raise _failure(exc, "while finding pronunciations") from exc
        if lexicon.unpronounceable:
            listed = ", ".join(lexicon.unpronounceable[:20])
            message = (
                f"No pronunciation could be found for {len(lexicon.unpronounceable)} word(s): "
                f"{listed}. Add them to a pronunciation dictionary (.dict) and upload it with "
                "the recordings."
            )
            if engine.requires_full_lexicon:
                raise TaskFailure(message, ExitCode.BAD_INPUT)
            self.warnings.append(message)
        has_dictionary = dictionary_path(language) is not None
        self.language_check = check_language(
            words, set(lexicon.missing), language, self.settings.languages, has_dictionary
        )
        self.warnings.extend(self.language_check.warnings)
        guessed = lexicon.guessed()
        if guessed and has_dictionary:
            self.warnings.append(
                f"{len(guessed)} word(s) not in the dictionary were aligned with pronunciations "
                f"guessed by espeak-ng ({', '.join(guessed[:20])}); check them in "
                "missing_words.txt."
            )
        self.log(
            logging.INFO,
            "pronunciations ready",
            missing=len(lexicon.missing),
            guessed=len(guessed),
        )
        return lexicon

    def _guesser(
        self, engine: Engine, language: LanguageConfig, deadline: Deadline
    ) -> Callable[[list[str]], dict[str, list[str]]] | None:
        g2p = language.assets.get("g2p", engine.default_g2p)
        if g2p == "none":
            return None
        if g2p != "espeak-ng":
            raise TaskFailure(
                f'Language "{language.code}" is configured with an unknown g2p "{g2p}".',
                ExitCode.INTERNAL,
            )
        work_dir = self.paths.work_dir / "g2p"
        log_path = self._new_log(work_dir)

        def guess(words: list[str]) -> dict[str, list[str]]:
            return espeak_pronunciations(
                words,
                work_dir=work_dir,
                log_path=log_path,
                timeout=deadline.remaining(),
                voice=language.assets.get("espeak_voice", "en-us"),
                command=language.assets.get("espeak_command", "espeak-ng"),
                phone_set=phone_set(language),
            )

        return guess

    def _align(
        self,
        engine: Engine,
        recording: Recording,
        lexicon: TaskLexicon,
        deadline: Deadline,
        limit: float,
        progress: ProgressCallback,
    ) -> list[AlignedWord]:
        if not recording.utterances:
            self.warnings.append(f"{recording.file.name}: the transcript has no words.")
            return []
        work_dir = self.paths.work_dir / f"file-{recording.file.stem}"
        self._new_log(work_dir)
        started = time.monotonic()
        try:
            if deadline.remaining() <= 0:
                raise EngineTimeout("no time left")
            words = engine.align(
                recording.audio,
                recording.utterances,
                lexicon.lexicon(),
                work_dir,
                deadline.remaining(),
                progress,
            )
        except EngineTimeout as exc:
            raise TaskFailure(
                f"Aligning {recording.file.name} took longer than the time limit "
                f"({limit:.0f} s for this task). Check that its transcript matches the "
                "recording, or split long recordings into shorter files.",
                ExitCode.BAD_INPUT,
            ) from exc
        except EngineError as exc:
            raise _failure(exc, f"on {recording.file.name}") from exc
        finally:
            self.engine_seconds += time.monotonic() - started
        kept = self._check(recording, words)
        self.log(
            logging.INFO,
            "file aligned",
            file=recording.file.name,
            words=len(kept),
            seconds=round(time.monotonic() - started, 3),
        )
        return kept

    def _check(self, recording: Recording, words: Sequence[AlignedWord]) -> list[AlignedWord]:
        """The words that lie in their utterances; warnings for utterances left unaligned."""
        kept: list[AlignedWord] = []
        for utterance in recording.utterances:
            inside = [
                w
                for w in words
                if w.speaker == utterance.speaker
                and w.start >= utterance.start - TOLERANCE
                and w.end <= utterance.end + TOLERANCE
                and w.end > w.start
            ]
            where = f"{utterance.start:.2f}-{utterance.end:.2f} s"
            if utterance.speaker:
                where += f' of tier "{utterance.speaker}"'
            if not inside:
                self.warnings.append(
                    f"{recording.file.name}: the words at {where} could not be aligned and are "
                    "left empty; check that they match the recording."
                )
            elif len(inside) < len(utterance.words):
                self.warnings.append(
                    f"{recording.file.name}: only {len(inside)} of {len(utterance.words)} words "
                    f"at {where} were aligned."
                )
            kept.extend(inside)
        if not kept:
            raise TaskFailure(
                f"Nothing in {recording.file.name} could be aligned: the language or the "
                f"transcript may be wrong. Check that the transcript "
                f"{recording.file.transcript} matches the recording, "
                f"{self.language_check.hint()}.",
                ExitCode.BAD_INPUT,
            )
        return kept

    def _package(
        self,
        manifest: Manifest,
        language: LanguageConfig,
        engine: Engine,
        recordings: list[Recording],
        aligned: list[list[AlignedWord]],
        lexicon: TaskLexicon,
    ) -> None:
        members: list[tuple[str, Path]] = []
        for recording, words in zip(recordings, aligned, strict=True):
            path = self.paths.output_textgrid(recording.file.stem)
            write_alignment(
                path, words, recording.speakers, recording.duration, recording.file.plain
            )
            members.append((recording.result_name, path))
            ipa_path = path.with_name(path.stem + IPA_SUFFIX)
            write_alignment(
                ipa_path,
                [_in_ipa(word, lexicon) for word in words],
                recording.speakers,
                recording.duration,
                recording.file.plain,
            )
            members.append((recording.ipa_result_name, ipa_path))
        missing = self.paths.output_dir / "missing_words.txt"
        text = missing_words_text(
            lexicon,
            language.name,
            has_dictionary=dictionary_path(language) is not None,
            in_ipa=phone_set(language) == "ipa",
        )
        missing.write_text(text, encoding="utf-8")
        readme = self.paths.output_dir / "README.txt"
        readme.write_text(
            self._readme(manifest, language, engine, recordings, lexicon), encoding="utf-8"
        )
        members += [("missing_words.txt", missing), ("README.txt", readme)]
        with (
            atomic_path(self.paths.result_zip) as tmp,
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            for name, path in members:
                archive.write(path, arcname=name)

    def _readme(
        self,
        manifest: Manifest,
        language: LanguageConfig,
        engine: Engine,
        recordings: list[Recording],
        lexicon: TaskLexicon,
    ) -> str:
        g2p = language.assets.get("g2p", engine.default_g2p)
        versions = [f"autophon {_package_version('autophon')}", f"{engine.name} {engine.version()}"]
        if g2p == "espeak-ng":
            versions.append(f"espeak-ng {espeak_version()}")
        lines = [
            "AutoPhon forced alignment",
            "",
            f"Task: {manifest.task_id}",
            f"Finished: {datetime.now(UTC).isoformat(timespec='seconds')}",
            f"Language: {language.name} ({language.code})",
            f"How it is aligned: {alignment_description(language)}",
            f"Engine: {engine.describe()}",
            f"Versions: {', '.join(versions)}",
            "",
            "Files (two TextGrids per recording, with the recording's exact duration; a plain",
            'transcript gives tiers "words" and "phones", a TextGrid transcript gives',
            '"<tier> - words" and "<tier> - phones" per speaker tier; pauses are empty',
            "intervals. In <stem>.TextGrid the phone labels are the engine's phones (for the",
            "built-in engine the English model's ARPAbet phones, also for a cross-language",
            "language); <stem>_IPA.TextGrid has the same intervals with the phones in IPA):",
        ]
        for r in recordings:
            count = sum(len(u.words) for u in r.utterances)
            lines.append(
                f"  {r.result_name} and {r.ipa_result_name}: from {r.file.name} and "
                f"{r.file.transcript}, {r.duration:.2f} s, {count} words"
            )
        if dictionary_path(language) is None and g2p == "espeak-ng":
            pronunciations = (
                "Pronunciations: espeak-ng's, in IPA, for every word (the language has no "
                "dictionary here)"
                + (", overridden by your dictionary" if manifest.has_user_dict else "")
                + "; missing_words.txt lists each word with the pronunciation used."
            )
        else:
            pronunciations = (
                "Pronunciations: the language's dictionary"
                + (", overridden by your dictionary" if manifest.has_user_dict else "")
                + (", and espeak-ng guesses for other words" if g2p == "espeak-ng" else "")
                + f". {len(lexicon.missing)} word(s) were not in the dictionary; "
                "missing_words.txt lists them with the pronunciation used."
            )
        lines += [
            "",
            pronunciations,
            "",
            "Warnings:",
        ]
        lines += [f"  - {w}" for w in self.warnings] or ["  (none)"]
        return "\n".join(lines) + "\n"

    def _write_views(self, recordings: list[Recording]) -> None:
        """The viewer's summaries; a recording without one is still a result."""
        for recording in recordings:
            stem = recording.file.stem
            try:
                write_view(
                    self.paths.view_file(stem),
                    recording.file.name,
                    recording.audio,
                    self.paths.output_textgrid(stem),
                )
            except (OSError, ValueError) as exc:
                self.log(logging.WARNING, "no view", file=recording.file.name, error=str(exc))

    def _new_log(self, work_dir: Path) -> Path:
        work_dir.mkdir(parents=True, exist_ok=True)
        path = work_dir / ENGINE_LOG_NAME
        self.logs.append(path)
        return path

    def _keep_log_tail(self) -> None:
        """engine.log in the task folder: the last lines of the engine logs of this run."""
        count = self.settings.alignment.log_tail_lines
        lines: list[str] = []
        for path in self.logs:
            lines += tail_lines(path, count)
        if lines and count:
            text = "\n".join(lines[-count:]) + "\n"
            atomic_write_bytes(self.paths.engine_log, text.encode("utf-8"))


def _in_ipa(word: AlignedWord, lexicon: TaskLexicon) -> AlignedWord:
    """``word`` with its phones labelled in IPA: those of the pronunciation the engine
    aligned, else each ARPAbet phone through the English table."""
    labels = lexicon.ipa_labels(word.label, [p.label for p in word.phones])
    if labels is None:
        labels = [arpabet_to_ipa(p.label) for p in word.phones]
    phones = tuple(
        Interval(p.start, p.end, label) for p, label in zip(word.phones, labels, strict=True)
    )
    return replace(word, phones=phones)


def _failure(exc: EngineError, where: str) -> TaskFailure:
    if isinstance(exc, EngineTimeout):
        return TaskFailure(
            f"The alignment ran out of time {where}; split long recordings into shorter files.",
            ExitCode.BAD_INPUT,
        )
    if isinstance(exc, EngineInputError):
        return TaskFailure(str(exc), ExitCode.BAD_INPUT)
    if isinstance(exc, EngineResourceError):
        # Not retried: the same input would need the same memory again.
        return TaskFailure(
            f"The recording is too large for the aligner {where}: {exc} Split it into shorter "
            "files, or upload a TextGrid that marks the utterances.",
            ExitCode.RESOURCE,
        )
    if isinstance(exc, EngineUnavailable):
        return TaskFailure(
            f"The aligner is not set up correctly on this server ({exc}); an administrator "
            "must fix it.",
            ExitCode.INTERNAL,
        )
    return TaskFailure(f"The aligner failed {where}: {exc}", ExitCode.INTERNAL)


def _original_stem(file: ManifestFile) -> str:
    stem = PurePosixPath(file.name.replace("\\", "/")).stem
    return stem if stem.strip(". ") else file.stem


def _unique_names(recordings: list[Recording]) -> list[Recording]:
    """Two recordings with one original stem ("a.wav", "a.mp3") keep their safe stems."""
    seen: set[str] = set()
    for recording in recordings:
        key = recording.result_name.casefold()
        if key in seen:
            recording.result_name = f"{recording.file.stem}.TextGrid"
        seen.add(recording.result_name.casefold())
    return recordings


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "the file is missing"
    if isinstance(exc, EOFError | wave.Error):
        return "not a readable WAV file"
    return str(exc) or type(exc).__name__


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _seconds(since: datetime) -> float:
    return round((datetime.now(UTC) - since).total_seconds(), 3)


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM (a deleted Job, a cancelled task) into SystemExit, so engine processes are
    killed and the work folder removed on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
