""".env.example documents every setting, and only settings that exist."""

import re
from pathlib import Path

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_ONLY = {
    "API_DOMAIN",
    "API_UPSTREAMS",
    "MONGO_ROOT_USERNAME",
    "MONGO_ROOT_PASSWORD",
    "CADDY_TLS",
    "CADDY_HTTP_PORT",
    "CADDY_HTTPS_PORT",
    "CADDY_ADMIN",
}


def test_every_setting_is_in_env_example_and_nothing_else() -> None:
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from .env.example"
    assert documented - fields == COMPOSE_ONLY, ".env.example names settings the code does not have"


def test_env_example_as_is_gives_the_embedded_defaults() -> None:
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.redis_url is None
    assert settings.mongo_url is None
    assert settings.sm_shared_secret is None
    assert settings.sm_allowed_cidrs == []
    assert settings.run_embedded_worker
