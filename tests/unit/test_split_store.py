"""Split mode (REDIS_URL without MONGO_URL): outside development neither API nor worker starts.

In development readiness names it: tests/integration/test_split_store.py (it needs a Redis).
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.store.split import SplitStoreError, refuse_split_store, store_kind

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:1/0"  # never reached: the refusal comes first


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ({}, "embedded"),
        ({"redis_url": REDIS_URL}, "split"),
        ({"redis_url": REDIS_URL, "mongo_url": "mongodb://db:27017/"}, "shared"),
        ({"mongo_url": "mongodb://db:27017/"}, "shared"),
    ],
)
def test_the_store_kind(values: dict[str, str], kind: str) -> None:
    assert store_kind(settings(**values)) == kind


@pytest.mark.parametrize("env", ["test", "production"])
def test_split_mode_is_refused_outside_development(env: str) -> None:
    with pytest.raises(SplitStoreError, match="MONGO_URL is not"):
        refuse_split_store(settings(app_env=env, redis_url=REDIS_URL))
    refuse_split_store(settings(app_env=env, redis_url=REDIS_URL, mongo_url="mongodb://db:27017/"))
    refuse_split_store(settings(app_env=env))  # embedded: one process, nothing to disagree on


def test_the_api_does_not_start_split_outside_development() -> None:
    with pytest.raises(SplitStoreError), TestClient(create_app(settings(app_env="test", redis_url=REDIS_URL))):
        pass


def test_a_worker_process_refuses_split_mode_outside_development() -> None:
    scrubbed = {k: v for k, v in os.environ.items() if k not in ("MONGO_URL", "EMBEDDED_WORKER")}
    env = scrubbed | {"APP_ENV": "test", "REDIS_URL": REDIS_URL}
    done = subprocess.run(
        [sys.executable, "-m", "worker", "--processes", "1"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "MONGO_URL is not" in done.stderr.decode()
