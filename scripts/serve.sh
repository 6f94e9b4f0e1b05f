#!/usr/bin/env bash
# README command 1: install, then run the API (embedded in-process Redis, MongoDB and worker when
# REDIS_URL / MONGO_URL are unset). HOST and PORT (and every other setting) come from the
# environment or .env; see .env.example.
source "$(dirname "$0")/_venv.sh"
install_requirements requirements.lock
exec .venv/bin/python -m app
