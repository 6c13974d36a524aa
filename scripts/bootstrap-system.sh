#!/usr/bin/env bash
# Installs the system packages nbjudge needs, when they are missing.
# Needs root (or sudo) only if something is missing; prints what it does.
# Usage: scripts/bootstrap-system.sh [env]
#   env   only what the Python environment needs (`make env`, `make test-fast`)
set -euo pipefail

missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v make >/dev/null 2>&1 || missing+=(make)
if [ "${1:-}" != env ]; then
  command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)          # sandboxes executed notebooks
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)            # prints report.pdf
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)  # the grading UI's browser test
  command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)       # the report's page checks
  command -v npm >/dev/null 2>&1 || missing+=(npm)                      # plots/offline.py: vega
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)  # report text
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "nbjudge: installing system packages: ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing ${missing[*]} and no apt-get to install them; install them and rerun" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "error: missing ${missing[*]}; rerun as root or install them yourself" >&2
    exit 1
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
