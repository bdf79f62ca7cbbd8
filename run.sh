#!/usr/bin/env bash
# One entry point for newcomers and CI:
#   ./run.sh demo   set up .venv, then Grad-CAM on the embedded EfficientNet-Lite0 -> results/
#   ./run.sh test   set up .venv, then the linters and the test suite (all but the slow tests)
#   ./run.sh slow   set up .venv, then the slow tests (.ci/run runs both)
set -euo pipefail
cd "$(dirname "$0")"
PY=.venv/bin/python

setup() {  # quiet, and skipped when requirements did not change since the last install
  [ -x "$PY" ] || python3 -m venv .venv
  stamp=$(cat requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -c1-16)
  [ "$(cat .venv/.installed 2>/dev/null)" = "$stamp" ] && return
  echo "run.sh: installing requirements into .venv (a few minutes the first time; log: .venv/setup.log)"
  if ! { "$PY" -m pip install --upgrade pip && "$PY" -m pip install -r requirements.txt &&
         "$PY" -m pip install --no-deps -r requirements-nodeps.txt &&
         "$PY" -m pip install --no-deps -e .; } > .venv/setup.log 2>&1; then
    tail -n 30 .venv/setup.log >&2
    echo "run.sh: installation failed (full log: .venv/setup.log)" >&2
    exit 1
  fi
  echo "$stamp" > .venv/.installed
}

browser() {  # Debian's chromium for the end-to-end web test (never a downloaded browser)
  command -v chromium >/dev/null && return
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "run.sh: chromium is missing; install Debian's 'chromium' package for the browser test" >&2
  fi
}

case "${1:-}" in
  demo)
    setup
    "$PY" scripts/sample_images.py samples
    mkdir -p results
    .venv/bin/gradcam explain samples/coffee.png --top-k 5 --class espresso --class cup \
      --output results/coffee_grad_cam.png --save-npz
    .venv/bin/gradcam explain samples/chelsea.png --top-k 5 --output results/chelsea_grad_cam.png
    ;;
  test)
    setup
    browser
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    "$PY" -m pytest -q -m "not slow"
    ;;
  slow)
    setup
    browser
    "$PY" -m pytest -q -m slow
    ;;
  *)
    echo "usage: ./run.sh demo|test|slow" >&2
    exit 2
    ;;
esac
