"""The one YAML reader of meter2cash: every YAML document a user gives goes through here.

Contracts, the site registry, and any later YAML input (scenario and bankability
documents) are read by :func:`load_yaml_document` (bytes) or :func:`read_yaml_file`
(a path). It is PyYAML's safe loader made strict, so that a document means one thing
and costs a bounded amount of work to read:

=============================  ===============================================================
refused                        why
=============================  ===============================================================
more than ``max_bytes``        a documented size cap (:data:`MAX_YAML_BYTES`, 4 MiB); the
                               file is not even read past it
bytes that are not UTF-8       the message gives the byte offset and line
anchors and aliases (``&a``,   an alias is a reference: a 455-byte "billion laughs" document
``*a``)                        expands to gigabytes once copied; write each value out (so
                               ``<<`` merges nothing: it is an ordinary, unknown key)
a key given twice in a         PyYAML keeps the last one silently; the message names the key,
mapping                        its line and the line of the first one
explicit tags (``!!binary``,   only plain YAML data: mappings, lists, strings, numbers,
``!!set``, ``!!python/...``)   booleans, null, dates
nesting deeper than            a bound on the reader's recursion (:data:`MAX_DEPTH`)
:data:`MAX_DEPTH`
a root that is not a mapping   every meter2cash document is a mapping
=============================  ===============================================================

Scalars are resolved like YAML 1.2's core schema (not YAML 1.1's surprises):
``true``/``false`` are booleans (``yes``, ``no``, ``on``, ``off`` stay strings),
integers are ASCII decimal (``1_000``, ``0x1F``, ``012`` and ``1:30`` stay strings),
floats need a decimal point (``.inf`` and ``.nan`` stay strings), and integers must fit
in 64 bits. Unquoted ``YYYY-MM-DD`` dates and timestamps are dates, as in YAML 1.1; an
impossible date (``2026-02-30``) is refused. A plain scalar that is not one of these is a
string, so a field that wants a number gets a clear schema error naming it.

Every refusal is a :class:`~engine.errors.ValidationError` naming the file, the 1-based
line and, where there is one, the field path (``terms[0].kind``, the style of the
schema errors), never a traceback.
"""
from __future__ import annotations

import math
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader, ReaderError
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from engine.errors import InputError, ValidationError

#: the largest YAML document read, in bytes (a contract is ~2 kB; a registry of
#: 10,000 sites with five channels each is ~2.5 MB)
MAX_YAML_BYTES = 4 * 1024 * 1024
#: the deepest nesting of mappings and lists (a contract needs 5)
MAX_DEPTH = 64
#: integers must fit in a signed 64-bit integer
_INT64_MAX = 2**63 - 1

_STR = "tag:yaml.org,2002:str"
_ALLOWED_TAGS = {None, "!", _STR}

__all__ = ["load_yaml_document", "read_yaml_file", "YamlDocument", "format_path",
           "MAX_YAML_BYTES", "MAX_DEPTH"]


class YamlDocument(dict):
    """A loaded document: a plain ``dict`` that also knows the line of every field, so
    a later error naming a field (``terms[0].rate``) can name its line too."""

    def __init__(self, data: dict, source: str, lines: dict[str, int]):
        super().__init__(data)
        self.source = source
        self._lines = lines

    def line_of(self, field: str | None) -> int | None:
        """The line of ``field`` (a path as :func:`format_path` writes it), or of its
        nearest enclosing field that is in the document; None if neither is."""
        while field:
            if field in self._lines:
                return self._lines[field]
            cut = max(field.rfind("."), field.rfind("["))
            field = field[:cut] if cut > 0 else ""
        return None

    def locate(self, exc: InputError) -> InputError:
        """``exc`` (raised while validating this document: it names a ``field`` but no
        ``line``) as the same kind of error naming the field's line too; ``exc`` itself
        if it has a line already or its field is not in the document."""
        fld = getattr(exc, "field", None)
        line = self.line_of(fld) if getattr(exc, "line", None) is None and fld else None
        if line is None:
            return exc
        message = str(exc)
        for prefix in (f"{self.source}: ", f"field '{fld}': "):
            message = message[len(prefix):] if message.startswith(prefix) else message
        problems = getattr(exc, "problems", [])
        if isinstance(exc, ValidationError):
            return type(exc)(message, file=self.source, line=line, field=fld, problems=problems)
        out = type(exc)(f"{self.source}:{line}: {message}")
        out.file, out.line, out.field, out.problems = self.source, line, fld, problems  # type: ignore[attr-defined]
        return out


