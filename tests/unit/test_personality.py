"""Personality sets temperament and style; the catalog loads and validates the personas file."""

from pathlib import Path

import pytest

from app.catalog import CatalogError, load_catalog
from app.persona.emotion import LITE_EMOTIONS, RICH_EMOTIONS
from app.persona.profiles import BigFive, PersonaDefinition, build_profile, derive_baseline
from app.settings import Settings


def test_temperament_follows_traits() -> None:
    extravert = derive_baseline(BigFive(extraversion=0.95, neuroticism=0.1), "lite")
    introvert = derive_baseline(BigFive(extraversion=0.1, neuroticism=0.1), "lite")
    anxious = derive_baseline(BigFive(neuroticism=0.95), "lite")
    assert extravert["joy"] > introvert["joy"]
    assert anxious["fear"] > extravert["fear"]
    assert set(extravert) == set(LITE_EMOTIONS)
    rich = derive_baseline(BigFive(agreeableness=0.9), "rich")
    assert set(rich) == set(RICH_EMOTIONS)
    assert len(rich) == 16
    assert all(0 <= v <= 1 for v in rich.values())


def test_neurotic_personas_hold_feelings_longer_and_style_follows_traits() -> None:
    calm = build_profile("c", PersonaDefinition(name="C", traits=BigFive(neuroticism=0.0)), "lite")
    tense = build_profile("t", PersonaDefinition(name="T", traits=BigFive(neuroticism=1.0)), "lite")
    assert tense.half_life_seconds > calm.half_life_seconds
    talker = build_profile("x", PersonaDefinition(name="X", traits=BigFive(extraversion=1.0)), "lite")
    quiet = build_profile("y", PersonaDefinition(name="Y", traits=BigFive(extraversion=0.0)), "lite")
    assert talker.style.verbosity > quiet.style.verbosity


def test_catalog_loads_the_shipped_personas() -> None:
    catalog = load_catalog(Settings().personas_file, "rich", "default")
    assert catalog.ids == ["default", "sage", "spark"]
    assert catalog.get("sage").name == "Sage"
    assert catalog.get("sage").style.formality == 0.8
    assert catalog.get("nobody").persona_id == "default"
    assert catalog.resolve("spark") == "spark"
    assert catalog.resolve("nobody") == "default"
    assert len(catalog.get("default").baseline) == 16


def test_catalog_refuses_a_missing_default_or_a_broken_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="PERSONA_ID"):
        load_catalog(Settings().personas_file, "lite", "ghost")
    broken = tmp_path / "personas.toml"
    broken.write_text("[personas.x]\nname = ''\n")
    with pytest.raises(CatalogError, match="cannot load"):
        load_catalog(broken, "lite", "x")
    with pytest.raises(CatalogError):
        load_catalog(tmp_path / "missing.toml", "lite", "x")
