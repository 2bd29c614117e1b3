"""Identifiers users choose (contract ids, site ids): one pattern, checked before use.

A user id becomes part of object keys (``contracts/<contract_id>/v1.json``,
``invoices/<contract_id>/...``) and of table partitions (``site_id=<site_id>``), so it
is checked against :data:`ID_PATTERN` (the ``contract_id`` pattern of the published
contract schema) before any key is built: 1 to 64 characters, letters, digits, ``_``,
``.`` and ``-``, starting with a letter or a digit. ``../..``, a ``/``, a space or a
100,000-character id never reach the store, and the message never echoes more than a
short prefix of what was given.
"""
from __future__ import annotations

import re

from .errors import ValidationError

#: the ``contract_id`` pattern of ``engine/contract_schema.json`` (a test keeps them equal)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ID = re.compile(ID_PATTERN)
ID_RULE = ("1-64 characters: letters, digits, '_', '.' or '-', starting with a letter "
           "or a digit")

__all__ = ["ID_PATTERN", "ID_RULE", "is_valid_id", "check_id", "shown"]


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def shown(value: object, limit: int = 40) -> str:
    """``repr`` of a user value cut to ``limit`` characters (messages stay short)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def check_id(value: object, *, field: str, file: str | None = None,
             line: int | None = None) -> str:
    """``value`` if it is a valid id, else ``ValidationError`` naming ``field``."""
    if is_valid_id(value):
        return value  # type: ignore[return-value]
    if not isinstance(value, str):
        raise ValidationError(f"expected an id ({ID_RULE}), got {type(value).__name__} "
                              f"{shown(value)}", file=file, line=line, field=field)
    raise ValidationError(f"{shown(value)} is not a valid id: {ID_RULE}", file=file, line=line,
                          field=field)
