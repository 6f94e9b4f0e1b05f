#!/usr/bin/env bash
# README command 1: install, then run the API (embedded in-process Redis, MongoDB and worker when
# REDIS_URL / MONGO_URL are unset). Extra arguments go to uvicorn, e.g. --port 9000.
source "$(dirname "$0")/_venv.sh"
install_requirements requirements.txt
exec .venv/bin/python -m uvicorn app.main:app --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" \
  --ws-max-size 1048576 --proxy-headers "$@"
