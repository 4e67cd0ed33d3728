"""Edit values inside a JSON text and keep every other byte of it.

A lab's platform files are hand-formatted (indentation, key order, number spelling) and
kept under version control, so an export that re-serialises the whole file would bury its
few changed numbers in a diff of whitespace. Here each edited value is spliced into the
original text at the span it occupies; a value whose key does not exist yet replaces the
smallest enclosing object that does, re-serialised on one line if it was on one, else with
the file's indentation.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from json.decoder import scanstring
from typing import Any

JsonPath = tuple[str | int, ...]

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|NaN|-?Infinity")


class JsonEditError(ValueError):
    """An edit does not fit the document (a path through a list or a number)."""


def value_spans(text: str) -> dict[JsonPath, tuple[int, int]]:
    """(start, end) of every value of a valid JSON text, by its path of keys and list indices."""
    spans: dict[JsonPath, tuple[int, int]] = {}

    def skip(i: int) -> int:
        return _WHITESPACE.match(text, i).end()

    def value(i: int, path: JsonPath) -> int:
        start = i = skip(i)
        opener = text[i]
        if opener in "{[":
            closer, index = ("}" if opener == "{" else "]"), 0
            i = skip(i + 1)
            while text[i] != closer:
                if opener == "{":
                    key, i = scanstring(text, skip(i) + 1)
                    i = value(skip(i) + 1, path + (key,))  # past the colon
                else:
                    i = value(i, path + (index,))
                    index += 1
                i = skip(i)
                if text[i] == ",":
                    i = skip(i + 1)
            i += 1
        elif opener == '"':
            _, i = scanstring(text, i + 1)
        else:
            i = _SCALAR.match(text, i).end()
        spans[path] = (start, i)
        return i

    value(0, ())
    return spans


def get_in(data: Any, path: JsonPath) -> Any:
    for key in path:
        data = data[key]
    return data


def _set_in(data: Any, path: JsonPath, value: Any) -> None:
    for depth, key in enumerate(path[:-1]):
        if isinstance(data, dict):
            data = data.setdefault(key, {})
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            raise JsonEditError(f"Cannot set {_show(path)}: {_show(path[:depth])} is not an object.")
    if isinstance(data, dict) or (isinstance(data, list) and isinstance(path[-1], int) and path[-1] < len(data)):
        data[path[-1]] = value
    else:
        raise JsonEditError(f"Cannot set {_show(path)}: {_show(path[:-1])} is not an object.")


def _show(path: JsonPath) -> str:
    return "/" + "/".join(map(str, path))


def _indent_unit(text: str) -> int:
    """The file's indentation step: the smallest indentation of any line, 2 if none."""
    widths = [len(m.group(1)) for m in re.finditer(r"\n( +)\S", text)]
    return min(widths) if widths else 2


def _render(value: Any, *, multiline: bool, margin: str, unit: int) -> str:
    if not isinstance(value, (dict, list)) or not value or not multiline:
        return json.dumps(value)
    return json.dumps(value, indent=unit).replace("\n", "\n" + margin)


def _margin(text: str, at: int) -> str:
    """The indentation of the line holding position `at`."""
    return re.match(r"[ \t]*", text[text.rfind("\n", 0, at) + 1:]).group(0)


def apply_edits(text: str, edits: Mapping[JsonPath, Any]) -> str:
    """`text` with each path set to its value; bytes outside the edited values are kept.
    A key the text lacks is added after the last member of the deepest object it has."""
    original = json.loads(text)
    edited = copy.deepcopy(original)
    for path, value in edits.items():
        _set_in(edited, path, value)
    spans = value_spans(text)
    replaced: set[JsonPath] = set()
    added: dict[JsonPath, list[str]] = {}  # object path -> keys to add, in order
    for path in edits:
        have = next(n for n in range(len(path), -1, -1) if path[:n] in spans)
        if have == len(path):
            replaced.add(path)
        elif isinstance(get_in(original, path[:have]), dict) and get_in(original, path[:have]):
            added.setdefault(path[:have], [])
            if path[have] not in added[path[:have]]:
                added[path[:have]].append(path[have])
        else:  # an empty object (or a non-object, which _set_in refused): write it whole
            replaced.add(path[:have])

    def inside_replaced(path: JsonPath) -> bool:
        return any(path[:n] in replaced for n in range(len(path)))

    unit = _indent_unit(text)
    splices: list[tuple[int, int, str]] = []  # (start, end, new text)
    for path in replaced:
        if inside_replaced(path):
            continue
        start, end = spans[path]
        old, new = get_in(original, path), get_in(edited, path)
        if new == old and type(new) is type(old):
            continue  # unchanged: keep the file's own spelling (5e9 stays 5e9)
        # a replaced object keeps its layout: one line if it was on one, else indented
        splices.append((start, end, _render(new, multiline="\n" in text[start:end], margin=_margin(text, start),
                                            unit=unit)))
    for obj, keys in added.items():
        if inside_replaced(obj) or obj in replaced:
            continue
        start, end = spans[obj]
        last = spans[obj + (list(get_in(original, obj))[-1],)]
        margin = _margin(text, last[0])
        parts = []
        for key in keys:  # laid out like the last member: on its own line if it is, as compact as it is
            value = _render(get_in(edited, obj + (key,)), multiline="\n" in text[last[0]:last[1]], margin=margin,
                            unit=unit)
            parts.append((f",\n{margin}" if "\n" in text[start:end] else ", ") + f"{json.dumps(key)}: {value}")
        splices.append((last[1], last[1], "".join(parts)))
    result = text
    for start, end, new in sorted(splices, key=lambda s: (s[0], s[1]), reverse=True):
        result = result[:start] + new + result[end:]
    if json.loads(result) != edited:  # a splice that changed anything else is a bug, never a file
        raise JsonEditError("Splicing the edits into the JSON text changed more than the edited values.")
    return result
