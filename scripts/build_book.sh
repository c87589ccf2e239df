#!/usr/bin/env bash
# Install everything, then build the HTML book executing every chapter (a failing cell or any
# Sphinx warning fails the build).  Output: _build/html/index.html
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh
PY="${PYTHON:-$(command -v python || command -v python3)}"

# jupyter-book of this Python (the `jupyter-book` on PATH may belong to another environment)
start=$(date +%s)
"$PY" -c 'import sys; from jupyter_book.cli.main import main; sys.argv[0] = "jupyter-book"; main()' \
    build . --all -W -n --keep-going
end=$(date +%s)

echo
echo "book built in $((end - start)) s"
echo "HTML: $(pwd)/_build/html/index.html"
