"""Static checks of the Dockerfiles, /.dockerignore, build.sh and the compose setup.

No Docker engine is needed: the Dockerfiles are parsed, and the commands they name are checked
against the project (the ``autophon`` console script and its subcommands)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
# DESIGN.md, "Processes".
SUBCOMMANDS = ("api", "upload-worker", "controller", "run-task", "local", "migrate")
APP_UID = "10001"


@dataclass(frozen=True)
class Image:
    # Debian packages the runtime stage must install.
    apt: frozenset[str]
    # The subcommand of the default CMD (None: just --help).
    cmd: str | None


IMAGES = {
    # ffmpeg: a small build of their own (the ffmpeg stage), not Debian's package.
    "upload": Image(frozenset(), "api"),
    "controller": Image(frozenset(), "controller"),
    "aligner": Image(frozenset({"espeak-ng"}), None),
    "aligner-mfa": Image(frozenset({"ffmpeg", "espeak-ng"}), None),
    "aligner-fave": Image(frozenset({"ffmpeg", "espeak-ng", "sox"}), None),
}
PYTHON_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm$")


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str]
    stages: list[Stage]
    comments: str

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def arg_default(self, name: str) -> str | None:
        if name in self.global_args:
            return self.global_args[name]
        for stage in self.stages:
            for arg in stage.all("ARG"):
                key, _, value = arg.args.partition("=")
                if key.strip() == name:
                    return _unquote(value)
        return None

    def run_text(self) -> str:
        return "\n".join(i.args for s in self.stages for i in s.all("RUN"))


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse(path: Path) -> Dockerfile:
    """A small Dockerfile parser: parser directives, comments (also inside continued lines),
    backslash continuations, global ARGs and stages."""
    instructions: list[Instruction] = []
    comments: list[str] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            comments.append(stripped.lstrip("#").strip())
            continue
        if not stripped and not pending:
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        text = " ".join(part.strip() for part in pending if part.strip())
        pending = []
        keyword, _, args = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, f"{path}: dangling line continuation"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            base = words[0]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            assert instruction.keyword == "ARG", f"{path}: {instruction.keyword} before FROM"
            key, _, value = instruction.args.partition("=")
            global_args[key.strip()] = _unquote(value)
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(path, global_args, stages, "\n".join(comments))


def dockerfile(name: str) -> Dockerfile:
    return parse(DOCKER / f"Dockerfile.{name}")


def resolve(df: Dockerfile, reference: str) -> str:
    def substitute(match: re.Match[str]) -> str:
        value = df.global_args.get(match.group(1))
        assert value, f"{df.path.name}: ${{{match.group(1)}}} has no default"
        return value

    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", substitute, reference)


def exec_form(instruction: Instruction) -> list[str]:
    value = json.loads(instruction.args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), instruction
    return value


# --- every Dockerfile --------------------------------------------------------------------


def test_every_expected_dockerfile_exists() -> None:
    present = {p.name.removeprefix("Dockerfile.") for p in DOCKER.glob("Dockerfile.*")}
    assert present == set(IMAGES)


@pytest.mark.parametrize("name", IMAGES)
def test_base_images_are_pinned(name: str) -> None:
    df = dockerfile(name)
    stage_names = {s.name for s in df.stages if s.name}
    for stage in df.stages:
        if stage.base in stage_names:
            continue
        image = resolve(df, stage.base)
        if "@sha256:" in image:
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
        assert re.search(r"\d+\.\d+\.\d+", tag), f"{name}: {image} lacks a patch version"
    assert "latest" not in (DOCKER / f"Dockerfile.{name}").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", IMAGES)
def test_python_base_is_3_11_slim_bookworm(name: str) -> None:
    df = dockerfile(name)
    assert PYTHON_BASE.match(df.global_args["PYTHON_IMAGE"]), df.global_args
    if name != "aligner-mfa":
        assert resolve(df, df.final.base) == df.global_args["PYTHON_IMAGE"]


@pytest.mark.parametrize("name", IMAGES)
def test_multi_stage_wheel_build(name: str) -> None:
    df = dockerfile(name)
    assert len(df.stages) >= 2
    builders = [s for s in df.stages[:-1] if "pip wheel" in " ".join(i.args for i in s.all("RUN"))]
    assert builders, f"{name}: no stage builds the wheel"
    final = df.final
    final_text = " ".join(i.args for i in final.instructions)
    from_stages = re.findall(r"(?:--from=|,from=)([\w.-]+)", final_text)
    assert from_stages and set(from_stages) <= {s.name for s in df.stages[:-1]}
    # No compiler or source tree in the runtime image.
    assert not any("build-essential" in i.args for i in final.all("RUN"))
    assert not any(i.args.split()[0] in {"core/src", "."} for i in final.all("COPY"))


@pytest.mark.parametrize("name", IMAGES)
def test_runs_as_numeric_non_root_user(name: str) -> None:
    final = dockerfile(name).final
    users = final.all("USER")
    assert users, f"{name}: no USER in the final stage"
    user, _, group = users[-1].args.partition(":")
    assert user == APP_UID and group in ("", APP_UID), users[-1]
    # Nothing after the last USER switches back to root.
    last = final.instructions.index(users[-1])
    assert all(i.keyword != "USER" for i in final.instructions[last + 1 :])
    # The uid exists in /etc/passwd (tools that look the user up do not fail).
    assert "useradd --uid 10001" in " ".join(i.args for i in final.all("RUN"))


@pytest.mark.parametrize("name", IMAGES)
def test_entrypoint_is_the_autophon_console_script(name: str) -> None:
    final = dockerfile(name).final
    (entrypoint,) = final.all("ENTRYPOINT")
    assert exec_form(entrypoint) == ["autophon"]
    assert "autophon" in PYPROJECT["project"]["scripts"]


@pytest.mark.parametrize("name", IMAGES)
def test_default_command_names_a_real_subcommand(name: str) -> None:
    final = dockerfile(name).final
    (cmd,) = final.all("CMD")
    args = exec_form(cmd)
    expected = IMAGES[name].cmd
    if expected is None:
        assert args == ["--help"]
        return
    words = [a for i, a in enumerate(args) if not a.startswith("-") and args[i - 1] != "--config"]
    assert words == [expected]
    assert expected in SUBCOMMANDS
    assert args[:2] == ["--config", "/etc/autophon/autophon.yaml"]


@pytest.mark.parametrize("name", IMAGES)
def test_system_packages(name: str) -> None:
    df = dockerfile(name)
    installed: set[str] = set()
    for run in df.final.all("RUN"):
        for match in re.finditer(r"apt-get install ([^&;]*)", run.args):
            installed |= {w for w in match.group(1).split() if not w.startswith("-")}
    assert installed >= IMAGES[name].apt, f"{name}: {installed}"
    if name == "controller":
        assert not installed, "the controller image needs no system packages"
    for run in df.final.all("RUN"):
        if "apt-get install" in run.args:
            assert "--no-install-recommends" in run.args
            assert "rm -rf /var/lib/apt/lists/*" in run.args


def copy_sources(df: Dockerfile) -> list[str]:
    """Paths COPY takes from the build context (not from other stages)."""
    return [
        word
        for stage in df.stages
        for copy in stage.all("COPY")
        if "--from" not in copy.args
        for word in copy.args.split()[:-1]
        if not word.startswith("--")
    ]


@pytest.mark.parametrize("name", IMAGES)
def test_the_wheel_gets_every_package_of_pyproject(name: str) -> None:
    copied = copy_sources(dockerfile(name))
    assert "pyproject.toml" in copied and "README.md" in copied  # hatchling reads the readme
    packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for package in packages:
        source_root = package.rsplit("/", 1)[0]
        assert source_root in copied, f"{name}: {source_root} is not copied"


# --- .dockerignore -------------------------------------------------------------------------


@cache
def dockerignore_rules() -> tuple[tuple[bool, re.Pattern[str]], ...]:
    rules = []
    for raw in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, re.compile(glob_regex(line.lstrip("!").strip("/")))))
    return tuple(rules)


def glob_regex(pattern: str) -> str:
    """Docker's .dockerignore glob: `**` spans directories, `*` and `?` do not."""
    out = ""
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
            continue
        if pattern.startswith("**", index):
            out += ".*"
            index += 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", index)
            out += pattern[index : end + 1]
            index = end
        else:
            out += re.escape(char)
        index += 1
    return out


def ignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, regex in dockerignore_rules():
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def test_dockerignore_keeps_the_context_small() -> None:
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/e2e/conftest.py",
        "bench/run.py",
        "core/src/autophon_core/__pycache__/x.pyc",
        ".autophon/data/x",
        "charts/autophon/values.yaml",
    ):
        assert ignored(path), f"{path} reaches the build context"
    for path in (
        "pyproject.toml",
        "README.md",
        "core/src/autophon_core/config.py",
        "services/align/src/autophon_align/runner.py",
        "cli/src/autophon_cli/main.py",
        "docker/htk/HTK-3.4.1.tar.gz",
    ):
        assert not ignored(path), f"{path} is kept out of the build context"


@pytest.mark.parametrize("name", IMAGES)
def test_copy_sources_exist_and_are_in_the_context(name: str) -> None:
    for source in copy_sources(dockerfile(name)):
        assert (REPO / source).exists(), f"{name}: COPY {source}: no such path"
        sample = source if (REPO / source).is_file() else f"{source}/x.py"
        assert not ignored(sample), f"{name}: COPY {source} is excluded by .dockerignore"


# --- the commands the images run ---------------------------------------------------------


def test_console_script_points_at_a_packaged_module() -> None:
    target = PYPROJECT["project"]["scripts"]["autophon"]
    module, _, function = target.partition(":")
    assert function, target
    package = module.split(".")[0]
    packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    roots = [REPO / p for p in packages if p.endswith(f"/{package}")]
    assert roots, f"{package} is not packaged in the wheel"
    module_file = roots[0].parent / (module.replace(".", "/") + ".py")
    if not module_file.exists():
        pytest.skip(f"{module_file.relative_to(REPO)} is not written yet (the CLI is in progress)")
    assert re.search(rf"^def {function}\(", module_file.read_text(encoding="utf-8"), re.M)


