"""A string a member reads that skips the catalog is a defect: this scan finds the usual ways in.

It parses bot/ and cogs/ and fails on an English literal (a string or f-string with words in it)
given straight to what Discord shows: message content (`send_message`, `send`, `edit`, `reply`,
`edit_original_response`, `followup.send`), embeds (`Embed(title=, description=)`, `add_field`,
`set_footer`, `set_author`), components (button and select labels, placeholders, modal titles, text
inputs, choices from autocomplete), the `UserError` family (whose first argument must be a plain
template, never an f-string), and what the render and wording modules return. Wrap the text in
`t(locale, "...", name=value)` (see `bot/i18n/__init__.py`) instead.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.app.catalog import error_classes

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "bot", ROOT / "cogs"]
NOT_YET_SWEPT: set[str] = set()
"""Files whose strings are not in the catalog yet (each one a known gap; the list only shrinks)."""

SHOWN_CALLS = {"send_message", "send", "edit", "reply", "edit_original_response", "edit_message", "send_modal"}
SHOWN_KEYWORDS = {
    "content",
    "title",
    "description",
    "name",
    "value",
    "text",
    "label",
    "placeholder",
}
SHOWN_BUILDERS = {
    "Embed",
    "add_field",
    "insert_field_at",
    "set_field_at",
    "set_footer",
    "set_author",
    "Button",
    "button",
    "Select",
    "select",
    "SelectOption",
    "TextInput",
    "Modal",
    "Choice",
    "InputModal",
    "Field",
    "ask_for_lyrics",
}
POSITIONAL = {"Choice": None, "TextInput": None, "InputModal": {0}, "Field": {1}}
"""Builders whose positional arguments are shown (None: all of them)."""
RETURNING_MODULES = ("render.py", "wording.py", "message.py")
"""Modules whose functions return text a member reads."""
WORDS = re.compile(r"[A-Za-z]{2,}[^`]*\s[A-Za-z]{2,}|\b[A-Z][a-z]{2,}\b")
"""Two words, or one capitalised word, outside code spans: English prose, not `/songs` or an id."""
TECHNICAL = re.compile(r"^(https?://|<[@#]|[\w.-]+\.(mp3|zip|wav|mp4|txt|jpg)$)")


def _english(node: ast.AST) -> bool:
    """Whether `node` is (or concatenates, or formats) a literal with English words in it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = re.sub(r"`[^`]*`", "", node.value)
        return bool(WORDS.search(text)) and not TECHNICAL.match(node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_english(part) for part in node.values if isinstance(part, ast.Constant))
    if isinstance(node, ast.BinOp):
        return _english(node.left) or _english(node.right)
    if isinstance(node, ast.IfExp):
        return _english(node.body) or _english(node.orelse)
    return False


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def violations(path: Path, errors: set[str]) -> list[str]:
    found: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT).as_posix()

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{where}:{getattr(node, 'lineno', '?')}: {what}")

    in_functions = {
        id(inner)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for statement in function.body
        for inner in ast.walk(statement)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for keyword in node.keywords:
                if keyword.arg == "title" and _english(keyword.value):
                    report(node, f"class {node.name}(title=…) is not translated")
        returns = isinstance(node, ast.Return) and path.name in RETURNING_MODULES and node.value is not None
        if returns and _english(node.value):  # type: ignore[attr-defined]
            report(node, "returns English text")
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        if name in errors:
            first = node.args[0] if node.args else None
            plain = isinstance(first, ast.Constant | ast.Name | ast.Attribute | ast.Starred | ast.Call | None)
            if not plain:
                report(node, f"{name}(…) needs a plain template with named placeholders, not an f-string")
            continue
        if name == "Choice" and id(node) not in in_functions:
            continue  # a command's fixed choices: the CommandTranslator localizes them at sync
        if name in SHOWN_CALLS or name in SHOWN_BUILDERS:
            shown = POSITIONAL.get(name, None if name in SHOWN_CALLS else set())
            arguments = [arg for index, arg in enumerate(node.args) if shown is None or index in shown]
            arguments += [keyword.value for keyword in node.keywords if keyword.arg in SHOWN_KEYWORDS]
            for argument in arguments:
                if _english(argument):
                    report(node, f"{name}(…) shows English text without t()")
    return found


def test_every_member_facing_string_goes_through_the_catalog() -> None:
    """No English literal reaches Discord without `t()`/`tn()` (outside the listed, unswept files)."""
    errors = error_classes(SOURCES)
    found: list[str] = []
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            if path.relative_to(ROOT).as_posix() not in NOT_YET_SWEPT:
                found += violations(path, errors)
    assert found == [], "wrap these in t() (bot/i18n/__init__.py says how):\n" + "\n".join(found)


def test_the_unswept_list_names_only_files_that_still_need_it() -> None:
    """A file that is clean comes off NOT_YET_SWEPT, so the list only shrinks."""
    errors = error_classes(SOURCES)
    clean = [name for name in sorted(NOT_YET_SWEPT) if not violations(ROOT / name, errors)]
    assert clean == [], f"these are swept now; remove them from NOT_YET_SWEPT: {clean}"
