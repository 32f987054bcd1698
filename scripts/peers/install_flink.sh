#!/usr/bin/env bash
# Installs Apache Flink (PyFlink, which bundles the Flink runtime jars) into a
# virtual environment under ${RILL_PEERS_DIR:-$HOME/.cache/rill-peers}/flink-venv.
# Idempotent: an existing venv with the pinned version is left alone.
# Prints the installed Flink version on its last line.
set -euo pipefail

FLINK_VERSION="${FLINK_VERSION:-2.3.0}"
PEERS_DIR="${RILL_PEERS_DIR:-$HOME/.cache/rill-peers}"
VENV="$PEERS_DIR/flink-venv"
PYTHON="${PYTHON:-python3}"

if ! command -v java >/dev/null 2>&1; then
    echo "install_flink: java not found on PATH (Flink needs Java 11+; Java 17 expected)" >&2
    exit 1
fi

installed_version() {
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as m
print(m.version("apache-flink"))
PY
}

if [[ -x "$VENV/bin/python" ]] && [[ "$(installed_version || true)" == "$FLINK_VERSION" ]]; then
    echo "install_flink: apache-flink $FLINK_VERSION already installed in $VENV" >&2
else
    mkdir -p "$PEERS_DIR"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "apache-flink==$FLINK_VERSION"
fi

# Check that the bundled runtime actually starts a JVM, then report the version.
"$VENV/bin/python" - <<'PY'
import importlib.metadata as m
import os
import pyflink
lib = os.path.join(os.path.dirname(pyflink.__file__), "lib")
jars = sorted(f for f in os.listdir(lib) if f.startswith("flink-dist"))
if not jars:
    raise SystemExit("install_flink: no flink-dist jar in " + lib)
print("flink", m.version("apache-flink"), "(" + jars[0] + ")")
PY
