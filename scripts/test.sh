#!/usr/bin/env bash
# Install everything the tests need (Python packages, Debian's Chromium and Fashion-MNIST)
# and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: Chromium for the browser tests, Fashion-MNIST for the training tests.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m pip install -q -r requirements-dev.txt
exec python3 -m pytest "$@"
