"""Reading data files strictly: a size cap, UTF-8, bounded nesting and aliases, no key given twice.

Every plan, accelerator, space, front, summary and metrics file a user may have received from someone
else is read here, and each refusal is a one-line ValueError naming the file. What is refused is what
no file structconv writes ever holds and what a hostile one uses: nesting deeper than MAX_DEPTH (the
parsers recurse per level, so 50,000 levels are a RecursionError), more than MAX_YAML_ALIASES YAML
aliases (exponential expansion), and a key given twice in one mapping (the parsers keep the last one
without a word, so a plan could say two things).
"""
from __future__ import annotations

import codecs
import json
import re
from itertools import accumulate
from pathlib import Path

import yaml

from .checks import shown

MAX_INPUT_BYTES = 8 * 2**20      # plans, accelerators, spaces, topologies: far below this
MAX_YAML_ALIASES = 64            # a plan needs none; nested aliases can expand exponentially
MAX_DEPTH = 64                   # nested mappings and lists; the files structconv writes nest 5 deep at most


def read_text(path, what: str, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The text of ``path``, read with a size cap (``/dev/zero`` stops at the cap).

    A leading UTF-8 byte-order mark (Windows editors write one) is dropped. A missing, unreadable,
    oversized or non-UTF-8 file is a one-line ValueError naming ``what``.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise ValueError(f"{what} {str(path)!r} cannot be read: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise ValueError(f"{what} {str(path)!r} is larger than the {max_bytes:,}-byte cap for input files")
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = data[e.start:e.start + 1]
        raise ValueError(f"{what} {str(path)!r} is not UTF-8 text (byte {e.start}: {bad!r})") from None


# -- YAML ---------------------------------------------------------------------------------------------
class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader with the aliases, the nesting and repeated keys bounded (module docstring)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases = getattr(self, "_aliases", 0) + 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_YAML_ALIASES} YAML aliases (*refs); "
                                     "refusing to expand them")
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise yaml.YAMLError(f"nesting deeper than {MAX_DEPTH} levels (line {line})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self._no_repeated_key(node)
        return super().construct_mapping(node, deep)

    def _no_repeated_key(self, node: yaml.MappingNode) -> None:
        lines: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":     # '<<: *base': the keys after it may override
                continue
            key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
            try:
                if key in lines:
                    raise yaml.YAMLError(f"key {shown(key)} appears twice in one mapping "
                                         f"(lines {lines[key]} and {line})")
                lines[key] = line
            except TypeError:                                   # unhashable: the constructor says so
                continue


def parse_yaml(text: str):
    """``yaml.safe_load`` with the bounds of the module docstring: the one YAML parser."""
    return yaml.load(text, Loader=_BoundedLoader)               # a SafeLoader subclass


# -- JSON ---------------------------------------------------------------------------------------------
# A string runs to its closing quote or, unterminated, to the end of the text: every match attempt
# succeeds, so a scan is linear however the quotes and backslashes are arranged.
_STRING = r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)'
_JSON_STRINGS = re.compile(_STRING, re.S)
_JSON_TOKENS = re.compile(rf"({_STRING})(\s*:)?|[\[\]{{}}]", re.S)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class _RepeatedKey(ValueError):
    def __init__(self, key):
        super().__init__(f"key {shown(key)} appears twice in one object")


def _unique_object(pairs: list) -> dict:
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise _RepeatedKey(k)
        obj[k] = v
    return obj


def _too_deep(text: str) -> bool:
    """Whether brackets outside strings nest deeper than MAX_DEPTH: checked before json recurses."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    brackets = _NOT_BRACKETS.sub("", _JSON_STRINGS.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > MAX_DEPTH


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _where_refused(text: str) -> str | None:
    """The first nesting past MAX_DEPTH or key given twice, with its lines (only once one was found)."""
    stack: list = []                         # per open bracket: {key: offset} of an object, None of a list
    for m in _JSON_TOKENS.finditer(text):
        tok = m.group(0)
        if m.group(1) is None and tok in "[{":
            stack.append({} if tok == "{" else None)
            if len(stack) > MAX_DEPTH:
                return f"nesting deeper than {MAX_DEPTH} levels (line {_line(text, m.start())})"
        elif m.group(1) is None:
            if stack:
                stack.pop()
        elif m.group(2) and stack and stack[-1] is not None:
            try:
                key = json.loads(m.group(1))
            except ValueError:
                return None
            if key in stack[-1]:
                return (f"key {shown(key)} appears twice in one object "
                        f"(lines {_line(text, stack[-1][key])} and {_line(text, m.start())})")
            stack[-1][key] = m.start()
    return None


def parse_json(text: str):
    """``json.loads`` with the bounds of the module docstring: ValueError (one line) past them."""
    if _too_deep(text):
        raise ValueError(_where_refused(text) or f"nesting deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, object_pairs_hook=_unique_object)
    except _RepeatedKey as e:
        raise ValueError(_where_refused(text) or str(e)) from None


_INT_DIGITS = re.compile(r"Exceeds the limit \((\d+) digits\) for integer string conversion"
                         r".*?has (\d+) digits")


# -- files --------------------------------------------------------------------------------------------
def load_data_file(path, what: str):
    """Parse a YAML (safe loader) or, for *.json, a JSON file; errors name ``what`` and the file.

    The one reader of every plan, accelerator, space and front file.
    """
    text = read_text(path, what)
    is_json = Path(path).suffix == ".json"
    try:
        return parse_json(text) if is_json else parse_yaml(text)
    except (yaml.YAMLError, ValueError) as e:   # ValueError: also an int of more than 4300 digits
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        digits = _INT_DIGITS.search(first)           # not Python's advice to raise its own limit
        if digits:
            first = f"an integer of {digits.group(2)} digits (at most {digits.group(1)} digits)"
        kind = "JSON" if is_json else "YAML"
        raise ValueError(f"{what} {str(path)!r} is not valid {kind}: {first}") from None


def read_jsonl(path, what: str = "records file") -> tuple[list[dict], int]:
    """The JSON objects of a JSON-lines file, one per line, and how many lines were skipped.

    A line that is not a JSON object (a run killed mid-write, or one ``parse_json`` refuses) is
    skipped and counted. The one reader of ``metrics.jsonl``.
    """
    rows, bad = [], 0
    for line in read_text(path, what).splitlines():
        if not line.strip():
            continue
        try:
            rec = parse_json(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(rec, dict):
            rows.append(rec)
        else:
            bad += 1
    return rows, bad
