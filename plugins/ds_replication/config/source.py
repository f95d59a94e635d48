"""Reading the estate's YAML with the line of every node, and reporting problems by place.

A problem is a place as a pydantic-style loc (("slaves", 1, "name")) and what is wrong; the
report gives each its path and line (`slaves[1].name (line 54): ...`), in file order.
"""

from __future__ import annotations

from typing import Any

import yaml


class ConfigError(ValueError):
    """An estate file that cannot be used; the message lists every problem, one per line."""


Problem = tuple[tuple, str]  # (place in the file as a pydantic-style loc, what is wrong)


# --- pydantic's errors in plain words ------------------------------------------------------

_PLAIN = {
    "missing": "required, but missing",
    "extra_forbidden": "unknown key (not allowed here; secrets belong in Airflow connections)",
    "too_short": "needs at least one entry",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "string_type": "must be text",
    "list_type": "must be a list",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
    "dict_type": "must be a mapping of keys to values",
}
# keys of earlier versions of the file, and what replaced them
_RENAMED = {
    "enabled": "`enabled` was replaced by `paused_on_first_deploy` (true by default: a new DAG starts paused)",
}
_BOUNDS = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
}


def plain(error: dict) -> Problem:
    kind = error["type"]
    if kind in _BOUNDS:
        bounds = {k: f"{v:g}" if isinstance(v, float) else v for k, v in error.get("ctx", {}).items()}
        message = _BOUNDS[kind].format(**bounds) + f", not {error['input']!r}"
    elif kind == "extra_forbidden" and error["loc"] and error["loc"][-1] in _RENAMED:
        message = f"unknown key: {_RENAMED[error['loc'][-1]]}"
    elif kind in _PLAIN:
        message = _PLAIN[kind]
        if kind.endswith("_type"):
            message += f", not {error['input']!r}"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return error["loc"], message


# --- reading YAML, with the line of every node ---------------------------------------------

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def path_of(loc: tuple) -> str:
    """("slaves", 1, "name") -> "slaves[1].name"."""
    out = ""
    for part in loc:
        out = out + f"[{part}]" if isinstance(part, int) else _join(out, str(part))
    return out or "(top level)"


def _duplicate_keys(node: yaml.Node, loc: tuple = ()) -> list[Problem]:
    """Keys written twice in one mapping (YAML would silently keep the last)."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in seen:
                    line = key.start_mark.line + 1
                    problems.append(((*loc, key.value), f"key written twice (again on line {line})"))
                seen.add(key.value)
                problems += _duplicate_keys(value, (*loc, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for n, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*loc, n))
    return problems


def _line_of(root: yaml.Node, loc: tuple) -> int:
    """The line of the key or item at `loc`, or of the deepest part of `loc` that is in the file."""
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
            if not found:
                break
            key, node = found[0]
            line = key.start_mark.line + 1  # a block value starts on the line after its key
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def read_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        duplicates = _duplicate_keys(root)
        if duplicates:
            raise ConfigError(report(source, duplicates, root))
        return loader.construct_document(root), root
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}: not valid YAML{where}: {getattr(error, 'problem', None) or error}") from None
    finally:
        loader.dispose()


def report(source: str, problems: list[Problem], root: yaml.Node) -> str:
    """One line per problem, in file order, each with its path and line."""
    lines = sorted({(_line_of(root, loc), path_of(loc), message) for loc, message in problems})
    return f"{source}: {len(lines)} problem(s):\n" + "\n".join(
        f"  {path} (line {line}): {message}" for line, path, message in lines
    )
