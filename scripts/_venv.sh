# Sourced by the other scripts: create .venv with Python 3.11+ and install a lock file (every
# package pinned with its hashes, scripts/lock.sh makes them) when it changed since the last
# install (a stamp file keeps re-runs fast).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
install_requirements() {
  local file="$1" stamp=".venv/.installed-$(basename "$1")"
  if [ ! -f "$stamp" ] || ! cmp -s "$file" "$stamp"; then
    .venv/bin/python -m pip install --disable-pip-version-check -q --require-hashes -r "$file"
    cp "$file" "$stamp"
  fi
}
