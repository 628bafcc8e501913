"""YAML files read with line numbers, for error messages that name the line.

PyYAML's safe loader forgets where a value stood; this module composes the
node tree instead and keeps each value's line, so that every loader
(``rules_file``, ``config``) reports problems as ``file:line: what — fix``
and collects them all before failing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mailbot.core.text import nfc
from mailbot.errors import Problem

__all__ = ["Node", "Reader", "expected", "read_yaml"]


@dataclass(frozen=True, slots=True)
class Node:
    """A YAML value with the line it starts on (1-based)."""

    value: Any
    line: int


class Reader:
    """Walks one YAML file's nodes, collecting problems instead of raising."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems

    def problem(self, node: Node | int, message: str) -> None:
        line = node.line if isinstance(node, Node) else node
        self.problems.append(Problem(self.file, line, message))

    def mapping(
        self, node: Node, where: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Node]:
        if not isinstance(node.value, dict):
            self.problem(node, f"{where} must be a mapping of key: value")
            return {}
        for key, child in node.value.items():
            if key not in allowed:
                self.problem(child, f"unknown key '{key}' in {where}; {expected(key, allowed)}")
        for key in required:
            if key not in node.value:
                self.problem(node, f"{where} lacks the key '{key}'")
        return {k: v for k, v in node.value.items() if k in allowed}

    def seq(self, node: Node | None, where: str) -> list[Node]:
        if node is None or node.value is None:
            return []
        if not isinstance(node.value, list):
            self.problem(node, f"{where} must be a list (lines starting with '- ')")
            return []
        return list(node.value)

    def text(self, node: Node | None, where: str, default: str | None = None) -> str:
        if node is None:
            return default or ""
        if isinstance(node.value, bool) or not isinstance(node.value, str | int | float):
            self.problem(node, f"{where} must be text")
            return default or ""
        value = nfc(str(node.value)).strip()
        if not value:
            self.problem(node, f"{where} is empty; write a word or remove the line")
        return value

    def number(self, node: Node | None, where: str, default: float) -> float:
        if node is None:
            return default
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            self.problem(node, f"{where} must be a number, not {node.value!r}")
            return default
        return float(node.value)

    def flag(self, node: Node | None, where: str, default: bool) -> bool:
        if node is None:
            return default
        if not isinstance(node.value, bool):
            self.problem(node, f"{where} must be true or false, not {node.value!r}")
            return default
        return node.value

    def choice(self, node: Node | None, where: str, options: tuple[str, ...]) -> str | None:
        value = self.text(node, where)
        if node is not None and value and value not in options:
            self.problem(node, f"{where} is '{value}'; {expected(value, options)}")
            return None
        return value or None


def expected(got: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(got, options, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}expected one of: {', '.join(options)}"


# --- reading YAML with line numbers ---------------------------------------------


def _to_node(node: yaml.Node, reader: Reader, constructor: yaml.SafeLoader) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in out:
                reader.problem(key_node.start_mark.line + 1, f"duplicate key '{key}'")
            out[key] = _to_node(value_node, reader, constructor)
        return Node(out, line)
    if isinstance(node, yaml.SequenceNode):
        return Node([_to_node(n, reader, constructor) for n in node.value], line)
    return Node(constructor.construct_object(node), line)


def read_yaml(path: Path, reader: Reader) -> Node | None:
    try:
        text = path.read_text(encoding="utf-8")
        constructor = yaml.SafeLoader("")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        reader.problem(1, "is not UTF-8 text; save the file as UTF-8")
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        reader.problem(
            line, f"bad YAML: {exc.problem or exc.context}; check indentation and quotes"
        )
        return None
    if root is None:
        reader.problem(1, "is empty")
        return None
    return _to_node(root, reader, constructor)