class _Refused(Exception):
    """Raised inside the loader; turned into a ValidationError at the boundary."""

    def __init__(self, message: str, line: int | None, path: tuple = ()):
        super().__init__(message)
        self.message, self.line, self.path = message, line, path


def _line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def format_path(path: tuple) -> str | None:
    """``("terms", 0, "kind")`` -> ``terms[0].kind`` (the style of the schema errors)."""
    out = ""
    if len(path) > 12:
        path = (*path[:12], "...")
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


class _StrictResolver(BaseResolver):
    """Implicit scalar types of YAML 1.2's core schema, plus YAML 1.1 dates."""


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
    ("tag:yaml.org,2002:float", r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+][0-9]+)?$",
     "-+0123456789."),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:timestamp",
     r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?
         (?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?
         (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""", "0123456789"),
):
    _StrictResolver.add_implicit_resolver(_tag, re.compile(_regexp, re.X), list(_first))


class _StrictConstructor(SafeConstructor):
    """Safe construction with duplicate keys, unhashable keys, impossible dates and
    out-of-range numbers refused."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        if not isinstance(node, MappingNode):
            raise _Refused(f"expected a mapping, found {node.id}", _line(node.start_mark),
                           getattr(node, "m2c_path", ()))
        mapping: dict = {}
        first: dict = {}
        for key_node, value_node in node.value:
            path = getattr(node, "m2c_path", ())
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise _Refused("a mapping key must be a scalar (a name), not a list or mapping",
                               _line(key_node.start_mark), path)
            if key in mapping:
                raise _Refused(f"duplicate key {_short(key)!r} (first at line {first[key]}); "
                               "YAML would keep only the last one",
                               _line(key_node.start_mark), (*path, key))
            first[key] = _line(key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_int(self, node: ScalarNode) -> int:
        text = self.construct_scalar(node)
        if len(text.lstrip("+-")) > 19 or abs(int(text)) > _INT64_MAX:
            raise _Refused(f"integer {_short(text)} does not fit in 64 bits",
                           _line(node.start_mark), getattr(node, "m2c_path", ()))
        return int(text)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        text = self.construct_scalar(node)
        value = float(text)
        if not math.isfinite(value):
            raise _Refused(f"number {_short(text)} is out of range", _line(node.start_mark),
                           getattr(node, "m2c_path", ()))
        return value

    def construct_yaml_timestamp(self, node: ScalarNode):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise _Refused(f"not a valid date or time {node.value!r}: {exc}",
                           _line(node.start_mark), getattr(node, "m2c_path", ())) from None


_StrictConstructor.add_constructor("tag:yaml.org,2002:int", _StrictConstructor.construct_yaml_int)
_StrictConstructor.add_constructor("tag:yaml.org,2002:float",
                                   _StrictConstructor.construct_yaml_float)
_StrictConstructor.add_constructor("tag:yaml.org,2002:timestamp",
                                   _StrictConstructor.construct_yaml_timestamp)


class _StrictLoader(Reader, Scanner, Parser, Composer, _StrictConstructor, _StrictResolver):
    """PyYAML's pure-Python safe loader with anchors, aliases, explicit tags and deep
    nesting refused at composition, and each node labelled with its field path."""

    def __init__(self, text: str):
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _StrictConstructor.__init__(self)
        _StrictResolver.__init__(self)
        self.m2c_path: list = []
        self.m2c_lines: dict[str, int] = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        segment: int | str | None
        if parent is None or index is None:
            segment = None                          # the root, or a mapping key
        elif isinstance(index, int):
            segment = index                         # a list item
        else:
            segment = index.value if isinstance(index, ScalarNode) else "?"
        path = tuple(p for p in (*self.m2c_path, segment) if p is not None)
        if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent) and event.anchor):
            raise _Refused("YAML anchors and aliases (&name, *name) are not accepted: "
                           "write each value out", _line(event.start_mark), path)
        if isinstance(event, (ScalarEvent, CollectionStartEvent)) and event.tag not in _ALLOWED_TAGS:
            raise _Refused(f"explicit YAML tags ({event.tag}) are not accepted: give plain "
                           "values", _line(event.start_mark), path)
        if len(self.m2c_path) >= MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep", _line(event.start_mark),
                           path)
        self.m2c_path.append(segment)
        try:
            node = super().compose_node(parent, index)
            node.m2c_path = path
            line, name = _line(node.start_mark), format_path(path)
            if segment is not None and name is not None and line is not None:
                self.m2c_lines.setdefault(name, line)
        finally:
            self.m2c_path.pop()
        return node


