"""The project is a package: one version number, console scripts that point at real entry points."""

import importlib
import tomllib
from pathlib import Path

from app.api.middleware import API_VERSION

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())


def test_the_api_reports_the_packages_version() -> None:
    assert PYPROJECT["project"]["version"] == API_VERSION


def test_every_console_script_names_a_callable() -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert set(scripts) == {"persona-api", "persona-worker", "persona-scheduler"}
    for target in scripts.values():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function))
