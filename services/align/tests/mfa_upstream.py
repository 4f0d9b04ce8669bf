"""Parts of the Montreal Forced Aligner 3.4.1, the release docker/Dockerfile.aligner-mfa
installs, copied for the MFA adapter's tests (tests/test_mfa.py): MFA cannot be imported here,
since every command module imports Kaldi through kalpy, which comes from conda-forge only.

Source: github.com/MontrealCorpusTools/Montreal-Forced-Aligner, tag v3.4.1.
Licence: MIT, "Copyright (c) 2023 Michael McAuliffe, Copyright (c) 2016 Montreal Corpus Tools"
(the repository's LICENSE): permission is granted to copy and modify with this notice kept.

Copied verbatim:

- ``align_corpus_cli``: montreal_forced_aligner/command_line/align.py:25-112, the ``mfa align``
  command's click definition; its body is replaced (the tests only parse arguments).
- ``common_options``: command_line/utils.py:58-161.
- ``validate_corpus_directory``: command_line/utils.py:286-304.
- ``CtmInterval``, ``Textgrid``, ``export_textgrid``: textgrid.py:42-107, 109-220, 561-670,
  MFA's TextGrid writer.
- ``DEFAULT_PUNCTUATION``, ``DEFAULT_BRACKETS``: dictionary/mixins.py:23-25, 33, and
  ``make_re_character_set_safe``: helper.py:262-288; ``word_break_regex`` is the expression
  tokenization/simple.py:433-452 builds from them (the characters MFA splits words at).

Changed, because the originals need MFA's configuration files, its models or kalpy:

- ``import rich_click as click`` -> ``import click`` (rich_click re-exports click; it only
  renders help differently).
- ``config``: a small stand-in below with the defaults of config.py:139-148, and
  TEMPORARY_DIRECTORY read from MFA_ROOT_DIR as config.get_temporary_directory does
  (config.py:48-68); validate_corpus_directory's ``from montreal_forced_aligner import
  config`` is dropped for it.
- ``validate_acoustic_model``/``validate_dictionary``/``validate_g2p_model``: the checks of
  utils.py:validate_model_arg (the file exists and has one of the model type's extensions,
  models/classes.py:543,1074,1539) without loading the model, which needs kalpy.
- ``mfa_open(path, mode)`` -> ``open(path, mode, encoding="utf8")`` (helper.py).
- ``to_tg_interval(a, duration)`` (from kalpy.gmm.data) -> ``a.to_tg_interval(duration)`` of
  the CtmInterval copied here (the same conversion).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import os
import re
import typing
from pathlib import Path
from typing import Dict, List

import click
from praatio import textgrid as tgio
from praatio.data_classes.interval_tier import Interval
from praatio.utilities import utils as tgio_utils
from praatio.utilities.constants import TextgridFormats


DEFAULT_PUNCTUATION = list(
    r'、。।，？！!@<>→"”()“„–,.:;—¿?¡：）|؟!\\&%#*،~【】，…‥「」『』〝〟″⟨⟩♪・‚‘‹›«»～′$+=‘۔―'
)
DEFAULT_BRACKETS = [("<", ">"), ("[", "]"), ("{", "}"), ("(", ")"), ("＜", "＞")]


def make_re_character_set_safe(
    characters: typing.Collection[str], extra_strings: typing.Optional[typing.List[str]] = None
) -> str:
    characters = sorted(characters)
    extra = ""
    if "-" in characters:
        extra = "-"
        characters = [x for x in characters if x != "-"]
    if extra_strings:
        extra += "".join(extra_strings)
    return f"[{extra}{re.escape(''.join(characters))}]"


def word_break_regex() -> re.Pattern:
    non_word_character_set = set(DEFAULT_PUNCTUATION)
    non_word_character_set -= {b for x in DEFAULT_BRACKETS for b in x}
    word_break_character_set = make_re_character_set_safe(non_word_character_set, [r"\s"])
    return re.compile(rf"{word_break_character_set}+")


class CtmError(ValueError):
    pass


class TextFileType(enum.Enum):
    """The member of data.py:TextFileType that export_textgrid uses (data.py:312)."""

    TEXTGRID = TextgridFormats.LONG_TEXTGRID


class _Config:
    """What the copied code reads of montreal_forced_aligner.config (config.py:139-148)."""

    CLEAN = True
    FINAL_CLEAN = False
    VERBOSE = False
    DEBUG = False
    QUIET = False
    OVERWRITE = False
    CLEANUP_TEXTGRIDS = True
    USE_POSTGRES = False
    NUM_JOBS = 3

    @property
    def TEMPORARY_DIRECTORY(self) -> Path:
        return Path(os.environ.get("MFA_ROOT_DIR", "~/Documents/MFA")).expanduser()


config = _Config()


def mfa_open(path, mode="r"):
    return open(path, mode, encoding="utf8")


def to_tg_interval(interval, file_duration=None):
    return interval.to_tg_interval(file_duration)


MODEL_EXTENSIONS = {
    "acoustic": [".zip"],
    "g2p": [".zip", ".g2p"],
    "dictionary": [".dict", ".txt", ".yaml", ".yml"],
}


def validate_model_arg(name, model_type):
    """utils.py:validate_model_arg for a path, without loading the model."""
    name = Path(name)
    if name.suffix.lower() not in MODEL_EXTENSIONS[model_type]:
        raise click.BadParameter(f"{name} is not a {model_type} model file")
    if not name.exists():
        raise click.BadParameter(f"{name} does not exist")
    return name


def validate_acoustic_model(ctx, param, value):
    if value:
        return validate_model_arg(value, "acoustic")


def validate_dictionary(ctx, param, value):
    if value:
        return validate_model_arg(value, "dictionary")


def validate_g2p_model(ctx, param, value):
    return validate_model_arg(value, "g2p")


# --- command_line/utils.py:286-304 ---------------------------------------------------------
def validate_corpus_directory(ctx, param, value):
    """Validation callback for acoustic model paths"""

    if value:
        if not isinstance(value, Path):
            value = Path(value)
        if not value.exists():
            raise click.BadParameter("Corpus directory does not exist.")
        if value.is_file():
            raise click.BadParameter("Corpus directory must be a directory, not a file.")
        if not value.is_dir():
            raise click.BadParameter("Corpus directory must be a directory.")
        if str(value).startswith(str(config.TEMPORARY_DIRECTORY)):
            raise click.BadParameter(
                "Corpus directories must be outside of MFA's temporary directory to prevent data loss, "
                "please move the corpus directory elsewhere and rerun."
            )
        return value


# --- command_line/utils.py:58-161 ---------------------------------------------------------
def common_options(f: typing.Callable) -> typing.Callable:
    """
    Add common MFA cli options to a given command
    """
    options = [
        click.option(
            "-p",
            "--profile",
            help='Configuration profile to use, defaults to "global"',
            type=str,
            default=None,
        ),
        click.option(
            "--temporary_directory",
            "-t",
            "temporary_directory",
            help=f"Set the default temporary directory, default is {config.TEMPORARY_DIRECTORY}",
            type=str,
            default=config.TEMPORARY_DIRECTORY,
        ),
        click.option(
            "-j",
            "--num_jobs",
            "num_jobs",
            help=f"Set the number of processes to use by default, defaults to {config.NUM_JOBS}",
            type=int,
            default=None,
        ),
        click.option(
            "--clean/--no_clean",
            "clean",
            help=f"Remove files from previous runs, default is {config.CLEAN}",
            default=None,
        ),
        click.option(
            "--final_clean/--no_final_clean",
            "final_clean",
            help=f"Remove temporary files at the end of run, default is {config.FINAL_CLEAN}",
            default=None,
        ),
        click.option(
            "--verbose/--no_verbose",
            "-v/-nv",
            "verbose",
            help=f"Output debug messages, default is {config.VERBOSE}",
            default=None,
        ),
        click.option(
            "--quiet/--no_quiet",
            "-q/-nq",
            "quiet",
            help=f"Suppress all output messages (overrides verbose), default is {config.QUIET}",
            default=None,
        ),
        click.option(
            "--overwrite/--no_overwrite",
            "overwrite",
            help=f"Overwrite output files when they exist, default is {config.OVERWRITE}",
            default=None,
        ),
        click.option(
            "--use_mp/--no_use_mp",
            "use_mp",
            help="Turn on/off multiprocessing. Multiprocessing is recommended will allow for faster executions.",
            default=None,
        ),
        click.option(
            "--use_threading/--no_use_threading",
            "use_threading",
            help="Use threading library rather than multiprocessing library. Multiprocessing is recommended will allow for faster executions.",
            default=None,
        ),
        click.option(
            "--debug/--no_debug",
            "-d/-nd",
            "debug",
            help=f"Run extra steps for debugging issues, default is {config.DEBUG}",
            default=None,
        ),
        click.option(
            "--use_postgres/--no_use_postgres",
            "use_postgres",
            help=f"Use postgres instead of sqlite for extra functionality, default is {config.USE_POSTGRES}",
            default=None,
        ),
        click.option(
            "--single_speaker",
            "single_speaker",
            is_flag=True,
            help="Single speaker mode creates multiprocessing splits based on utterances rather than speakers. "
            "This mode also disables speaker adaptation equivalent to `--uses_speaker_adaptation false`.",
            default=False,
        ),
        click.option(
            "--textgrid_cleanup/--no_textgrid_cleanup",
            "--cleanup_textgrids/--no_cleanup_textgrids",
            "cleanup_textgrids",
            help="Turn on/off post-processing of TextGrids that cleans up "
            "silences and recombines compound words and clitics.",
            default=None,
        ),
    ]
    options.reverse()
    return functools.reduce(lambda x, opt: opt(x), options, f)


# --- command_line/align.py:25-112 ---------------------------------------------------------
@click.command(
    name="align",
    context_settings=dict(
        ignore_unknown_options=True,
        allow_extra_args=True,
        allow_interspersed_args=True,
    ),
    short_help="Align a corpus",
)
@click.argument("corpus_directory", type=click.UNPROCESSED, callback=validate_corpus_directory)
@click.argument("dictionary_path", type=click.UNPROCESSED, callback=validate_dictionary)
@click.argument("acoustic_model_path", type=click.UNPROCESSED, callback=validate_acoustic_model)
@click.argument(
    "output_directory", type=click.Path(file_okay=False, dir_okay=True, path_type=Path)
)
@click.option(
    "--config_path",
    "-c",
    help="Path to config file to use for aligning.",
    type=click.Path(exists=True, file_okay=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--speaker_characters",
    "-s",
    help="Number of characters of file names to use for determining speaker, "
    "default is to use directory names.",
    type=str,
    default="0",
)
@click.option(
    "--audio_directory",
    "-a",
    help="Audio directory root to use for finding audio files.",
    type=click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path),
)
@click.option(
    "--reference_directory",
    help="Directory containing gold standard alignments to evaluate",
    type=click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path),
)
@click.option(
    "--custom_mapping_path",
    help="YAML file for mapping phones from acoustic model phone set to phone set in golden alignments.",
    type=click.Path(exists=True, file_okay=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--output_format",
    help="Format for aligned output files (default is long_textgrid).",
    default="long_textgrid",
    type=click.Choice(["long_textgrid", "short_textgrid", "json", "csv"]),
)
@click.option(
    "--include_original_text",
    is_flag=True,
    help="Flag to include original utterance text in the output.",
    default=False,
)
@click.option(
    "--no_tokenization",
    is_flag=True,
    help="Flag to disable any pretrained tokenization.",
    default=False,
)
@click.option(
    "--fine_tune", is_flag=True, help="Flag for running extra fine tuning stage.", default=False
)
@click.option(
    "--fine_tune_boundary_tolerance",
    type=float,
    default=None,
    help="Flag for running extra fine tuning stage.",
)
@click.option(
    "--g2p_model_path",
    "g2p_model_path",
    help="Path to G2P model to use for OOV items.",
    type=click.UNPROCESSED,
)
@click.option(
    "--ignore_oovs",
    is_flag=True,
    help="Ignore any file that contains OOV tokens by marking its utterances as ignored.",
    default=False,
)
@common_options
@click.help_option("-h", "--help")
@click.pass_context
def align_corpus_cli(context, **kwargs) -> None:
    """Parsing only: the body of MFA's command runs the alignment."""
    return kwargs


