#!/usr/bin/env bash
# Build the scratch environments of the peer-server tests: real MLServer and KServe servers.
#
#   bash tests/peers/setup.sh DIR
#
# makes DIR/mlserver (MLServer with its scikit-learn runtime) and DIR/kserve (the KServe Python
# model server), each a virtual environment of its own: these servers pin versions that clash with
# TensorFlow and Beam, so they never go into the project's environment. Then run the tests with
# INFERGRAPH_PEERS=DIR (`make peers` does both; docs/handlers/remote.md, "Tested against").
set -euo pipefail

DIR=${1:?usage: setup.sh DIR}
PYTHON=${PYTHON:-python3}
MLSERVER_VERSION=${MLSERVER_VERSION:-1.7.1}
KSERVE_VERSION=${KSERVE_VERSION:-0.21.0}

mkdir -p "$DIR"
build() {  # build NAME PACKAGE...: DIR/NAME, a venv with PACKAGEs, unless it is already built
    local name=$1
    shift
    local stamp="$DIR/$name/.installed"
    if [[ -f $stamp && $(cat "$stamp") == "$*" ]]; then
        echo "$DIR/$name: up to date ($*)"
        return
    fi
    local started=$SECONDS
    rm -rf "${DIR:?}/$name"
    "$PYTHON" -m venv "$DIR/$name"
    "$DIR/$name/bin/python" -m pip install --quiet --upgrade pip
    "$DIR/$name/bin/python" -m pip install --quiet "$@"
    echo "$*" >"$stamp"
    echo "$DIR/$name: $* ($((SECONDS - started)) s)"
}

build mlserver "mlserver==$MLSERVER_VERSION" "mlserver-sklearn==$MLSERVER_VERSION" scikit-learn joblib
build kserve "kserve==$KSERVE_VERSION" onnxruntime  # onnxruntime: benchmarks/serve.py's KServe model
