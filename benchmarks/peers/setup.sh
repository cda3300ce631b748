#!/usr/bin/env bash
# Create the peer-method venvs for bench_peers.py, idempotently:
#   benchmarks/.peers-venv/peers    SpaGCN, GraphST, STAGATE, BANKSY, scanpy baselines
#   benchmarks/.peers-venv/stlearn  stLearn (numpy<2, TensorFlow)
# plus R with mclust (GraphST's and STAGATE's default clustering), from Debian.
# A venv is rebuilt only when its requirements or constraints file changed (stamp = their hash).
# Usage: bash benchmarks/peers/setup.sh [peers|stlearn|r ...]   (default: all)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$HERE/../.peers-venv"
PYTHON="${PYTHON:-python3}"
CONSTRAINTS="$HERE/constraints.txt"

setup_r() {
    if Rscript -e 'library(mclust)' >/dev/null 2>&1; then return; fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends r-base-core r-cran-mclust
}

setup_venv() {  # name, torch first (yes/no)
    local name="$1" torch="$2"
    local venv="$ROOT/$name" req="$HERE/requirements-$name.txt"
    local stamp="$venv/.installed"
    local want
    want="$(cat "$req" "$CONSTRAINTS" | sha256sum | cut -c1-16)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "$venv up to date"
        return
    fi
    test -x "$venv/bin/python" || "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip "setuptools<81" wheel
    if [ "$torch" = yes ]; then
        "$venv/bin/python" -m pip install --quiet -c "$CONSTRAINTS" torch
    fi
    "$venv/bin/python" -m pip install --quiet -c "$CONSTRAINTS" -r "$req"
    echo "$want" >"$stamp"
    echo "$venv installed"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(r peers stlearn)
for target in "${targets[@]}"; do
    case "$target" in
        r) setup_r ;;
        peers) setup_venv peers yes ;;
        stlearn) setup_venv stlearn no ;;
        *) echo "unknown target $target (expected r, peers or stlearn)" >&2; exit 2 ;;
    esac
done