# --- textgrid.py:42-107 --------------------------------------------------------------------
# noinspection PyUnresolvedReferences
@dataclasses.dataclass(slots=True)
class CtmInterval:
    """
    Data class for intervals derived from CTM files

    Parameters
    ----------
    begin: float
        Start time of interval
    end: float
        End time of interval
    label: str
        Text of interval
    confidence: float, optional
        Confidence score of the interval
    """

    begin: float
    end: float
    label: typing.Union[int, str]
    confidence: typing.Optional[float] = None

    def __lt__(self, other: CtmInterval):
        """Sorting function for CtmIntervals"""
        return self.begin < other.begin

    def __add__(self, other):
        if isinstance(other, str):
            return self.label + other
        else:
            self.begin += other
            self.end += other

    def __post_init__(self) -> None:
        """
        Check on data validity

        Raises
        ------
        :class:`~montreal_forced_aligner.exceptions.CtmError`
            If begin or end are not valid
        """
        if self.end < -1 or self.begin == 1000000:
            raise CtmError(self)

    def to_tg_interval(self, file_duration=None) -> Interval:
        """
        Converts the CTMInterval to
        `PraatIO's Interval class <http://timmahrt.github.io/praatIO/praatio/utilities/constants.html#Interval>`_

        Returns
        -------
        :class:`praatio.utilities.constants.Interval`
            Derived PraatIO Interval
        """
        if self.end < -1 or self.begin == 1000000:
            raise CtmError(self)
        end = round(self.end, 6)
        begin = round(self.begin, 6)
        if file_duration is not None and end > file_duration:
            end = round(file_duration, 6)
        if begin >= end:
            raise CtmError(self)
        return Interval(round(self.begin, 6), end, self.label)



