"""Integration fixtures: one real redis-server per test session, a fresh process stack per test.

Without `redis-server` these tests skip, except under CI (CI=true), where a skip is a failure.
"""

import os
import shutil
from collections.abc import Iterator

import pytest
import redis

from tests.support.stack import Managed, Stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Managed]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing and CI is set: the integration tests must run in CI")
        pytest.skip("redis-server is not installed")
    stack = Stack()
    server = stack.redis()
    yield server
    stack.stop()


@pytest.fixture
def redis_url(redis_server: Managed) -> str:
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def stack() -> Iterator[Stack]:
    stack = Stack()
    yield stack
    stack.stop()
