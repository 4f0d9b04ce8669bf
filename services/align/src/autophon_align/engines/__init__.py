"""Aligners behind one interface (engines/base.py), looked up by name.

Which engine a language uses, and with which model, comes from the config
(``languages[].engine`` and ``languages[].assets``). Adding an engine means one module with a
class following :class:`~autophon_align.engines.base.Engine` and one line in ``ENGINES``.
Modules are imported on first use, so the pocketsphinx worker process and aligner images
without MFA or FAVE load only what they need.
"""

from __future__ import annotations

from importlib import import_module
from typing import cast

from autophon_align.engines.base import Engine
from autophon_core.config import LanguageConfig

# Engine name -> "module:Class".
ENGINES: dict[str, str] = {
    "pocketsphinx": "autophon_align.engines.pocketsphinx:PocketsphinxEngine",
    "mfa": "autophon_align.engines.mfa:MfaEngine",
    "fave": "autophon_align.engines.fave:FaveEngine",
}


class UnknownEngineError(KeyError):
    """No engine is registered under this name."""


def engine_class(name: str) -> type[Engine]:
    try:
        module_name, _, class_name = ENGINES[name].partition(":")
    except KeyError:
        raise UnknownEngineError(
            f"unknown engine {name!r}; known engines: {', '.join(sorted(ENGINES))}"
        ) from None
    return cast("type[Engine]", getattr(import_module(module_name), class_name))


def create_engine(name: str, language: LanguageConfig) -> Engine:
    return engine_class(name)(language)