def _short(value: Any, limit: int = 60) -> str:
    s = str(value)
    return s if len(s) <= limit else s[:limit] + f"... ({len(s)} characters)"


def _line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def load_yaml_document(data: bytes, name: str, *, max_bytes: int = MAX_YAML_BYTES,
                       what: str = "document") -> YamlDocument:
    """Parse one YAML document (``data``, the file's bytes; ``name`` for messages)
    into a dict, refusing everything the module docstring lists.

    ``what`` names the document in messages ("a contract document is a mapping").
    Raises :class:`~engine.errors.ValidationError` naming ``name``, the line and
    the field path.
    """
    if len(data) > max_bytes:
        raise ValidationError(f"the file is larger than the {max_bytes:,}-byte limit of a "
                              f"YAML {what}", file=name)
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(body)
        raise ValidationError(f"not UTF-8 text: {exc.reason} (byte 0x{body[exc.start]:02x} "
                              f"at byte offset {offset})", file=name,
                              line=_line_of_offset(data, offset)) from None
    loader: _StrictLoader | None = None
    try:
        loader = _StrictLoader(text)
        doc = loader.get_single_data()
    except _Refused as exc:
        raise ValidationError(exc.message, file=name, line=exc.line,
                              field=format_path(exc.path)) from None
    except ReaderError as exc:
        raise ValidationError(f"not valid YAML: character U+{exc.character:04X} is not allowed",
                              file=name, line=text.count("\n", 0, exc.position) + 1) from None
    except (yaml.MarkedYAMLError, ConstructorError) as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = ": ".join(str(p) for p in (getattr(exc, "context", None),
                                              getattr(exc, "problem", None)) if p) or "syntax error"
        raise ValidationError(f"not valid YAML: {problem}", file=name, line=_line(mark),
                              field=format_path(tuple(p for p in loader.m2c_path
                                                      if p is not None)) if loader else None
                              ) from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"not valid YAML: {exc}", file=name) from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(doc, dict):
        found = "nothing" if doc is None else f"a {type(doc).__name__}"
        raise ValidationError(f"a {what} is a YAML mapping (key: value lines); found {found}",
                              file=name, line=1)
    return YamlDocument(doc, name, loader.m2c_lines)


def read_yaml_file(path: Path | str, *, max_bytes: int = MAX_YAML_BYTES,
                   what: str = "document") -> YamlDocument:
    """:func:`load_yaml_document` of a file, read no further than ``max_bytes + 1``."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise ValidationError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise ValidationError("is a directory, not a file", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
    return load_yaml_document(data, str(path), max_bytes=max_bytes, what=what)
