#!/usr/bin/env bash
# README command 2 (and CI's): install, lint, then run the whole test suite.
# The integration tests start their own redis-server; install it from Debian if it is missing.
source "$(dirname "$0")/_venv.sh"
install_requirements requirements-dev.txt
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-server not found: installing Debian's redis-server package" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
  else
    echo "redis-server not found and cannot be installed here: integration tests will skip" >&2
  fi
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
