"""Orchestration socket access control (shared secret in a cookie, CIDR allow-list)."""

from typing import Any

import pytest
from pydantic import ValidationError

from app.channels.access import OpenDoorError, check_doors, door_limited, open_doors, refusal_reason
from app.settings import Settings


def test_open_by_default() -> None:
    assert refusal_reason({}, "203.0.113.9", Settings()) is None


def test_shared_secret_in_the_cookie() -> None:
    settings = Settings(sm_shared_secret="s3cret-value", sm_cookie_name="orch")
    assert refusal_reason({"orch": "s3cret-value"}, "127.0.0.1", settings) is None
    assert refusal_reason({"orch": "wrong"}, "127.0.0.1", settings) == "missing or wrong orchestration secret"
    assert refusal_reason({}, "127.0.0.1", settings) == "missing or wrong orchestration secret"


def test_cidr_allow_list() -> None:
    settings = Settings(sm_allowed_cidrs="10.0.0.0/8, 192.168.1.7")
    assert settings.sm_allowed_cidrs == ["10.0.0.0/8", "192.168.1.7"]
    assert refusal_reason({}, "10.2.3.4", settings) is None
    assert refusal_reason({}, "192.168.1.7", settings) is None
    assert refusal_reason({}, "127.0.0.1", settings) == "client address not allowed"
    assert refusal_reason({}, None, settings) == "client address not allowed"


def test_a_malformed_cidr_fails_at_start_up() -> None:
    with pytest.raises(ValidationError):
        Settings(sm_allowed_cidrs="10.0.0.0/33")


def test_open_doors_are_named() -> None:
    """Each is said at start-up (an error in production): an open door lets any caller claim any identity."""
    everything_open = Settings(_env_file=None)
    assert len(open_doors(everything_open)) == 3
    guarded = Settings(_env_file=None, sm_allowed_cidrs=["10.0.0.0/8"], skills_api_key="k" * 32, clm_api_key="c" * 32)
    assert open_doors(guarded) == []


def test_production_refuses_open_doors_and_short_door_keys(caplog: pytest.LogCaptureFixture) -> None:
    production: dict[str, Any] = {"_env_file": None, "app_env": "production"}
    with pytest.raises(OpenDoorError, match="Soul Machines"):
        check_doors(Settings(**production))
    with pytest.raises(OpenDoorError, match="SKILLS_API_KEY must be at least 32"):
        check_doors(Settings(**production, sm_shared_secret="s" * 32, skills_api_key="k", clm_api_key="c" * 32))
    check_doors(Settings(**production, sm_shared_secret="s" * 32, skills_api_key="k" * 32, clm_api_key="c" * 32))
    deliberate = Settings(**production, open_doors="sm,skills", clm_api_key="c" * 32)
    check_doors(deliberate)
    assert "door opened deliberately" in caplog.text
    check_doors(Settings(_env_file=None))  # development: open, with a warning


def test_per_address_limits_apply_where_the_address_is_the_users() -> None:
    """Behind its credential a door's callers are the platform's few servers, carrying everyone."""
    open_ = Settings(_env_file=None)
    guarded = Settings(_env_file=None, sm_shared_secret="s" * 32, clm_api_key="c" * 32)
    assert all(door_limited(open_, door) for door in ("sm", "skills", "clm"))
    assert [door_limited(guarded, door) for door in ("sm", "skills", "clm")] == [False, True, False]