def _cli_available() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "import autophon_cli.main"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_subcommand_exists(subcommand: str) -> None:
    """`autophon <subcommand> --help` through the console script's entry point, as the image's
    ENTRYPOINT runs it."""
    if not _cli_available():
        pytest.skip("autophon_cli.main is not importable yet (the CLI is in progress)")
    script = (
        "import sys\n"
        "from importlib.metadata import entry_points\n"
        "(ep,) = [e for e in entry_points(group='console_scripts') if e.name == 'autophon']\n"
        "sys.argv = ['autophon', *sys.argv[1:]]\n"
        "sys.exit(ep.load()())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, subcommand, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "AUTOPHON_CONFIG": ""},
    )
    assert result.returncode == 0, result.stderr or result.stdout


# --- the engines' images -----------------------------------------------------------------


def test_mfa_image_downloads_its_models_at_build_time() -> None:
    df = dockerfile("aligner-mfa")
    assert df.arg_default("MFA_MODELS") == "english_us_arpa"
    assert re.fullmatch(r"\d+\.\d+\.\d+", df.arg_default("MFA_VERSION") or "")
    runs = df.run_text()
    assert "--channel conda-forge" in runs and "montreal-forced-aligner=${MFA_VERSION}" in runs
    assert 'mfa model download acoustic "$model"' in runs
    assert 'mfa model download dictionary "$model"' in runs
    assert "for model in ${MFA_MODELS}" in runs
    assert resolve(df, df.final.base).startswith("mambaorg/micromamba:")
    # The models are downloaded by the app user (MFA refuses root) and MFA_ROOT_DIR is writable
    # at run time (/tmp is the pod's emptyDir).
    download = next(i for i in df.final.instructions if "mfa model download" in i.args)
    users_before = [
        i
        for i in df.final.instructions[: df.final.instructions.index(download)]
        if i.keyword == "USER"
    ]
    assert users_before and users_before[-1].args.startswith(APP_UID)
    env = " ".join(i.args for i in df.final.all("ENV"))
    assert "MFA_ROOT_DIR=/tmp/mfa" in env


