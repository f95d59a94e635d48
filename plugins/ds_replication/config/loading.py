"""Loading the estate: from a file, or from text; ConfigError listing every problem."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from ds_replication.config.checks import name_and_conn_clashes, repeated_folders, run_bounds
from ds_replication.config.schema import Estate
from ds_replication.config.source import ConfigError, Problem, plain, read_yaml, report

DEFAULT_CONFIG = Path(__file__).parents[3] / "include" / "config" / "replication.yaml"
CONFIG_ENV = "DS_REPLICATION_CONFIG"


def parse_estate(text: str, source: str = "<string>") -> Estate:
    """The estate in `text` (YAML); ConfigError listing every problem."""
    data, root = read_yaml(text, source)
    if not isinstance(data, dict) or root is None:
        raise ConfigError(
            f"{source}: the top level must be a mapping with the keys master, slaves and (optional) defaults"
        )
    problems: list[Problem] = []
    try:
        estate = Estate.model_validate(data)
        problems += run_bounds(estate)
    except ValidationError as error:
        problems += [plain(e) for e in error.errors()]
    problems += name_and_conn_clashes(data) + repeated_folders(data)
    if problems:
        raise ConfigError(report(source, problems, root))
    return estate


def config_path(path: str | Path | None = None) -> Path:
    """`path`, else $DS_REPLICATION_CONFIG, else the repository's include/config/replication.yaml."""
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_estate(path: str | Path | None = None) -> Estate:
    """The estate from `path`, else $DS_REPLICATION_CONFIG, else include/config/replication.yaml."""
    source = config_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"{source}: cannot read the estate file: {reason}") from None
    return parse_estate(text, str(source))
