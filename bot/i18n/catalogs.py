"""The catalogs: found in `locales/`, compiled in memory once, and looked up by Discord locale.

A language is a folder: `locales/<code>/LC_MESSAGES/messages.po`, `<code>` being Babel's spelling
of a Discord locale (`de`, `pt_BR`, `es_ES`; Discord writes `pt-BR`). Nothing else names the
shipped languages, so a new catalog is picked up without code changes. English is the source: the
message ids themselves, so it needs no catalog.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import logging
import re
import string
from io import BytesIO
from pathlib import Path
from typing import Any

import babel
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from bot.core.errors import Phrase

log = logging.getLogger(__name__)

DOMAIN = "messages"
"""The one catalog domain: `messages.po` in every language folder, `messages.pot` the template."""
LOCALES_DIR = Path(__file__).parent / "locales"
SOURCE_LANGUAGE = "en-US"
"""The language the message ids are written in; what every unknown locale falls back to."""

Locale = Any
"""A `discord.Locale`, its value (`"pt-BR"`), Babel's spelling (`"pt_BR"`) or None (English)."""


def N_(message: str) -> str:
    """Mark a module-level constant for the catalog; translate it where it is shown with `t`."""
    return message


@functools.cache
def _catalogs() -> dict[str, gettext.NullTranslations]:
    found: dict[str, gettext.NullTranslations] = {}
    for po in sorted(LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        folder = po.parent.parent.name
        found[folder.replace("_", "-")] = _compile(po, folder)
    return found


def _compile(path: Path, folder: str) -> gettext.NullTranslations:
    """Read a `.po` source and compile it in memory (what `pybabel compile` writes to a `.mo`)."""
    with path.open("rb") as source:
        catalog = read_po(source, locale=folder, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def languages() -> tuple[str, ...]:
    """Every language the bot speaks, as Discord locale codes, English first."""
    return (SOURCE_LANGUAGE, *sorted(_catalogs()))


def resolve(locale: Locale) -> str:
    """The shipped language for a Discord locale: the same one, else one of its family
    (`es-419` → `es-ES`), else English."""
    if locale is None:
        return SOURCE_LANGUAGE
    code = str(getattr(locale, "value", locale)).replace("_", "-")
    known = {language.lower(): language for language in languages()}
    if code.lower() in known:
        return known[code.lower()]
    family = code.split("-")[0].lower()
    if family == SOURCE_LANGUAGE.split("-")[0].lower():
        return SOURCE_LANGUAGE
    relatives = [language for language in sorted(_catalogs()) if language.split("-")[0].lower() == family]
    return relatives[0] if relatives else SOURCE_LANGUAGE


def _translations(locale: Locale) -> gettext.NullTranslations:
    return _catalogs().get(resolve(locale)) or gettext.NullTranslations()


def _fill(translated: str, original: str, params: dict[str, Any], locale: Locale = None) -> str:
    if not params:
        return translated
    params = {name: t(locale, value) if isinstance(value, Phrase) else value for name, value in params.items()}
    try:
        return translated.format(**params)
    except (KeyError, IndexError, ValueError):  # a broken translation must not cost the member the message
        log.warning("A translation of %r has placeholders that do not match; using English", original)
        return original.format(**params)


def t(locale: Locale, message: str | Phrase, /, **params: Any) -> str:
    """`message` (English, the message id) in `locale`'s language, placeholders filled by name.
    A `Phrase` (from a layer below this one) is translated with its own parameters."""
    if isinstance(message, Phrase):
        params = {**message.params, **params}
        if message.plural is not None:
            return tn(locale, message.template, message.plural, message.count, **params)
        message = message.template
    return _fill(_translations(locale).gettext(message), message, params, locale)


def tn(locale: Locale, singular: str, plural: str, count: int, /, **params: Any) -> str:
    """The plural form for `count` (filled in as `{count}`, formatted for the language)."""
    params["count"] = number(locale, count)
    english = singular if count == 1 else plural
    return _fill(_translations(locale).ngettext(singular, plural, count), english, params, locale)


def t_english(locale: Locale, text: str, /) -> str:
    """Translate a sentence that was stored in English (a task's failure reason): the catalog's message
    it was made from is found again, its parameters read back out of the text, and translated too.
    Text that no message matches (a detail the API wrote) is left as it is."""
    if resolve(locale) == SOURCE_LANGUAGE or not text:
        return text
    catalog = _translations(locale)
    if catalog.gettext(text) != text:
        return catalog.gettext(text)
    for template, pattern in _patterns(resolve(locale)):
        found = pattern.fullmatch(text)
        if found:
            params = {name: t_english(locale, value) for name, value in found.groupdict().items()}
            return t(locale, template, **params)
    return text


@functools.cache
def _patterns(language: str) -> list[tuple[str, re.Pattern[str]]]:
    """Each translated message with placeholders, as a pattern that reads its parameters back."""
    catalog = _catalogs().get(language)
    found = []
    for message in _message_ids(language):
        names = placeholders(message)
        if not names or catalog is None or catalog.gettext(message) == message:
            continue
        pattern = "".join(
            re.escape(literal) + (f"(?P<{name}>.+?)" if name else "")
            for literal, name, _, _ in string.Formatter().parse(message)
        )
        with contextlib.suppress(re.error):  # a placeholder used twice: not readable back, skipped
            found.append((message, re.compile(pattern, re.DOTALL)))
    return sorted(found, key=lambda item: -len(item[0]))


@functools.cache
def _message_ids(language: str) -> tuple[str, ...]:
    folder = language.replace("-", "_")
    with (LOCALES_DIR / folder / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        catalog = read_po(source, locale=folder, domain=DOMAIN)
    return tuple(message.id for message in catalog if message.id and isinstance(message.id, str))


def tc(locale: Locale, context: str, message: str, /) -> str | None:
    """`message` under a gettext context (`msgctxt`), or None when the catalog keeps it English."""
    catalog = _catalogs().get(resolve(locale))
    if catalog is None:
        return None
    translated = catalog.pgettext(context, message)
    return translated if translated != message else None


def number(locale: Locale, value: float) -> str:
    """A number as the language writes it: 1,234.5 in English, 1.234,5 in German."""
    return format_decimal(value, locale=_babel_locale(resolve(locale)))


def language_name(code: str) -> str:
    """A language's name in itself: `de` → Deutsch, `pt-BR` → português (Brasil)."""
    try:
        return babel.Locale.parse(code.replace("-", "_")).get_display_name() or code
    except (ValueError, babel.UnknownLocaleError):
        return code


@functools.cache
def _babel_locale(code: str) -> babel.Locale:
    try:
        return babel.Locale.parse(code.replace("-", "_"))
    except (ValueError, babel.UnknownLocaleError):
        return babel.Locale.parse("en_US")


def placeholders(message: str) -> set[str]:
    """The named placeholders of a message (`{title}`), for checking a translation keeps them."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}
