"""Languages and their engines (from the config file)."""

from __future__ import annotations

from fastapi import APIRouter

from autophon_core.languages import aliases_of, alignment_description
from autophon_upload.api.deps import RuntimeDep
from autophon_upload.schemas import LanguagePublic

router = APIRouter(prefix="/api/v1/languages", tags=["languages"])


@router.get("", response_model=list[LanguagePublic], summary="Languages with their engines")
def list_languages(runtime: RuntimeDep) -> list[LanguagePublic]:
    return [
        LanguagePublic(
            code=lang.code,
            name=lang.name,
            aliases=aliases_of(lang)[1:],
            engines=[lang.engine],
            default_engine=lang.engine,
            alignment=alignment_description(lang),
        )
        for lang in runtime.settings.languages
    ]
