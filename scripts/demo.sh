#!/usr/bin/env bash
# Sets up, builds, and runs the demo (three deaths of a Java program under deathwatch).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
DEATHWATCH="$PWD/build/deathwatch" bash demo/run-demo.sh
