"""The compose stack and the Caddyfile, validated by the real tools (no Docker engine here)."""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing and CI is set")
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.fixture
def compose_config(tmp_path: Path) -> dict[str, Any]:
    """`docker-compose config` on the real file, with .env made from .env.example."""
    binary = require("docker-compose")
    for name in ("docker-compose.yml", "Caddyfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = (ROOT / ".env.example").read_text().replace("MONGO_ROOT_PASSWORD=\n", "MONGO_ROOT_PASSWORD=s3cret\n")
    (tmp_path / ".env").write_text(env)
    result = subprocess.run([binary, "config"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_validates_and_wires_the_stack(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    assert set(services) == {"api", "worker", "scheduler", "redis", "mongo", "caddy"}
    for internal in ("redis", "mongo", "api", "worker", "scheduler"):
        assert not services[internal].get("ports"), f"{internal} must not publish host ports"
    published = {
        str(p["published"]) if isinstance(p, dict) else str(p).split(":")[0] for p in services["caddy"]["ports"]
    }
    assert published == {"80", "443"}
    for app in ("api", "worker", "scheduler"):
        env = services[app]["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["MONGO_URL"].startswith("mongodb://persona:s3cret@mongo:27017/")
        assert services[app]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert services[app]["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert services["redis"]["healthcheck"]["test"]
    assert services["mongo"]["healthcheck"]["test"]
    assert "--appendonly" in services["redis"]["command"]
    assert any("/data/db" in str(v) for v in services["mongo"]["volumes"])
    assert services["api"]["environment"]["FORWARDED_ALLOW_IPS"] == "172.28.0.0/24"


def test_the_image_commands_exist(compose_config: dict[str, Any]) -> None:
    for service in ("api", "worker", "scheduler"):
        command = compose_config["services"][service]["command"]
        assert command[:2] == ["python", "-m"]
        assert importlib.util.find_spec(command[2]) is not None, command
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "app"]' in dockerfile
    for package in ("app", "worker", "config"):  # config/personas.toml is read at start-up
        assert f"COPY {package} ./{package}" in dockerfile
    assert "USER persona" in dockerfile
    assert "HEALTHCHECK" in dockerfile


def test_caddyfile_is_valid_for_the_real_caddy() -> None:
    binary = require("caddy")
    env = {**os.environ, "API_DOMAIN": "localhost", "API_UPSTREAMS": "127.0.0.1:8000"}
    result = subprocess.run(
        [binary, "adapt", "--config", str(ROOT / "Caddyfile"), "--validate"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"flush_interval":-1' in result.stdout
    assert '"encode"' not in result.stdout  # compression would buffer server-sent events
