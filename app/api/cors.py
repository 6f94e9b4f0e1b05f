"""CORS for web pages served from another origin (a Synthetic Soul web UI calls /v1 with
`credentials: "include"`). Only the listed origins, never a wildcard: credentials ride along."""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

# What such a page sends (Bearer token, JSON, the refresh's CSRF echo) and what it reads back.
ALLOW_HEADERS = ["Authorization", "Content-Type", "Accept", "X-CSRF-Token", "X-Request-ID"]
EXPOSE_HEADERS = ["Location", "Retry-After", "X-API-Version", "X-Request-ID"]


def install(app: FastAPI, origins: list[str]) -> None:
    """Outermost, so refusals from the inner layers (413, 429) reach the page readable too."""
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=ALLOW_HEADERS,
            expose_headers=EXPOSE_HEADERS,
        )
