"""requirements.txt is what production installs: pinned, and without test, lint or lab packages."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
# Packages only the tests (the browser tests: playwright), the lint or the DS lab use.
DEV_ONLY = {"pytest", "pytest-timeout", "pytest-xdist", "ruff", "sqlfluff", "sqlglot", "aiosmtpd", "playwright"}


def pins(name: str) -> dict[str, str]:
    found = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{name}: not pinned exactly: {line}"
        found[canonicalize_name(requirement.name)] = specifiers[0].version
    return found


def test_production_requirements_hold_no_development_package():
    production = pins("requirements.txt")
    assert "apache-airflow" in production
    assert DEV_ONLY.isdisjoint(production), sorted(DEV_ONLY & production.keys())


def test_development_requirements_hold_the_tools_with_the_same_pins_as_production():
    production, development = pins("requirements.txt"), pins("requirements-dev.txt")
    assert development.keys() >= DEV_ONLY
    clashes = {n: (production[n], v) for n, v in development.items() if n in production and production[n] != v}
    assert not clashes


def test_the_package_dependencies_are_met_by_the_production_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    production = pins("requirements.txt")
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in production, f"{name} is a dependency of the package but not in requirements.txt"
        assert requirement.specifier.contains(production[name]), (line, production[name])
    assert project["scripts"]["ds-replication"] == "ds_replication.cli:main"