def test_mfa_image_pins_versions_that_fit_together() -> None:
    """MFA with the kalpy and Kaldi of its conda-forge recipe (3.4.1: kaldi 5.5.1172, kalpy
    >= 0.10; MFA 3.2.3's recipe left kalpy open, and later kalpy releases break it), and the
    MFA release whose `mfa align` definition the adapter's tests check arguments against."""
    df = dockerfile("aligner-mfa")
    runs = df.run_text()
    assert df.arg_default("MFA_VERSION") == "3.4.1"
    assert df.arg_default("KALPY_VERSION") == ">=0.10,<0.11"
    assert df.arg_default("KALDI_VERSION") == "5.5.1172"
    assert '"kalpy${KALPY_VERSION}" "kaldi=${KALDI_VERSION}"' in runs
    assert 'test "$(mfa version)" = "${MFA_VERSION}"' in runs
    copied = (REPO / "services/align/tests/mfa_upstream.py").read_text(encoding="utf-8")
    assert f"tag v{df.arg_default('MFA_VERSION')}." in copied


def test_fave_image_requires_the_licensed_htk_sources() -> None:
    df = dockerfile("aligner-fave")
    assert df.arg_default("HTK_SOURCE") == "", "HTK_SOURCE must have no default"
    runs = df.run_text()
    assert 'if [ -z "${HTK_SOURCE}" ]' in runs and "exit 1" in runs
    assert "ERROR: HTK_SOURCE is not set" in runs
    assert "licence" in df.comments.lower() and "htk" in df.comments.lower()
    assert "redistribut" in df.comments.lower()
    readme = (DOCKER / "README.md").read_text(encoding="utf-8")
    assert "HTK_SOURCE" in readme and "licence" in readme.lower()
    assert re.fullmatch(r"\d+\.\d+\.\d+", df.arg_default("FAVE_VERSION") or "")
    assert "fave-align" in runs
    htk_paths = {i.args for i in df.final.all("COPY") if "--from=htk" in i.args}
    assert htk_paths == {"--from=htk /opt/htk /opt/htk"}


def test_fave_image_runs_the_fave_the_tests_run() -> None:
    """The image installs the FAVE release the tests run the adapter through, with what it
    needs on Python 3.11 (pkg_resources; the compatibility launcher, checked at build)."""
    df = dockerfile("aligner-fave")
    tested = [d for d in PYPROJECT["project"]["optional-dependencies"]["test"] if "fave" in d]
    assert tested == [f"fave=={df.arg_default('FAVE_VERSION')}"]
    runs = df.run_text()
    assert '"fave==${FAVE_VERSION}" "setuptools<81"' in runs
    assert "-m autophon_align.engines.fave_compat --version" in runs
    assert "setuptools<81" in PYPROJECT["project"]["optional-dependencies"]["test"]


