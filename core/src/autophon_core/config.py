"""The configuration file shared by every AutoPhon process.

One YAML file (``--config PATH``, default ``autophon.yaml`` when present) is read into
:class:`Settings`. The Helm chart renders ``values.config`` into the same file, so a key has
the same name in both. Built-in defaults are the local ones: SQLite and storage under
``./.autophon/``, the local launcher and the built-in pocketsphinx engine. Only secrets come
from the environment, through env var *names* given in the file (``password_env``,
``tokens_env``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_CONFIG_FILE = "autophon.yaml"
CONFIG_ENV = "AUTOPHON_CONFIG"


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(Section):
    # SQLAlchemy URL: sqlite:///path or postgresql+psycopg2://user@host:5432/db
    url: str = "sqlite:///./.autophon/autophon.db"
    # Name of the env var that holds the password (kept out of the file and the chart values).
    password_env: str | None = None
    pool_size: int = Field(5, ge=1)

    def resolved_url(self) -> str:
        """The URL with the password from ``password_env`` filled in, if one is set."""
        # Imported here: the alignment Job reads this config but never a database, and
        # SQLAlchemy is a tenth of a second of its start-up.
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg2")
        if self.password_env and os.environ.get(self.password_env):
            url = url.set(password=os.environ[self.password_env])
        return url.render_as_string(hide_password=False)


class StorageConfig(Section):
    # Root of the shared volume (the PVC mount on Kubernetes, a folder locally).
    root: Path = Path("./.autophon/data")
    # The original service promised that recordings are deleted right after alignment: the
    # chart sets this (values.yaml). The built-in default is the local install's, on the user's
    # own disk, where the recordings stay (until retention) so the viewer can play them.
    delete_audio_after_alignment: bool = False
    # Finished tasks (results) are kept this many days, then expired; 0 keeps them forever.
    result_retention_days: int = Field(30, ge=0)


class ApiConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Whole request body limit, enforced while streaming (the original's 750 MB).
    max_upload_bytes: int = Field(750 * 1024 * 1024, ge=1)
    # Files per task, counting the members of an uploaded zip.
    max_files: int = Field(1000, ge=1)
    # Total uncompressed size allowed out of one zip (zip-bomb guard).
    max_unzipped_bytes: int = Field(2 * 1024 * 1024 * 1024, ge=1)
    # Empty: CORS off.
    cors_origins: list[str] = []
    # Env var holding comma-separated API bearer tokens; unset means no authentication.
    tokens_env: str | None = None
    # Uploads per client address per minute; 0 disables the limit.
    uploads_per_minute: int = Field(0, ge=0)


class QueueConfig(Section):
    # A claim is a lease; a live worker renews it every lease_seconds / 3.
    lease_seconds: float = Field(30.0, gt=0)
    # Claims of one task (worker deaths included) before it fails for good.
    max_attempts: int = Field(3, ge=1)
    # Idle fallback poll when no notification arrives (at most one claim query per interval).
    poll_interval_seconds: float = Field(2.0, gt=0)
    # How often a worker fails tasks whose lease expired too many times.
    reap_interval_seconds: float = Field(60.0, gt=0)
    # Interval of the "stats" log line.
    stats_interval_seconds: float = Field(30.0, gt=0)
    # On SIGTERM: stop claiming, finish or hand back work, exit within this time.
    shutdown_grace_seconds: float = Field(25.0, gt=0)


class UploadWorkerConfig(Section):
    concurrency: int = Field(2, ge=1)
    # Per ffmpeg/ffprobe call.
    ffmpeg_timeout_seconds: float = Field(600.0, gt=0)
    # Longest recording accepted, in seconds.
    max_audio_seconds: float = Field(4 * 3600.0, gt=0)
    metrics_port: int | None = Field(None, ge=1, le=65535)


class KubernetesJobConfig(Section):
    # Namespace for Jobs; empty means the controller's own (from the service account).
    namespace: str = ""
    # Aligner image per engine name.
    images: dict[str, str] = {
        "pocketsphinx": "autophon/aligner:0.1.0",
        "mfa": "autophon/aligner-mfa:0.1.0",
        "fave": "autophon/aligner-fave:0.1.0",
    }
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    image_pull_secrets: list[str] = []
    # The shared volume's claim and the config file's ConfigMap, both created by the chart.
    pvc_name: str = "autophon-data"
    config_map_name: str = "autophon-config"
    # Where the config file and the shared volume are mounted in Job pods.
    config_mount_path: str = "/etc/autophon"
    data_mount_path: str = "/data"
    service_account_name: str = ""
    resources: dict[str, Any] = {}
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []
    ttl_seconds_after_finished: int = Field(3600, ge=0)
    # Pod-level retries inside one Job; the controller does its own retries of disruptions.
    backoff_limit: int = Field(0, ge=0)
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class ControllerConfig(Section):
    launcher: Literal["local", "kubernetes"] = "local"
    # Alignment Jobs running at once (existing Jobs count).
    max_concurrent_jobs: int = Field(2, ge=1)
    # Periodic re-list of Jobs, the fallback to the watch.
    resync_seconds: float = Field(30.0, gt=0)
    # Back-off of retried (disrupted) Jobs: base * 2**(attempt-1), capped.
    retry_backoff_seconds: float = Field(10.0, ge=0)
    retry_backoff_max_seconds: float = Field(600.0, ge=0)
    # Lines of the Job's log stored with a failed task.
    log_tail_lines: int = Field(20, ge=0)
    metrics_port: int | None = Field(None, ge=1, le=65535)
    kubernetes: KubernetesJobConfig = KubernetesJobConfig()


class AlignmentConfig(Section):
    # Time limit of one alignment = base + per_audio_second * total audio seconds.
    timeout_base_seconds: float = Field(120.0, gt=0)
    timeout_per_audio_second: float = Field(5.0, ge=0)
    # Keep the engine's last log lines in the task folder on failure.
    log_tail_lines: int = Field(40, ge=0)


class LanguageConfig(Section):
    # ISO 639-3 code (eng, dan, deu, fra...); common aliases of known codes are built in
    # (autophon_core.languages).
    code: str
    name: str
    engine: str
    # Engine-specific assets: acoustic model, dictionary, G2P model... (paths or model names).
    assets: dict[str, str] = {}
    # More names an upload may use for this language, besides the built-in ones.
    aliases: list[str] = []
    # How the language is aligned and how exact to expect it (API and README.txt).
    about: str = ""


_CROSS_LANGUAGE = (
    "Built-in engine, cross-language: pronunciations from espeak-ng ({voice}) in {name} IPA, "
    "timed with the US-English acoustic model through AutoPhon's IPA-to-English phone "
    "mapping. Word boundaries on six connected sentences of espeak-ng's synthetic {name} "
    "speech: {within_20} within 20 ms, {within_50} within 50 ms; expect real speech to be "
    "rougher, and phone boundaries rougher than with a model trained on {name}. Phone labels: "
    "IPA in <stem>_IPA.TextGrid."
)

# The cross-language languages whose vowel-initial words joined to a sonorant are left where the
# aligner starts them (the pocketsphinx asset vowel_onset_lead "false"): measured on espeak-ng's
# and MBROLA's voices, starting them earlier, as in English, costs these languages edges (German
# and Dutch start such words with a glottal stop, French links the consonant to the vowel;
# Russian, Hungarian, Turkish and Ukrainian: 0-2.7 points on espeak-ng's voice, clean or at
# 10 dB SNR).
_WITHOUT_VOWEL_ONSET_LEAD = {"deu", "nld", "fra", "por", "rus", "hun", "tur", "ukr"}

DEFAULT_LANGUAGES = [
    LanguageConfig(
        code="eng",
        name="English (US, built-in)",
        engine="pocketsphinx",
        about=(
            "Built-in engine: pocketsphinx with its US-English acoustic model and CMUdict "
            "(espeak-ng guesses for other words), adapted to each speaker. Word boundaries: on "
            "clear connected synthetic speech 8 to 9 in 10 within 20 ms (by voice), nearly all "
            "within 50 ms; noisy recordings are aligned on a denoised copy (8 in 10 at 10 dB "
            "SNR). Phone labels: ARPAbet, and IPA in <stem>_IPA.TextGrid."
        ),
    ),
    *[
        LanguageConfig(
            code=code,
            name=f"{name} (built-in, cross-language)",
            engine="pocketsphinx",
            assets={"espeak_voice": voice, "phone_set": "ipa"}
            | ({"vowel_onset_lead": "false"} if code in _WITHOUT_VOWEL_ONSET_LEAD else {}),
            about=_CROSS_LANGUAGE.format(
                voice=voice, name=name, within_20=within_20, within_50=within_50
            ),
        )
        # Shares measured by make bench (conditions <code>_clean_<voice>; docs/engines.md).
        for code, name, voice, within_20, within_50 in (
            ("dan", "Danish", "da", "83%", "98%"),
            ("nob", "Norwegian Bokmål", "nb", "85%", "98%"),
            ("swe", "Swedish", "sv", "88%", "98%"),
            ("deu", "German", "de", "94%", "100%"),
            ("nld", "Dutch", "nl", "82%", "99%"),
            ("fra", "French", "fr", "81%", "98%"),
            ("spa", "Spanish", "es", "83%", "99%"),
            ("ita", "Italian", "it", "81%", "97%"),
            ("por", "Portuguese", "pt", "78%", "90%"),
            ("pol", "Polish", "pl", "72%", "91%"),
            ("fin", "Finnish", "fi", "77%", "95%"),
            ("isl", "Icelandic", "is", "81%", "98%"),
            ("ces", "Czech", "cs", "85%", "93%"),
            ("rus", "Russian", "ru", "86%", "100%"),
            ("cat", "Catalan", "ca", "88%", "98%"),
            ("hun", "Hungarian", "hu", "82%", "99%"),
            ("tur", "Turkish", "tr", "78%", "90%"),
            ("ell", "Greek", "el", "91%", "97%"),
            ("ukr", "Ukrainian", "uk", "86%", "99%"),
            ("slk", "Slovak", "sk", "92%", "100%"),
        )
    ],
]


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # json: one JSON object per line (kubectl logs); text: for a terminal.
    format: Literal["json", "text"] = "json"


class Settings(Section):
    database: DatabaseConfig = DatabaseConfig()
    storage: StorageConfig = StorageConfig()
    api: ApiConfig = ApiConfig()
    queue: QueueConfig = QueueConfig()
    upload_worker: UploadWorkerConfig = UploadWorkerConfig()
    controller: ControllerConfig = ControllerConfig()
    alignment: AlignmentConfig = AlignmentConfig()
    languages: list[LanguageConfig] = DEFAULT_LANGUAGES
    default_language: str = "eng"
    logging: LoggingConfig = LoggingConfig()

    @field_validator("languages")
    @classmethod
    def _unique_codes(cls, languages: list[LanguageConfig]) -> list[LanguageConfig]:
        codes = [lang.code for lang in languages]
        if len(codes) != len(set(codes)):
            raise ValueError(f"language codes must be unique, got {codes}")
        if not codes:
            raise ValueError("at least one language must be configured")
        return languages

    @model_validator(mode="after")
    def _default_language_exists(self) -> Settings:
        if self.default_language not in {lang.code for lang in self.languages}:
            raise ValueError(
                f"default_language {self.default_language!r} is not one of the configured "
                f"languages {[lang.code for lang in self.languages]}"
            )
        return self

    def language(self, code: str) -> LanguageConfig:
        for lang in self.languages:
            if lang.code == code:
                return lang
        raise KeyError(code)

    def api_tokens(self) -> set[str]:
        if not self.api.tokens_env:
            return set()
        raw = os.environ.get(self.api.tokens_env, "")
        return {token.strip() for token in raw.split(",") if token.strip()}


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the config file: ``path``, else ``$AUTOPHON_CONFIG``, else ``autophon.yaml`` if it
    exists, else the built-in defaults."""
    explicit = path or os.environ.get(CONFIG_ENV)
    candidate = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    if not candidate.exists():
        if explicit:
            raise ConfigError(f"config file {candidate} does not exist")
        return Settings()
    try:
        data = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {candidate}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {candidate} must hold a mapping at the top level")
    try:
        return Settings.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"invalid config file {candidate}: {exc}") from exc