# --- textgrid.py:109-220 -------------------------------------------------------------------
class Textgrid(tgio.Textgrid):
    def save(
        self,
        fn: str,
        format: typing.Literal["short_textgrid", "long_textgrid", "json", "textgrid_json"],
        includeBlankSpaces: bool,
        minTimestamp: typing.Optional[float] = None,
        maxTimestamp: typing.Optional[float] = None,
        minimumIntervalLength: float = None,
        reportingMode: typing.Literal["silence", "warning", "error"] = "warning",
    ) -> None:
        """Save the current textgrid to a file

        Args:
            fn: the fullpath filename of the output
            format: one of ['short_textgrid', 'long_textgrid', 'json', 'textgrid_json']
                'short_textgrid' and 'long_textgrid' are both used by praat
                'json' and 'textgrid_json' are two json variants. 'json' cannot represent
                tiers with different min and max timestamps than the textgrid.
            includeBlankSpaces: if True, blank sections in interval
                tiers will be filled in with an empty interval
                (with a label of ""). If you are unsure, True is recommended
                as Praat needs blanks to render textgrids properly.
            minTimestamp: the minTimestamp of the saved Textgrid;
                if None, use whatever is defined in the Textgrid object.
                If minTimestamp is larger than timestamps in your textgrid,
                an exception will be thrown.
            maxTimestamp: the maxTimestamp of the saved Textgrid;
                if None, use whatever is defined in the Textgrid object.
                If maxTimestamp is smaller than timestamps in your textgrid,
                an exception will be thrown.
            minimumIntervalLength: any labeled intervals smaller
                than this will be removed, useful for removing ultrashort
                or fragmented intervals; if None, don't remove any.
                Removed intervals are merged (without their label) into
                adjacent entries.
            reportingMode: one of "silence", "warning", or "error". This flag
                determines the behavior if there is a size difference between the
                maxTimestamp in the tier and the current textgrid.

        Returns:
            a string representation of the textgrid
        """

        tab = " " * 4

        with mfa_open(fn, mode="w") as fd:
            if format in {TextgridFormats.LONG_TEXTGRID, TextgridFormats.SHORT_TEXTGRID}:
                # Header
                if format == TextgridFormats.LONG_TEXTGRID:
                    fd.write('File type = "ooTextFile"\n')
                    fd.write('Object class = "TextGrid"\n\n')

                    fd.write(f"xmin = {self.minTimestamp} \n")
                    fd.write(f"xmax = {self.maxTimestamp} \n")
                    fd.write("tiers? <exists> \n")
                    fd.write(f"size = {len(self._tierDict)} \n")
                    fd.write("item []: \n")
                elif format == TextgridFormats.SHORT_TEXTGRID:
                    fd.write('File type = "ooTextFile"\n')
                    fd.write('Object class = "TextGrid"\n\n')
                    fd.write(f"{self.minTimestamp}\n{self.maxTimestamp}\n")
                    fd.write(f"<exists>\n{len(self._tierDict)}\n")

                for tierNum, (name, tier) in enumerate(self._tierDict.items()):
                    if includeBlankSpaces and tier._entries:
                        if tier._entries[0][0] > 0.001:
                            tier._entries.insert(0, Interval(0.0, tier._entries[0][0], ""))
                        interval_index = 1
                        while interval_index < len(tier._entries):
                            start, end, label = tier._entries[interval_index]
                            previous_entry = tier._entries[interval_index - 1]
                            if start - previous_entry[1] > 0.001:
                                tier._entries.insert(
                                    interval_index, Interval(previous_entry[1], start, "")
                                )
                                interval_index += 1
                            interval_index += 1
                        if self.maxTimestamp - tier._entries[-1][1] > 0.001:
                            tier._entries.append(
                                Interval(tier._entries[-1][1], self.maxTimestamp, "")
                            )

                    tier_name = tgio_utils.escapeQuotes(name)
                    if format == TextgridFormats.LONG_TEXTGRID:
                        # Interval header
                        fd.write(tab + f"item [{tierNum + 1}]:\n")
                        fd.write(tab * 2 + f'class = "{tier.tierType}" \n')
                        fd.write(tab * 2 + f'name = "{tier_name}" \n')
                        fd.write(tab * 2 + f"xmin = {self.minTimestamp} \n")
                        fd.write(tab * 2 + f"xmax = {self.maxTimestamp} \n")

                        fd.write(tab * 2 + f"intervals: size = {len(tier._entries)} \n")
                    elif format == TextgridFormats.SHORT_TEXTGRID:
                        fd.write(f'"{tier.tierType}"\n')
                        fd.write(f'"{tier_name}"\n')
                        fd.write(
                            f"{self.minTimestamp}\n{self.maxTimestamp}\n{len(tier._entries)}\n"
                        )

                    for i, entry in enumerate(tier._entries):
                        start, end, label = entry
                        label = tgio_utils.escapeQuotes(label)
                        if format == TextgridFormats.LONG_TEXTGRID:
                            fd.write(
                                f"{tab * 2}intervals [{i + 1}]:\n"
                                f"{tab * 3}xmin = {start} \n"
                                f"{tab * 3}xmax = {end} \n"
                                f'{tab * 3}text = "{label}" \n'
                            )
                        elif format == TextgridFormats.SHORT_TEXTGRID:
                            fd.write(f'{start}\n{end}\n"{label}"\n')


