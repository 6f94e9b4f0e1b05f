"""System tools the tests drive (caddy, docker-compose): skipped where absent, required under CI."""

import os
import shutil

import pytest


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing and CI is set")
        pytest.skip(f"{tool} is not installed")
    return path
