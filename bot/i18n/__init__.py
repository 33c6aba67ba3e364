"""Languages: the bot's gettext catalogs and the choice of language for each message.

Owns the catalogs (`locales/<lang>/LC_MESSAGES/messages.po`, compiled in memory at first use), the
choice of a catalog for a Discord locale, the functions that translate, and the discord.py
`Translator` that gives every slash command its localized names and descriptions.
May import: `bot.core` (and Babel, discord.py).

How to write a member-facing string (every string a member reads goes through here):

* Private replies (ephemeral messages, modals, errors, `/help`, `/quota`, autocomplete labels, buttons
  on private messages) speak the member's language: `t(interaction.locale, "Cancelled.")`.
  Public messages (song posts, status lines, jam, party, feed and favourites posts) speak the
  server's language: `bot.songs.language.ServerLanguages.of(guild_id)` gives the locale to pass.
* The message id is the English text itself, with named placeholders filled by keyword:
  `t(locale, "{title} by {member}", title=song.title, member=name)`. Never build a sentence by
  concatenation or an f-string: translators need the whole sentence, and word order differs.
* Counts take the plural form: `tn(locale, "{count} song", "{count} songs", n)` (`count` is filled in).
  Format numbers shown with `number(locale, n)`; times stay Discord timestamps (`<t:…:R>`).
* A module-level constant is marked with `N_("text")` (it stays English) and translated where it
  is shown: `t(locale, CONSTANT)`.
* A `UserError` (`InvalidInput("`{name}` is too long.", name=...)`) carries its template and
  parameters; the one error handler translates it into the member's language.
* What members wrote (prompts, titles, lyrics, names) is a parameter, never a message id.

After adding or changing strings, run `python -m bot messages`: it extracts the template
(`bot/i18n/messages.pot`: the code's strings and every command's names and descriptions) and
updates each catalog; then translate the new entries (empty `msgstr`). `tests/i18n` fails on a
string a member can read that skips the catalog, and on a catalog missing a message or placeholder.
A new language is a new `locales/<code>/LC_MESSAGES/messages.po` (README, "Translations").
"""

from bot.i18n.catalogs import (
    DOMAIN,
    LOCALES_DIR,
    N_,
    SOURCE_LANGUAGE,
    Locale,
    language_name,
    languages,
    number,
    resolve,
    t,
    t_english,
    tc,
    tn,
)
from bot.i18n.commands import CommandTranslator, command_name, valid_command_name

__all__ = [
    "DOMAIN",
    "LOCALES_DIR",
    "N_",
    "SOURCE_LANGUAGE",
    "CommandTranslator",
    "Locale",
    "command_name",
    "language_name",
    "languages",
    "number",
    "resolve",
    "t",
    "t_english",
    "tc",
    "tn",
    "valid_command_name",
]
