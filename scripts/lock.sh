#!/usr/bin/env bash
# After editing requirements.txt or requirements-dev.txt (the files people edit): pin every
# package they pull in, with its hashes, in requirements.lock (the image, scripts/serve.sh) and
# requirements-dev.lock (scripts/test.sh, CI). Pins already in a lock stay unless a requirement
# moves them; `bash scripts/lock.sh --upgrade` moves everything to the newest allowed.
# The runtime lock constrains the dev lock, so both agree on every package they share.
set -euo pipefail
cd "$(dirname "$0")/.."
compile=(.venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links)
"${compile[@]}" "$@" -o requirements.lock requirements.txt
"${compile[@]}" "$@" -c requirements.lock -o requirements-dev.lock requirements-dev.txt
