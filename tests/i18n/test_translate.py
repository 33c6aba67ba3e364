"""`bot.i18n` as a library: choosing a catalog, filling placeholders, plurals, numbers, stored English."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import discord
import pytest

from bot.core.errors import InvalidInput, Phrase
from bot.i18n import catalogs, languages, number, resolve, t, t_english, tn


def test_a_discord_locale_picks_its_catalog_else_its_family_else_english() -> None:
    """de → de, es-419 → es-ES, en-GB → English, and anything unknown → English."""
    assert resolve(discord.Locale.german) == "de"
    assert resolve("pt-BR") == "pt-BR" and resolve("pt_BR") == "pt-BR"
    assert resolve(discord.Locale.latin_american_spanish) == "es-ES"
    assert resolve(discord.Locale.british_english) == "en-US"
    assert resolve("ko") == "en-US" and resolve(None) == "en-US" and resolve("xx-YY") == "en-US"


def test_placeholders_are_filled_in_the_translation() -> None:
    """The member's words go in as they are; the sentence around them is translated."""
    assert t("de", "Added as line {number}.", number=3) == "Als Zeile 3 hinzugefügt."
    assert t("ko", "Added as line {number}.", number=3) == "Added as line 3."
    assert t("fr", "Lineage of {song}", song="**Rain** {x}") == "Généalogie de **Rain** {x}"


def test_plural_forms_follow_the_language() -> None:
    """One / many in German and English; French counts 0 as singular; Japanese has one form."""
    assert tn("de", "{count} credit", "{count} credits", 1) == "1 Credit"
    assert tn("de", "{count} credit", "{count} credits", 2) == "2 Credits"
    assert tn("fr", "{count} credit", "{count} credits", 0) == "0 crédit"
    assert tn("ja", "{count} credit", "{count} credits", 5) == "5クレジット"
    assert tn(None, "{count} credit", "{count} credits", 1) == "1 credit"


def test_numbers_are_written_as_the_language_writes_them() -> None:
    """Thousands and decimals: 1,234.5 in English, 1.234,5 in German, 1 234,5 in French."""
    assert number("en-US", 1234.5) == "1,234.5"
    assert number("de", 1234.5) == "1.234,5"
    assert number("fr", 1234.5).replace("\u202f", " ") == "1 234,5"


def test_an_error_is_translated_with_its_parameters_and_phrases_inside_phrases() -> None:
    """A UserError keeps its template, so the handler can say it in the member's language."""
    error = InvalidInput("`{name}` cannot be empty.", name="prompt")
    assert error.message == "`prompt` cannot be empty."
    assert t("de", error.phrase) == "`prompt` darf nicht leer sein."
    reason = Phrase(
        "Could not get the WAV: {reason}", reason=Phrase("The music service is busy right now, try again in a minute.")
    )
    assert t("es-ES", reason).startswith("No se pudo obtener el WAV: El servicio de música está ocupado")
    counted = Phrase.counted("Added {count} line as yours.", "Added {count} lines as yours.", 2)
    assert str(counted) == "Added 2 lines as yours." and t("pt-BR", counted) == "2 versos adicionados como seus."


def test_english_stored_with_a_task_is_translated_where_it_is_shown() -> None:
    """A failure reason written in English into the database reads in the server's language, the
    API's own words inside it left as they are."""
    stored = str(Phrase("the song could not be made ({reason}). Your credit was refunded.", reason="Content flagged"))
    assert (
        t_english("de", stored)
        == "der Song konnte nicht gemacht werden (Content flagged). Dein Credit wurde erstattet."
    )
    assert t_english("ja", "the file took too long to download") == "ファイルのダウンロードに時間がかかりすぎました"
    assert t_english("fr", "words nobody wrote a message for") == "words nobody wrote a message for"


def test_a_broken_translation_falls_back_to_english_instead_of_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A translator's typo in a placeholder costs that one message its translation, never the reply."""

    class Broken:
        def gettext(self, message: str) -> str:
            return "Zeile {nummer}"

    monkeypatch.setattr(catalogs, "_translations", lambda locale: Broken())
    assert t("de", "Added as line {number}.", number=3) == "Added as line 3."


@pytest.fixture
def with_swedish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A copy of the locales folder with a new sv_SE catalog, as a contributor would add it."""
    locales = tmp_path / "locales"
    shutil.copytree(catalogs.LOCALES_DIR, locales)
    folder = locales / "sv_SE" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: sv_SE\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Settings updated."\nmsgstr "Inställningarna är sparade."\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(catalogs, "LOCALES_DIR", locales)
    catalogs._catalogs.cache_clear()
    yield
    catalogs._catalogs.cache_clear()


def test_a_new_catalog_is_picked_up_without_code_changes(with_swedish: None) -> None:
    """Dropping `locales/sv_SE/LC_MESSAGES/messages.po` in makes Swedish a language (sv-SE, Discord's code)."""
    assert "sv-SE" in languages()
    assert t(discord.Locale.swedish, "Settings updated.") == "Inställningarna är sparade."
    assert t("sv-SE", "Cancel") == "Cancel"  # not translated yet: English
