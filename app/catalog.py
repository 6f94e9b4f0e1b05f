"""The persona catalog: profiles read from PERSONAS_FILE (TOML), validated at start-up."""

import tomllib
from pathlib import Path

from pydantic import BaseModel, ValidationError

from app.persona.profiles import PersonaDefinition, PersonaMode, PersonaProfile, build_profile


class PersonaFile(BaseModel):
    personas: dict[str, PersonaDefinition]


class CatalogError(ValueError):
    """The personas file is missing, malformed, or lacks the default persona."""


class PersonaCatalog:
    def __init__(self, profiles: dict[str, PersonaProfile], default_id: str) -> None:
        if default_id not in profiles:
            raise CatalogError(f"PERSONA_ID {default_id!r} is not in the personas file ({sorted(profiles)})")
        self._profiles = profiles
        self.default_id = default_id

    def get(self, persona_id: str) -> PersonaProfile:
        """The persona's profile; an unknown id is answered by the default persona."""
        return self._profiles.get(persona_id) or self._profiles[self.default_id]

    def resolve(self, persona_id: object) -> str:
        """The persona a caller named, if it is one of ours; else the default (whatever was sent)."""
        return persona_id if isinstance(persona_id, str) and persona_id in self._profiles else self.default_id

    @property
    def ids(self) -> list[str]:
        return sorted(self._profiles)


def load_catalog(path: Path, mode: PersonaMode, default_id: str) -> PersonaCatalog:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        parsed = PersonaFile.model_validate(raw)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise CatalogError(f"cannot load personas from {path}: {exc}") from exc
    profiles = {pid: build_profile(pid, definition, mode) for pid, definition in parsed.personas.items()}
    return PersonaCatalog(profiles, default_id)
