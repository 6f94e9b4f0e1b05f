"""The Skills SDK's models (smskillsdk 1.0.0 `models/api.py`, `models/common.py`), field for field.

Responses are serialised without unset fields, as the SDK does.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.auth.identity import ID_PATTERN

Scope = Literal["PRIVATE", "PUBLIC"]


class SdkModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class Memory(SdkModel):
    name: str = Field(max_length=200)
    value: Any = None
    session_id: str | None = None
    scope: Scope | None = None


class Intent(SdkModel):
    name: str | None = None
    confidence: float | None = None


class InitRequest(SdkModel):
    projectId: str = Field(pattern=ID_PATTERN)
    deploymentEnvironment: Literal["preview", "public"]
    ownerId: str | None = None
    organizationId: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class SessionRequest(SdkModel):
    projectId: str = Field(pattern=ID_PATTERN)
    deploymentEnvironment: Literal["preview", "public"]
    sessionId: str = Field(pattern=ID_PATTERN)
    config: dict[str, Any] | None = None
    memory: list[Memory] | None = None


class SessionResponse(SdkModel):
    memory: list[Memory] | None = None


class ExecuteRequest(SdkModel):
    projectId: str = Field(pattern=ID_PATTERN)
    deploymentEnvironment: Literal["preview", "public"]
    sessionId: str = Field(pattern=ID_PATTERN)
    text: str = Field(max_length=4000)
    memory: list[Memory]
    intent: Intent | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


class Output(SdkModel):
    text: str | None = None
    variables: dict[str, Any] | None = None


class ExecuteResponse(SdkModel):
    output: Output | None = None
    intent: Intent | None = None
    memory: list[Memory] | None = None
    endConversation: bool
    endRouting: bool | None = None


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)