# --- textgrid.py:561-670 -------------------------------------------------------------------
def export_textgrid(
    speaker_data: Dict[str, Dict[str, List[CtmInterval]]],
    output_path: Path,
    duration: float,
    frame_shift: float,
    output_format: str = TextFileType.TEXTGRID.value,
) -> None:
    """
    Export aligned file to TextGrid

    Parameters
    ----------
    speaker_data: dict[Speaker, dict[str, list[:class:`~kalpy.gmm.data.CtmInterval`]]
        Per speaker, per word/phone :class:`~kalpy.gmm.data.CtmInterval`
    output_path: :class:`~pathlib.Path`
        Output path of the file
    duration: float
        Duration of the file
    frame_shift: float
        Frame shift of features, in seconds
    output_format: str, optional
        Output format, one of: "long_textgrid" (default), "short_textgrid", "json", or "csv"
    """
    has_data = False
    duration = round(duration, 6)
    if output_format == "csv":
        csv_data = []
        for speaker, data in speaker_data.items():
            for annotation_type, intervals in data.items():
                if len(intervals):
                    has_data = True
                for a in intervals:
                    if duration - a.end < (frame_shift * 2):  # Fix rounding issues
                        a.end = duration
                    csv_data.append(
                        {
                            "Begin": a.begin,
                            "End": a.end,
                            "Label": a.label,
                            "Type": annotation_type,
                            "Speaker": speaker,
                        }
                    )
        if has_data:
            with mfa_open(output_path, "w") as f:
                writer = csv.DictWriter(f, fieldnames=["Begin", "End", "Label", "Type", "Speaker"])
                writer.writeheader()
                for line in csv_data:
                    writer.writerow(line)
    elif output_format == "json":
        json_data = {"start": 0, "end": duration, "tiers": {}}
        for speaker, data in speaker_data.items():
            for annotation_type, intervals in data.items():
                if len(speaker_data) > 1:
                    tier_name = f"{speaker} - {annotation_type}"
                else:
                    tier_name = annotation_type
                if tier_name not in json_data["tiers"]:
                    json_data["tiers"][tier_name] = {"type": "interval", "entries": []}
                if len(intervals):
                    has_data = True
                for a in intervals:
                    if duration - a.end < (frame_shift * 2):  # Fix rounding issues
                        a.end = duration
                    json_data["tiers"][tier_name]["entries"].append([a.begin, a.end, a.label])
        if has_data:
            with mfa_open(output_path, "w") as f:
                json.dump(json_data, f, indent=4, ensure_ascii=False)
    else:
        # Create initial textgrid
        tg = Textgrid()
        tg.minTimestamp = 0
        tg.maxTimestamp = duration
        for speaker, data in speaker_data.items():
            for annotation_type, intervals in data.items():
                if len(intervals):
                    has_data = True
                if len(speaker_data) > 1:
                    tier_name = f"{speaker} - {annotation_type}"
                else:
                    tier_name = annotation_type
                if tier_name not in tg.tierNames:
                    tg.addTier(tgio.IntervalTier(tier_name, [], minT=0, maxT=duration))
                tier = tg.getTier(tier_name)
                for i, a in enumerate(sorted(intervals, key=lambda x: x.begin)):
                    if i == len(intervals) - 1 and duration - a.end < (
                        frame_shift * 2
                    ):  # Fix rounding issues
                        a.end = duration
                    tg_interval = to_tg_interval(a, duration)
                    if i > 0 and tier._entries[-1].end > tg_interval.start:
                        a.begin = tier._entries[-1].end
                        tg_interval = to_tg_interval(a, duration)
                    tier._entries.append(tg_interval)
        if has_data:
            for tier in tg.tiers:
                if len(tier._entries) > 0 and tier._entries[-1][1] > tg.maxTimestamp:
                    tier.insertEntry(
                        Interval(
                            tier._entries[-1].start, tg.maxTimestamp, tier._entries[-1].label
                        ),
                        collisionMode="replace",
                    )
            tg.save(
                str(output_path),
                includeBlankSpaces=True,
                format=output_format,
                minimumIntervalLength=None,
                reportingMode="silence",
            )
