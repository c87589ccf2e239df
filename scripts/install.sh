#!/usr/bin/env bash
# Install what the book and its tests need (idempotent; a few seconds when all is installed).
#   - the package with its extras:  python -m pip install -e ".[book,test]"  (pins torch==2.13.0)
#   - Chromium (headless, for the book-render test) from Debian if /usr/bin/chromium is missing
# Used by scripts/build_book.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-$(command -v python || command -v python3)}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_BREAK_SYSTEM_PACKAGES=1   # Debian's system Python is "externally managed"

if ! "$PY" -m pip --version >/dev/null 2>&1; then
    echo "[install] pip missing: installing it"
    "$PY" -m ensurepip --upgrade >/dev/null 2>&1 || {
        apt-get update -qq && apt-get install -y -qq python3-pip python3-venv >/dev/null
    }
fi

# Skip pip when every requirement of pyproject.toml (+ extras book, test) is already satisfied
# and `twolayer` is this checkout, installed editable.
if "$PY" - <<'PYEOF' 2>/dev/null
import sys, tomllib
from importlib import metadata
from pathlib import Path
from packaging.requirements import Requirement

proj = tomllib.loads(Path("pyproject.toml").read_text())["project"]
reqs = list(proj["dependencies"])
for extra in ("book", "test"):
    reqs += proj["optional-dependencies"][extra]
for r in map(Requirement, reqs):
    v = metadata.version(r.name)
    if not r.specifier.contains(v, prereleases=True):
        sys.exit(1)
import twolayer
if Path(twolayer.__file__).resolve().parents[2] != Path.cwd().resolve():
    sys.exit(1)
PYEOF
then
    echo "[install] python packages: already installed"
else
    echo "[install] python -m pip install -e \".[book,test]\" (torch==2.13.0) ..."
    "$PY" -m pip install --quiet -e ".[book,test]"
fi

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
    echo "[install] apt-get install chromium ..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "[install] done"
