#!/usr/bin/env bash
# README command 2 (and CI's): install, lint, type-check, then run the whole test suite.
# The integration tests start their own redis-server, validate the deploy files with the real
# caddy and docker-compose, and drive the console in Debian's chromium; each missing tool is
# installed from Debian's packages (as root).
source "$(dirname "$0")/_venv.sh"
install_requirements requirements-dev.lock
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${missing[*]}" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >&2
  else
    echo "missing ${missing[*]} and cannot install here: the tests that need them will skip" >&2
  fi
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # app, worker, bench and tests, as [tool.mypy] in pyproject.toml says
exec .venv/bin/python -m pytest "$@"
