"""The lock files agree with the requirements people edit, and pin everything with hashes.

`bash scripts/lock.sh` regenerates them; the image and scripts/serve.sh install requirements.lock,
scripts/test.sh (CI) requirements-dev.lock, both with `pip install --require-hashes`.
"""

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    """name -> version of each `name==version` line of a requirements file (not its -r includes)."""
    found: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier  # a human-edited requirement is pinned: exactly one ==
        assert specifier.operator == "==", f"{path.name}: {line} is not pinned with =="
        found[canonicalize_name(requirement.name)] = specifier.version
    return found


def locked(path: Path) -> dict[str, str]:
    """name -> version of every package in a lock, each checked to carry at least one hash."""
    entries = re.split(r"\n(?=[A-Za-z0-9])", path.read_text())
    found: dict[str, str] = {}
    for entry in entries:
        head = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", entry)
        if head is None:
            continue
        assert "--hash=sha256:" in entry, f"{path.name}: {head.group(1)} has no hash"
        found[canonicalize_name(head.group(1))] = head.group(2)
    return found


RUNTIME = pins(ROOT / "requirements.txt")
DEV = pins(ROOT / "requirements-dev.txt")
RUNTIME_LOCK = locked(ROOT / "requirements.lock")
DEV_LOCK = locked(ROOT / "requirements-dev.lock")


@pytest.mark.parametrize(
    ("wanted", "lock", "lock_name"),
    [(RUNTIME, RUNTIME_LOCK, "requirements.lock"), ({**RUNTIME, **DEV}, DEV_LOCK, "requirements-dev.lock")],
)
def test_every_pin_is_in_its_lock_at_the_same_version(
    wanted: dict[str, str], lock: dict[str, str], lock_name: str
) -> None:
    differing = {name: (version, lock.get(name)) for name, version in wanted.items() if lock.get(name) != version}
    assert differing == {}, f"{lock_name} is out of date (pinned, locked): run bash scripts/lock.sh"


def test_the_locks_pin_the_transitive_packages_too() -> None:
    assert len(RUNTIME_LOCK) > len(RUNTIME) + 20  # what the pins pull in: starlette, anyio, h11, ...
    assert {"starlette", "anyio", "h11", "click", "sniffio"} <= set(RUNTIME_LOCK)


def test_the_dev_lock_runs_the_tests_on_the_images_versions() -> None:
    differing = {name: (v, DEV_LOCK.get(name)) for name, v in RUNTIME_LOCK.items() if DEV_LOCK.get(name) != v}
    assert differing == {}


def test_the_lock_parser_reads_pins_and_refuses_unpinned(tmp_path: Path) -> None:
    source = tmp_path / "requirements.txt"
    source.write_text("-r other.txt\nuvicorn[standard]==0.54.0  # note\nPyYAML==6.0.4\n")
    assert pins(source) == {"uvicorn": "0.54.0", "pyyaml": "6.0.4"}
    source.write_text("httpx>=0.28\n")
    with pytest.raises(AssertionError, match="not pinned"):
        pins(source)
    lock = tmp_path / "requirements.lock"
    lock.write_text("h11==0.16.0 \\\n    # via uvicorn\n")
    with pytest.raises(AssertionError, match="no hash"):
        locked(lock)
