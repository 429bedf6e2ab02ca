"""Babel extractor for the keyed UI text in cloud/web/i18n.py (babel.cfg `[glossary: ...]`).

Each `"key": "English"` entry of TEXT becomes a catalog message with msgctxt = key and
msgid = the English source, so a translator works on the .po file and the same English word
("Other", "Answered") can have different Japanese labels in different places."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import IO, Any


def extract(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    tree = ast.parse(fileobj.read().decode("utf-8"))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict)):
            continue
        target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
        if not (isinstance(target, ast.Name) and target.id == "TEXT"):
            continue
        for key, value in zip(node.value.keys, node.value.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(value, ast.Constant):
                yield key.lineno, "pgettext", (key.value, value.value), []
