"""Split mode in development: the API starts on a real Redis without MONGO_URL, never ready."""

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.store.split import SPLIT_PROBLEM


def test_in_development_a_split_api_starts_but_is_never_ready(redis_url: str) -> None:
    settings = Settings(_env_file=None, redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/meta/ready")
    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "redis": True,
        "mongo": True,  # its own in-memory database answers: why readiness needs `store`
        "store": "split",
        "problem": SPLIT_PROBLEM,
    }
