"""Rules for text that enters the system (pure): names, addresses, e-mail addresses and phone
numbers are one line without control characters, free-text notes may also hold line breaks.

A line break in a name ends up in a mail header (where it stops the mail being sent, or
injects headers), a NUL cannot be stored by PostgreSQL, a lone surrogate cannot be encoded:
all are refused where the text enters (admin API, dashboard forms, CLI), with the field named.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

# Cc: C0/C1 controls incl. NUL, CR, LF, TAB, DEL, NEL; Cs: lone surrogates;
# Zl/Zp: U+2028/U+2029, which mail and JavaScript treat as line breaks.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Free text (notes, announcement text) keeps its line breaks and tabs.
MULTILINE_ALLOWED = frozenset({"\n", "\t"})
CONTROL_MESSAGE = "line breaks and control characters are not allowed"


def forbidden_char(value: str, multiline: bool = False) -> str | None:
    """The first character `value` must not contain, or None when it is clean."""
    for char in value:
        if multiline and char in MULTILINE_ALLOWED:
            continue
        if unicodedata.category(char) in FORBIDDEN_CATEGORIES:
            return char
    return None


def is_clean(value: str, multiline: bool = False) -> bool:
    return forbidden_char(value, multiline) is None


def normalise_newlines(value: str) -> str:
    """CRLF (what browsers send from a textarea) and lone CR become LF."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def problem(value: str | None, field: str, multiline: bool = False) -> str | None:
    """A sentence naming the field and the character, or None when the value is fine."""
    if value is None:
        return None
    char = forbidden_char(value, multiline)
    if char is None:
        return None
    return f"{field}: {CONTROL_MESSAGE} (U+{ord(char):04X})"


def strings_in(value: object) -> Iterator[str]:
    """Every string inside nested lists, tuples and dicts (keys too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from strings_in(item)
