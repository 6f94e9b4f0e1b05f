"""The secrets the REST API signs and hashes with, and the policy that guards them."""

import logging
import secrets
from dataclasses import dataclass

from pydantic import SecretStr

from app.settings import Settings

log = logging.getLogger(__name__)
MIN_SECRET_LENGTH = 32


class WeakSecretError(RuntimeError):
    """Production was asked to start with a missing or weak secret."""


@dataclass(frozen=True)
class AuthSecrets:
    jwt_secret: str
    password_pepper: str
    admin_api_key: str | None


def resolve(settings: Settings) -> AuthSecrets:
    def required(name: str, value: SecretStr | None) -> str:
        text = value.get_secret_value() if value else ""
        if len(text) >= MIN_SECRET_LENGTH:
            return text
        if settings.app_env == "production":
            raise WeakSecretError(
                f"{name.upper()} must be set to at least {MIN_SECRET_LENGTH} characters in production"
            )
        log.warning("%s is %s: using a random one for this process only", name.upper(), "weak" if text else "unset")
        return secrets.token_urlsafe(48)

    admin = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
    if admin is not None and len(admin) < MIN_SECRET_LENGTH and settings.app_env == "production":
        raise WeakSecretError(f"ADMIN_API_KEY must be at least {MIN_SECRET_LENGTH} characters in production")
    return AuthSecrets(
        jwt_secret=required("jwt_secret", settings.jwt_secret),
        password_pepper=required("password_pepper", settings.password_pepper),
        admin_api_key=admin,
    )