def test_fave_build_fails_clearly_without_htk(tmp_path: Path) -> None:
    """Run the HTK stage's guard with HTK_SOURCE empty: it must exit 1 and say why."""
    df = dockerfile("aligner-fave")
    guard = next(i.args for i in df.stages[0].all("RUN") if "HTK_SOURCE" in i.args)
    script = guard.split("set -eu;", 1)[1]
    result = subprocess.run(
        ["sh", "-c", "set -eu;" + script],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HTK_SOURCE": ""},
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "HTK_SOURCE is not set" in result.stderr
    assert "htk.eng.cam.ac.uk" in result.stderr


# --- build.sh and compose ----------------------------------------------------------------


def test_build_script() -> None:
    script = DOCKER / "build.sh"
    assert os.access(script, os.X_OK), "docker/build.sh is not executable"
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    for variable in ("IMAGE_PREFIX", "TAG", "IMAGES", "BUILD_ARGS", "PUSH"):
        assert f"${{{variable}" in text, variable
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_build_script_builds_each_image_with_prefix_and_tag(tmp_path: Path) -> None:
    """build.sh with a fake docker CLI: one `build` per image, named prefix+name:tag."""
    log = tmp_path / "docker.log"
    fake = tmp_path / "docker"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(log))}\n', encoding="utf-8")
    fake.chmod(0o755)
    env = {
        **os.environ,
        "DOCKER": str(fake),
        "IMAGE_PREFIX": "kind.local/autophon-",
        "TAG": "e2e",
        "PUSH": "1",
    }
    subprocess.run(["bash", str(DOCKER / "build.sh")], env=env, check=True, capture_output=True)
    calls = log.read_text(encoding="utf-8").splitlines()
    builds = [c.split() for c in calls if c.startswith("build ")]
    tags = [b[b.index("--tag") + 1] for b in builds]
    assert tags == [f"kind.local/autophon-{n}:e2e" for n in ("upload", "controller", "aligner")]
    assert all(b[-1] == str(REPO) for b in builds)
    assert [c for c in calls if c.startswith("push ")] == [f"push {t}" for t in tags]

    env["IMAGES"] = "nonexistent"
    failed = subprocess.run(["bash", str(DOCKER / "build.sh")], env=env, capture_output=True)
    assert failed.returncode != 0 and b"unknown image" in failed.stderr


def test_compose_config_file_loads(tmp_path: Path) -> None:
    from autophon_core.config import load_settings

    settings = load_settings(DOCKER / "compose-autophon.yaml")
    assert settings.controller.launcher == "local"
    assert settings.api.host == "0.0.0.0"
    assert settings.database.url.startswith("postgresql")
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    app = compose["services"]["autophon"]
    assert app["command"][-1] == "local" and app["command"][-1] in SUBCOMMANDS
    assert compose["services"]["migrate"]["command"][-1] == "migrate"
    assert app["user"] == f"{APP_UID}:{APP_UID}" and app["read_only"] is True
    assert str(settings.storage.root) in {v.split(":")[1] for v in app["volumes"]}


# --- the small ffmpeg of the upload and aligner images -------------------------------------


@pytest.mark.parametrize("name", ["upload", "aligner"])
def test_ffmpeg_is_the_small_build_not_debians_package(name: str) -> None:
    """Debian's ffmpeg package pulls in Mesa and LLVM (about 800 MB); the images build a
    small one from Debian's source in a stage of their own and copy only the binary."""
    df = dockerfile(name)
    (stage,) = [s for s in df.stages if s.name == "ffmpeg"]
    stage_runs = " ".join(i.args for i in stage.all("RUN"))
    assert "apt-get source ffmpeg" in stage_runs and "build-ffmpeg.sh" in stage_runs
    copies = [i.args for i in df.final.all("COPY") if "--from=ffmpeg" in i.args]
    assert copies == ["--from=ffmpeg /opt/ffmpeg/bin/ffmpeg /usr/local/bin/ffmpeg"]
    installs = " ".join(i.args for i in df.final.all("RUN"))
    assert not re.search(r"apt-get install[^&;]*\bffmpeg\b", installs)


def test_small_ffmpeg_has_what_the_conversion_uses() -> None:
    """The build keeps every demuxer (probing, the whitelist and its messages stay those of
    Debian's ffmpeg) and builds what convert_audio's command line names."""
    script = (DOCKER / "ffmpeg" / "build-ffmpeg.sh").read_text(encoding="utf-8")
    assert "--enable-demuxers" in script and "--disable-everything" in script
    assert "--enable-protocol=file" in script
    assert "--enable-encoder=pcm_s16le" in script and "--enable-muxer=wav" in script
    for decoder in ("pcm_*", "mp3*", "flac", "vorbis", "opus", "aac*", "alac", "wma*"):
        assert decoder in script, decoder
    assert not ignored("docker/ffmpeg/build-ffmpeg.sh")


# --- the slimmed virtualenv -----------------------------------------------------------------

