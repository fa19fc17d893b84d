"""The console's three languages: Simplified Chinese, Traditional Chinese and English.

Words are gettext messages (English message ids in the templates and code), translated in one Babel catalog per
language (`locales/<language>.po`, the format translators' tools read and write). Catalogs are read with Babel
and compiled in memory at start-up, so there is no build step and no compiled file to keep in step. The language
is the one the user chose (a cookie set by the switch), else the browser's best match, else Simplified Chinese
(the bank's own).
"""

import io
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.requests import Request

LOCALES = Path(__file__).parent / "locales"
LANGUAGES: Mapping[str, str] = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
DEFAULT = "zh-Hans"
COOKIE = "postloan_lang"
_BABEL = {"zh-Hans": "zh_Hans", "zh-Hant": "zh_Hant", "en": "en"}  # our codes (the contract's) -> Babel's


@cache
def translations(language: str) -> Translations:
    """The compiled catalog of a language (English: the message ids themselves)."""
    if language == "en":
        return Translations()
    with (LOCALES / f"{language}.po").open("rb") as po:
        catalog = read_po(po, locale=_BABEL[language])
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def language_of(request: Request) -> str:
    chosen = request.cookies.get(COOKIE)
    if chosen is not None and chosen in LANGUAGES:
        return chosen
    return browser_language(request.headers.get("accept-language", ""))


def browser_language(accept_language: str) -> str:
    """The best of our languages for an Accept-Language header (zh-TW, zh-HK and zh-Hant mean Traditional)."""
    asked = []
    for part in accept_language.split(",")[:20]:
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag.lower() in ("zh_tw", "zh_hk", "zh_mo"):
            tag = "zh_Hant"
        elif tag.lower() in ("zh_cn", "zh_sg", "zh"):
            tag = "zh_Hans"
        asked.append(tag)
    found = negotiate_locale(asked, list(_BABEL.values()), sep="_")
    return next((ours for ours, theirs in _BABEL.items() if found is not None and theirs == found), DEFAULT)


def html_lang(language: str) -> str:
    """The page's `lang` attribute (BCP 47)."""
    return {"zh-Hans": "zh-Hans-CN", "zh-Hant": "zh-Hant-HK", "en": "en"}[language]


def locale(language: str) -> Locale:
    return Locale.parse(_BABEL[language])
