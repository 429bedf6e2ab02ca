"""Header text made safe where mail leaves: no control characters, proper RFC 2047 encoding.

Names and subjects come from people (resident names, contact names): a line break in one must
never inject a header nor stop the mail. Display text is cleaned (control characters become
spaces); an address is refused when it is not one plain addr-spec.
"""

from __future__ import annotations

import re
import unicodedata
from email import policy
from email.errors import HeaderDefect
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader

# Header field names we write ourselves: X-Mimamori-Incident and the like.
_FIELD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,75}$")
_ANGLE_ADDR = re.compile(r"^(?P<name>[^<>]*)<(?P<addr>[^<>]+)>\s*$")
_ADDR_SPEC = re.compile(r"^[^@\s\"(),:;<>\[\\\]]+@[^@\s\"(),:;<>\[\\\]]+$")
MAX_HEADER_TEXT = 400
# Carried with an outbox mail, never sent: the sender's display name for this mail (the
# office's name), so the family sees who writes instead of a generic name.
SENDER_NAME_FIELD = "X-Mimamori-Sender-Name"


class UnsafeHeader(ValueError):
    """Text that cannot go into a header at all (a broken address, a made-up field name)."""


def _is_control(char: str) -> bool:
    # Cc (C0/C1 controls incl. CR, LF, NUL) and the line/paragraph separators (Zl, Zp).
    return unicodedata.category(char) in {"Cc", "Zl", "Zp"}


def display_text(value: str) -> str:
    """One line of header text: every control character a space, runs of spaces folded."""
    cleaned = "".join(" " if _is_control(c) else c for c in value)
    return " ".join(cleaned.split())[:MAX_HEADER_TEXT]


def address(value: str) -> Address:
    """'名前 <a@b.jp>' or 'a@b.jp' as an Address; UnsafeHeader for anything else."""
    if any(_is_control(c) for c in value):
        raise UnsafeHeader("control character in address")
    match = _ANGLE_ADDR.match(value.strip())
    name, spec = (match["name"], match["addr"].strip()) if match else ("", value.strip())
    if not _ADDR_SPEC.match(spec):
        raise UnsafeHeader(f"not an e-mail address: {spec[:80]!r}")
    try:
        return Address(display_name=display_text(name.strip().strip('"')), addr_spec=spec)
    except (ValueError, HeaderDefect) as exc:
        raise UnsafeHeader(f"not an e-mail address: {spec[:80]!r} ({exc})") from None


def field_name(name: str) -> str:
    if not _FIELD_NAME.match(name):
        raise UnsafeHeader(f"not a header field name: {name[:80]!r}")
    return name


def sender(configured: str, display_name: str | None) -> Address:
    """The From address: the configured addr-spec under this mail's display name (RFC 2047
    encoded on output), or the configured name when the mail names none."""
    base = address(configured)
    name = display_text(display_name or "")
    return Address(display_name=name, addr_spec=base.addr_spec) if name else base


class UrlListHeader(UnstructuredHeader):
    """List-Unsubscribe and List-Unsubscribe-Post (RFC 2369, RFC 8058): `<https://...>` as
    it is, on one line. The default folding RFC 2047-encodes any header token longer than a
    line (a signed unsubscribe URL is), and a mail client cannot read an encoded-word as a
    URL: its one-click unsubscribe would silently not be offered."""

    def fold(self, *, policy: policy.Policy) -> str:  # type: ignore[override]
        value = str(self)
        if not value.isascii() or len(value) + len(self.name) + 2 > 998:
            return super().fold(policy=policy)
        return f"{self.name}: {value}{policy.linesep}"


class _CachedRegistry(HeaderRegistry):
    """The stdlib registry builds a new header class on every lookup (type(...) per header
    set, read or folded: 15 us each, a sixth of building a mail); the class depends only on
    the field name, so one per name is made and kept."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes.setdefault(key, super().__getitem__(name))
        return made

    def map_to_type(self, name: str, cls: type) -> None:
        super().map_to_type(name, cls)
        self._classes.pop(name.lower(), None)


def _registry() -> HeaderRegistry:
    registry = _CachedRegistry()
    for name in ("list-unsubscribe", "list-unsubscribe-post"):
        registry.map_to_type(name, UrlListHeader)
    return registry


# The policy every outgoing mail is built with: SMTP's, with the List-* headers unencoded.
SMTP_POLICY = policy.SMTP.clone(header_factory=_registry())
