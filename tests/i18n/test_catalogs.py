"""The catalogs themselves: complete, with the same placeholders, current with the code, and command
names Discord accepts in every shipped language."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.app.catalog import TEMPLATE, command_messages, loaded_tree, template
from bot.app.commands import command_payload
from bot.i18n import DOMAIN, LOCALES_DIR, CommandTranslator, languages, valid_command_name
from bot.i18n.catalogs import placeholders
from tests.fakes.fake_locales import check_localizations

SHIPPED = {"en-US", "de", "fr", "es-ES", "pt-BR", "ja"}


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=locale, domain=DOMAIN)


def _catalogs() -> dict[str, Catalog]:
    return {
        po.parent.parent.name: _read(po, po.parent.parent.name)
        for po in sorted(LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    }


def test_the_shipped_languages_are_found_in_the_locales_folder() -> None:
    """English, German, French, Spanish, Brazilian Portuguese and Japanese, by Discord's locale codes."""
    assert set(languages()) == SHIPPED
    assert languages()[0] == "en-US"


@pytest.mark.parametrize("folder", sorted(_catalogs()))
def test_every_catalog_has_every_message_with_the_same_placeholders(folder: str) -> None:
    """A missing, empty, fuzzy or placeholder-breaking translation fails here, naming the message."""
    pot = _read(TEMPLATE)
    catalog = _catalogs()[folder]
    problems = []
    for message in pot:
        if not message.id:
            continue
        found = catalog.get(message.id, context=message.context)
        if found is None:
            problems.append(f"missing: {message.id!r}")
            continue
        if found.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = found.string if isinstance(found.string, tuple) else (found.string,)
        wanted = set().union(*(placeholders(text) for text in ids))
        for text in strings:
            if not text:
                problems.append(f"untranslated: {message.id!r}")
            elif placeholders(text) != wanted:
                problems.append(f"placeholders {sorted(placeholders(text))} != {sorted(wanted)}: {message.id!r}")
        if isinstance(message.id, tuple) and len(strings) != catalog.num_plurals:
            problems.append(f"needs {catalog.num_plurals} plural forms: {message.id!r}")
    extra = [m.id for m in catalog if m.id and pot.get(m.id, context=m.context) is None]
    assert problems == [] and extra == [], "\n".join(problems + [f"not in the template: {e!r}" for e in extra])


async def test_the_template_is_current_with_the_code_and_the_commands() -> None:
    """Run `python -m bot messages` after adding a string: the template holds exactly what the code asks for."""
    current = {(m.context, m.id) for m in await template() if m.id}
    stored = {(m.context, m.id) for m in _read(TEMPLATE) if m.id}
    assert current - stored == set(), "new messages: run `python -m bot messages` and translate them"
    assert stored - current == set(), "messages the code no longer uses: run `python -m bot messages`"


async def test_every_localized_command_name_is_valid_and_unique_per_locale() -> None:
    """What a sync sends passes Discord's rules: names lowercase and of allowed characters, option names
    unique within each command and command names unique, in every locale."""
    tree, (bot, session) = await loaded_tree()
    try:
        await tree.set_translator(CommandTranslator())
        payload = await command_payload(tree)
        names = await command_messages(tree)
    finally:
        await bot.media_session.close()
        await session.close()
    problems: list[str] = []
    check_localizations(payload, lambda path, code, message: problems.append(f"{path}: {code} {message}"))
    assert problems == []
    slash = {message for context, message in names if context == "slash command name"}
    assert all(valid_command_name(name) for name in slash)
    german = {command["name"]: command.get("name_localizations", {}) for command in payload}
    assert german["help"]["de"] == "hilfe" and german["settings"]["ja"] == "設定"
    assert "es-419" in german["help"]  # Latin American Spanish gets the Spanish catalog


def test_a_name_discord_would_refuse_is_rejected() -> None:
    """Spaces, capitals, punctuation and overlong names are not valid slash names; scripts with letters are."""
    assert valid_command_name("hilfe") and valid_command_name("曲一覧") and valid_command_name("canción")
    for bad in ("Hilfe", "two words", "x" * 33, "", "bad!", "bad.name"):
        assert not valid_command_name(bad), bad


def test_every_shipped_language_is_one_discord_knows() -> None:
    """A catalog folder named after a Discord locale (pt_BR → pt-BR), so commands can carry it."""
    known = {locale.value for locale in discord.Locale}
    assert set(languages()) <= known
