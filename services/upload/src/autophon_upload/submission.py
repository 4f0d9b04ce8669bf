"""Checks made while the user waits for the upload's answer: the language and engine exist,
and the file names pair up. Anything that needs the files' contents is the worker's job."""

from __future__ import annotations

from autophon_core.config import Settings
from autophon_core.languages import resolve_language
from autophon_upload.processing import (
    BadInputError,
    FileKind,
    classify,
    pair_files,
    unsupported_message,
)
from autophon_upload.receiver import ReceivedUpload


class SubmissionError(ValueError):
    """The submission cannot become a task; the message tells the user why."""


def choose_language(fields: dict[str, str], settings: Settings) -> tuple[str, str]:
    """The task's (language, engine): the form's choices, else the configured defaults."""
    code = fields.get("language") or settings.default_language
    language = resolve_language(code, settings.languages)
    if language is None:
        known = ", ".join(f"{lang.code} ({lang.name})" for lang in settings.languages)
        raise SubmissionError(f"Unknown language {code[:40]!r}; available: {known}.")
    engine = fields.get("engine") or language.engine
    if engine != language.engine:
        raise SubmissionError(
            f"The engine {engine[:40]!r} is not available for {language.name}; "
            f"use {language.engine!r}."
        )
    return language.code, engine


def check_submission(upload: ReceivedUpload, settings: Settings) -> tuple[str, str]:
    """Raise SubmissionError for a submission that can never be processed; return the
    task's (language, engine).

    Files sent directly are paired here, so the user hears at once about a missing
    transcript; the members of a zip are paired by the worker after a safe extraction."""
    language = choose_language(upload.fields, settings)
    problems = [m for name in upload.files if (m := unsupported_message(name))]
    if problems:
        raise SubmissionError(" ".join(problems))
    if not any(classify(name) is FileKind.ZIP for name in upload.files):
        try:
            pair_files([upload.paths.upload_file(name) for name in upload.files])
        except BadInputError as exc:
            raise SubmissionError(str(exc)) from None
    return language
