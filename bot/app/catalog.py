"""`python -m bot messages`: extract the message template and update every catalog.

The template (`bot/i18n/messages.pot`) holds two kinds of message: the strings the code passes to
`t`/`tn`/`N_` or raises as a `UserError` (Babel's Python extractor, keywords below), and every
command's names, descriptions, option names and descriptions and choice names, read from the real
command tree through a recording `Translator` (exactly the strings discord.py asks for at sync).
Each `locales/<lang>/LC_MESSAGES/messages.po` is then updated like `pybabel update` does: new
messages appear with an empty translation, vanished ones go.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import aiohttp
import discord
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.app.bot import MusicBot
from bot.app.commands import EXTENSIONS
from bot.core.settings import Secret, Settings
from bot.i18n import DOMAIN, LOCALES_DIR
from bot.i18n.commands import MENU_NAME, SLASH_NAME, is_language_choice
from bot.storage.repository import Repository

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = LOCALES_DIR.parent / f"{DOMAIN}.pot"
SOURCES = ("bot", "cogs")
"""The folders whose code is scanned for messages."""
BASE_KEYWORDS: dict[str, Any] = {"t": (2,), "tn": (2, 3), "N_": None, "Phrase": None, "counted": (1, 2)}
"""`t(locale, message)`, `tn(locale, singular, plural, n)`, `N_(message)`, `Phrase(message)`; plus every
`UserError` class."""
NAME_RULE = "Discord: lowercase, no spaces, at most 32 characters; keep the English name if in doubt"
_NAMES = {Where.command_name, Where.group_name, Where.parameter_name}


def error_classes(roots: Iterable[Path]) -> set[str]:
    """Every class that is (indirectly) a `UserError`: raising one is writing a member-facing message."""
    bases: dict[str, set[str]] = {}
    for root in roots:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    names = {getattr(base, "id", None) or getattr(base, "attr", "") for base in node.bases}
                    bases.setdefault(node.name, set()).update(names)
    found = {"UserError"}
    while True:
        more = {name for name, parents in bases.items() if parents & found} - found
        if not more:
            return found
        found |= more


def keywords(roots: Iterable[Path]) -> dict[str, Any]:
    return {**BASE_KEYWORDS, **dict.fromkeys(error_classes(roots))}


class _Recorder(app_commands.Translator):
    """Notes every string discord.py would have translated, once, with the msgctxt it is looked up under."""

    def __init__(self) -> None:
        self.found: dict[tuple[str | None, str], None] = {}

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        if locale is discord.Locale.german and not is_language_choice(context):
            msgctxt = None
            if context.location in _NAMES:
                msgctxt = MENU_NAME if isinstance(context.data, app_commands.ContextMenu) else SLASH_NAME
            self.found[(msgctxt, string.message)] = None
        return None


async def command_messages(tree: app_commands.CommandTree[Any]) -> list[tuple[str | None, str]]:
    """Every (msgctxt, message) the commands in `tree` ask the translator for."""
    recorder = _Recorder()
    for command in tree.get_commands():
        await command.get_translated_payload(tree, recorder)
    return list(recorder.found)


async def loaded_tree() -> tuple[app_commands.CommandTree[Any], Any]:
    """A bot with every cog loaded but nothing opened or connected: only its command tree is read."""
    settings = Settings(discord_token=Secret("unused"), producer_api_token=Secret("unused"))
    session = aiohttp.ClientSession()
    bot = MusicBot(settings=settings, repo=cast(Repository, None), session=session)
    for extension in EXTENSIONS:
        await bot.load_extension(extension)
    return bot.tree, (bot, session)


def code_messages(root: Path = ROOT) -> Catalog:
    """The strings the code hands to the translator, with where they are."""
    catalog = Catalog(domain=DOMAIN, project="producer-discord-bot", charset="utf-8")
    roots = [root / folder for folder in SOURCES]
    words = keywords(roots)
    for folder in SOURCES:
        method_map = [("**.py", "python")]
        # Babel warns about any f-string in a call it extracts from, keyword arguments included
        # (`t(locale, "{member} …", member=f"<@{id}>")` is right); tests/i18n finds the real mistakes.
        with contextlib.redirect_stderr(io.StringIO()):
            found = list(
                extract_from_dir(
                    root / folder, method_map, keywords=words, comment_tags=("Translators:",), strip_comment_tags=True
                )
            )
        for filename, lineno, message, comments, context in found:
            catalog.add(message, locations=[(f"{folder}/{filename}", lineno)], auto_comments=comments, context=context)
    return catalog


async def template(root: Path = ROOT) -> Catalog:
    catalog = code_messages(root)
    tree, (bot, session) = await loaded_tree()
    try:
        for context, message in await command_messages(tree):
            comments = [NAME_RULE] if context == SLASH_NAME else []
            catalog.add(message, locations=[("commands", 0)], context=context, auto_comments=comments)
    finally:
        await bot.media_session.close()
        await session.close()
    return catalog


def _write(path: Path, catalog: Catalog) -> None:
    """Write a catalog, unless only its dates would change (no churn in version control)."""
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=120, sort_output=True, include_lineno=False, ignore_obsolete=True)
    new = buffer.getvalue()
    if path.exists() and _undated(path.read_bytes()) == _undated(new):
        return
    path.write_bytes(new)


def _undated(text: bytes) -> bytes:
    return re.sub(rb'"(POT-Creation-Date|PO-Revision-Date): [^"]*"', b"", text)


async def update_catalogs(root: Path = ROOT) -> dict[str, int]:
    """Write the template and update every catalog; answers the untranslated count per language."""
    pot = await template(root)
    _write(TEMPLATE, pot)
    missing: dict[str, int] = {}
    for po in sorted(LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        folder = po.parent.parent.name
        with po.open("rb") as source:
            catalog = read_po(source, locale=folder, domain=DOMAIN)
        catalog.update(pot, no_fuzzy_matching=True)
        _write(po, catalog)
        missing[folder] = sum(1 for message in catalog if message.id and not _translated(message.string))
    return missing


def _translated(string: str | tuple[str, ...] | None) -> bool:
    if isinstance(string, tuple):
        return all(string)
    return bool(string)
