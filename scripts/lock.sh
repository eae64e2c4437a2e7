#!/usr/bin/env bash
# Regenerate constraints.txt (the pinned, reproducible install) from the current .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Pinned versions for reproducible installs: pip install -c constraints.txt -e '.[dev]'"
  echo "# Regenerate with scripts/lock.sh after changing dependencies. torch is installed first (CPU build)."
  .venv/bin/pip freeze --exclude-editable | grep -v '^kbqa' | sed -E 's/^torch==([0-9.]+)\+cpu$/torch==\1/'
} > constraints.txt
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) pins)"
