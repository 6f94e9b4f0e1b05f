"""docs/skill-definition.json points at routes this app really serves."""

import json
from pathlib import Path
from urllib.parse import urlparse

from app.main import create_app

ROOT = Path(__file__).resolve().parents[2]


def test_skill_definition_endpoints_exist() -> None:
    definition = json.loads((ROOT / "docs" / "skill-definition.json").read_text())
    assert definition["serviceProvider"] == "SKILL_API"
    routes = set(create_app().openapi()["paths"])
    for field in ("endpointInitialize", "endpointSession", "endpointExecute"):
        assert urlparse(definition[field]).path in routes
    assert urlparse(definition["endpointEndProject"]).path + "/{project_id}" in routes
    assert [c["name"] for c in definition["config"]["configMeta"]] == ["personaId"]
