"""One pydantic-settings class: every knob of API and worker, each documented in .env.example."""

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.persona.safety import DEFAULT_RESOURCE_LINE
from app.store.retention import (
    ANONYMOUS_RETENTION_SECONDS,
    GUEST_RETENTION_SECONDS,
    THOUGHT_RETENTION_SECONDS,
    Retention,
)


class Settings(BaseSettings):
    # Empty values (REDIS_URL=) mean "not set", as in .env.example.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    app_env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line, for log shippers

    # HTTP server (`python -m app`).
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-For is believed
    access_log: bool = True
    ws_hard_max_bytes: int = Field(default=1024 * 1024, ge=1024)  # uvicorn closes the socket (1009) above

    # Infrastructure. Unset means embedded in-process stand-ins (fakeredis, mongomock-motor).
    redis_url: str | None = None
    mongo_url: str | None = None
    mongo_db: str = "persona"
    # Run an RQ worker thread inside the API process. Default: only when REDIS_URL is unset.
    embedded_worker: bool | None = None

    # REST API auth. In production each secret must be set and at least 32 characters; elsewhere
    # a missing one is generated per process (tokens then die with the process).
    jwt_secret: SecretStr | None = None
    password_pepper: SecretStr | None = None
    admin_api_key: SecretStr | None = None  # operators: X-Admin-Key header
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    refresh_grace_seconds: float = Field(default=10.0, ge=0)  # a second tab may reuse the old token this long
    cookie_secure: bool | None = None  # default: only in production
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)  # argon2 hashes at once (each 64 MiB)
    password_hash_wait_seconds: float = Field(default=1.0, gt=0)  # longer without a slot: 503 at once
    login_attempts_per_account_per_minute: int = Field(default=10, ge=1)
    identity_token_ttl_seconds: int = Field(default=600, ge=30, le=86400)  # links a user across doors

    # REST API limits.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    rate_limit_ip_per_minute: int = Field(default=300, ge=1)
    rate_limit_user_per_minute: int = Field(default=60, ge=1)
    guests_per_ip_per_hour: int = Field(default=20, ge=1)
    job_record_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    sse_max_seconds: float = Field(default=300.0, gt=0)
    sse_ping_seconds: float = Field(default=15.0, gt=0)

    # Queue and worker.
    queue_name: str = "turns"
    job_timeout_seconds: int = Field(default=30, ge=1)
    # How long RQ keeps a finished turn's job hash. 0 would make RQ delete it inline, which costs
    # the worker more than a short expiry does.
    job_result_ttl_seconds: int = Field(default=60, ge=1)
    worker_processes: int = Field(default=2, ge=1, le=64)
    worker_concurrency: int = Field(default=100, ge=1, le=10_000)  # turns (and thoughts) in flight per process
    # A worker heartbeats at least every (ttl - 15) s; one silent for longer counts as dead.
    worker_ttl_seconds: int = Field(default=30, ge=16)
    queue_stale_seconds: float = Field(default=30.0, gt=0)  # an older queued job makes the queue "degraded"

    # Prometheus metrics of each worker process on METRICS_HOST:METRICS_PORT + its index under
    # `python -m worker --processes N` (0, 1, ...); 0 turns them off. The API serves its own on /metrics.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    # OpenTelemetry traces, one per turn across API and workers: exported over OTLP/HTTP to this
    # collector (e.g. http://otel-collector:4318) when set; off otherwise. TRACE_FILE also writes
    # each span to that file as a JSON line (tests, debugging).
    otel_exporter_otlp_endpoint: str | None = None
    trace_file: Path | None = None

    # Soul Machines orchestration socket.
    reply_deadline_seconds: float = Field(default=4.0, gt=0)
    fallback_text: str = ""
    ws_max_frame_bytes: int = Field(default=64 * 1024, ge=1024)  # above: logged and ignored, socket kept
    ws_outbound_queue_size: int = Field(default=64, ge=1)
    ws_frames_per_second: float = Field(default=20.0, gt=0)  # sustained; a burst of twice this is allowed
    # Every door, per client address (an IPv4 address or IPv6 /64; X-Forwarded-For only from
    # FORWARDED_ALLOW_IPS): sockets open at once per API process, and turns per minute.
    connections_per_ip: int = Field(default=20, ge=1)
    turns_per_ip_per_minute: int = Field(default=120, ge=1)
    sm_shared_secret: SecretStr | None = None
    sm_cookie_name: str = "sm_orchestration"
    sm_allowed_cidrs: Annotated[list[str], NoDecode] = []
    # Web pages (Origin) other than this server's own that may open a socket door in a browser.
    ws_allowed_origins: Annotated[list[str], NoDecode] = []
    # Web pages on another origin (a Synthetic Soul web UI) that may call /v1 with credentials.
    cors_allowed_origins: Annotated[list[str], NoDecode] = []

    # Other doors' shared keys (Authorization: Bearer <key>). Unset: anyone may call (logged).
    skills_api_key: SecretStr | None = None
    # Doors (sm, skills, clm) production may run without a credential, deliberately (logged at start).
    open_doors: Annotated[list[Literal["sm", "skills", "clm"]], NoDecode] = []
    clm_api_key: SecretStr | None = None  # Hume EVI custom language model (/llm, /chat/completions)

    # Persona.
    persona_id: str = "default"
    personas_file: Path = Path(__file__).resolve().parent.parent / "config" / "personas.toml"
    persona_mode: Literal["lite", "rich"] = "lite"
    persona_brain: Literal["rules", "demo", "llm"] = "rules"
    session_memory_turns: int = Field(default=6, ge=1, le=100)
    user_memory_facts: int = Field(default=50, ge=1, le=1000)
    # Said with every answer to crisis language (self-harm, suicide): where to find help.
    crisis_resource_line: str = Field(default=DEFAULT_RESOURCE_LINE, min_length=1, max_length=500)

    # Retention: MongoDB's TTL indexes delete these (docs/operations.md); what is written next follows
    # a change. An anonymous user's (one per session, e.g. `sm-session:<id>`) session, its memory and
    # what the persona keeps about the user, after their last write; an unclaimed guest account, after
    # its sign-in (REFRESH_TOKEN_TTL_SECONDS) expired; a persona's thoughts. Sign-ins go at their TTL.
    anonymous_retention_seconds: int = Field(default=ANONYMOUS_RETENTION_SECONDS, ge=3600)
    guest_retention_seconds: int = Field(default=GUEST_RETENTION_SECONDS, ge=0)
    thought_retention_seconds: int = Field(default=THOUGHT_RETENTION_SECONDS, ge=3600)

    # Thinking loop: each persona reflects every THOUGHT_INTERVAL_SECONDS (python -m worker.scheduler).
    thoughts_queue_name: str = "thoughts"
    thought_interval_seconds: int = Field(default=60, ge=1)
    idle_speak_after_seconds: float = Field(default=60.0, gt=0)  # a live session this quiet may be spoken to
    spontaneous_min_gap_seconds: int = Field(default=300, ge=1)  # at most one unprompted line per session per gap

    # LLM brain (PERSONA_BRAIN=llm): any OpenAI-compatible chat-completions server.
    llm_base_url: str = "http://127.0.0.1:11434/v1"
    llm_api_key: SecretStr | None = None
    llm_model: str = "llama3.1"
    # Counted from when a turn reaches its door, and never past its reply deadline: no word from
    # the model by the first and the rules brain answers; the second cuts a long answer short.
    llm_first_word_seconds: float = Field(default=2.0, gt=0)
    llm_turn_seconds: float = Field(default=3.5, gt=0)
    llm_temperature: float = Field(default=0.7, ge=0, le=2)

    @field_validator("sm_allowed_cidrs", mode="before")
    @classmethod
    def _split_cidrs(cls, value: object) -> object:
        parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else value
        if isinstance(parts, list):
            for cidr in parts:
                ipaddress.ip_network(cidr, strict=False)  # a typo fails at start-up, not per socket
            return [cidr for cidr in parts if cidr]
        return parts

    @field_validator("open_doors", mode="before")
    @classmethod
    def _split_doors(cls, value: object) -> object:
        return [door.strip() for door in value.split(",") if door.strip()] if isinstance(value, str) else value

    @field_validator("ws_allowed_origins", "cors_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/").lower() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _deadlines_agree(self) -> "Settings":
        if self.llm_first_word_seconds > self.llm_turn_seconds:
            raise ValueError(
                f"LLM_FIRST_WORD_SECONDS ({self.llm_first_word_seconds}) is past LLM_TURN_SECONDS "
                f"({self.llm_turn_seconds}): the first word cannot come after the turn's end"
            )
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.app_env == "production"

    @property
    def retention(self) -> Retention:
        return Retention(self.anonymous_retention_seconds, self.guest_retention_seconds, self.thought_retention_seconds)

    @property
    def run_embedded_worker(self) -> bool:
        return self.embedded_worker if self.embedded_worker is not None else self.redis_url is None


@lru_cache
def get_settings() -> Settings:
    return Settings()