SLIMMED = ("upload", "controller", "aligner")
# Removed from every image's venv (import names).
_BLOCKED = (
    "aiohttp",
    "kubernetes.aio",
    "numpy.f2py",
    "numpy.distutils",
    "pip",
    "setuptools",
    "pkg_resources",
)
# The modules behind what each image runs: its subcommands (IMAGES, chart) and, for the
# controller image, the chart's pre-delete hook (cleanup-job.yaml).
_PROCESS_MODULES = {
    "upload": {"autophon_upload.main", "autophon_upload.worker", "autophon_core.migrate"},
    "controller": {"autophon_align.controller", "autophon_align.launchers.kubernetes"},
    "aligner": {"autophon_align.runner", "autophon_cli.local"},
}
_BLOCKER = """
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in {blocked!r}):
            raise ImportError(f"{{name}} is removed from the image's venv")
sys.meta_path.insert(0, Blocked())
"""


def _slimming(name: str) -> tuple[list[str], list[str]]:
    """The distributions slim-venv.sh uninstalls for an image, and the modules it checks."""
    script = (DOCKER / "slim-venv.sh").read_text(encoding="utf-8")
    match = re.search(
        rf'^  {name}\)\n    uninstall="([^"]*)"\n    processes="([^"]*)"', script, re.MULTILINE
    )
    assert match, f"slim-venv.sh has no case for {name}"
    return match[1].split(), match[2].split()


def _import_names(distribution: str) -> set[str]:
    from importlib.metadata import packages_distributions

    def normal(dist: str) -> str:
        return re.sub(r"[-_.]+", "-", dist).lower()

    return {
        module
        for module, dists in packages_distributions().items()
        if normal(distribution) in {normal(d) for d in dists}
    }


@pytest.mark.parametrize("name", SLIMMED)
def test_images_slim_their_venv(name: str) -> None:
    runs = " ".join(i.args for i in dockerfile(name).stages[0].all("RUN"))
    assert f"slim-venv.sh /opt/autophon {name}" in runs
    assert not ignored("docker/slim-venv.sh")


@pytest.mark.parametrize("name", SLIMMED)
def test_slimming_checks_every_process_of_the_image(name: str) -> None:
    _, processes = _slimming(name)
    assert {"autophon_cli.main", *_PROCESS_MODULES[name]} <= set(processes)


@pytest.mark.parametrize("name", SLIMMED)
def test_no_process_needs_what_the_slimming_removes(name: str) -> None:
    """Each image's processes import (the script's own check) without what every image loses
    (kubernetes.aio, aiohttp, pip, setuptools, numpy's build tools) and without the
    distributions uninstalled for that image; the controller still builds an API client."""
    uninstall, processes = _slimming(name)
    blocked = list(_BLOCKED)
    for distribution in uninstall:
        names = _import_names(distribution)
        assert names, f"{distribution} is not installed here, so the check would block nothing"
        blocked += sorted(names)
    code = _BLOCKER.format(blocked=tuple(blocked)) + "".join(f"import {m}\n" for m in processes)
    if name == "controller":
        code += "kubernetes.client.ApiClient()\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    script = (DOCKER / "slim-venv.sh").read_text(encoding="utf-8")
    for removed in ("aiohttp", "multidict", "yarl", "frozenlist"):
        assert removed in script


def test_only_the_runner_image_keeps_numpy_and_the_language_guesser() -> None:
    assert {"numpy", "py3langid"} <= set(_slimming("upload")[0])
    assert {"numpy", "py3langid"} <= set(_slimming("controller")[0])
    assert "kubernetes" in _slimming("aligner")[0]


def test_the_built_in_engine_needs_no_language_model() -> None:
    """slim-venv.sh deletes pocketsphinx's n-gram models: the worker must keep passing
    ``lm: None`` (else pocketsphinx would look for the default en-us.lm.bin)."""
    worker = REPO / "services/align/src/autophon_align/engines/pocketsphinx_worker.py"
    assert '"lm": None,' in worker.read_text(encoding="utf-8")
    assert "en-us.lm.bin" in (DOCKER / "slim-venv.sh").read_text(encoding="utf-8")
