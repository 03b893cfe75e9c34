#!/usr/bin/env bash
# Installs gitlab-ci-local, which tests/ci_template.rs uses to run the shared CI template
# (templates/rackpipe.yml) as a real pipeline. Idempotent: a second run changes nothing.
#
# - rsync: gitlab-ci-local copies the work tree with it (every run exits 1 without it).
# - gitlab-ci-local 4.73.0: the newest release that runs on Node 20 (4.74.0+ call
#   Set.prototype.union, which Node 20 lacks); see ../shared/reference/gitlab-ci.md.
#   It comes from the npm registry only, into /opt/gitlab-ci-local, linked onto PATH.
#
# Usage: bash .ci/install-gitlab-ci-local.sh   (as root)
set -euo pipefail

version=4.73.0
prefix=/opt/gitlab-ci-local
link=/usr/local/bin/gitlab-ci-local

if ! command -v rsync >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync
fi

installed=$(node -p "require('$prefix/node_modules/gitlab-ci-local/package.json').version" 2>/dev/null || true)
if [[ $installed != "$version" ]]; then
    mkdir -p "$prefix"
    [[ -f $prefix/package.json ]] || printf '{"name":"gitlab-ci-local-install","private":true}\n' >"$prefix/package.json"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "gitlab-ci-local@$version"
fi

ln -sfn "$prefix/node_modules/.bin/gitlab-ci-local" "$link"
echo "gitlab-ci-local $("$link" --version) at $link"
