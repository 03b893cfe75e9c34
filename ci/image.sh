#!/usr/bin/env bash
# Builds rackpipe's OCI image without a container daemon and without pulling from a registry:
# mmdebstrap makes a minimal Debian bookworm root file system from Debian packages (the
# essential set, ca-certificates for TLS to Vault/Proxmox/RouterOS, etcd-server and
# etcd-client for etcd-backup's restore drill; no SSH client: the tools speak SSH themselves),
# then ci/oci.py adds the seven binaries under /usr/local/bin and a non-root user (uid 10001,
# the image's USER) and writes an OCI image layout archive, reproducibly.
#
#   bash ci/image.sh [--bin-dir DIR] [--out FILE] [--tag TAG] [--smoke] [--fresh-base] [--gzip-level N]
#
#   --bin-dir DIR  where the binaries are (default target/release)
#   --out FILE     the OCI archive to write (default target/image/rackpipe-oci.tar)
#   --tag TAG      the image's ref name in the archive (default VERSION from Cargo.toml, e.g. 0.1.0)
#   --smoke        then run ci/image-smoke.sh on the archive
#   --gzip-level N the layer's gzip level, 1-9 (default 6; the image test uses 1: the same
#                  format for a quarter of the CPU time)
#   --fresh-base   rebuild the Debian root file system even if target/image holds one for
#                  the same package list
#
# Push with skopeo (what the project's GitLab CI does on a tag):
#   skopeo copy oci-archive:target/image/rackpipe-oci.tar docker://$CI_REGISTRY_IMAGE:$TAG
# Needs root (mmdebstrap's root mode; in an unprivileged container it skips the /proc and
# /sys mounts, which these packages do not need) and Debian packages mmdebstrap and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=(ros-render pve-sync nfs-export vault-bootstrap haproxy-gen kubeadm-join etcd-backup)
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
bin_dir=target/release
out=target/image/rackpipe-oci.tar
tag=$version
smoke=false
fresh_base=false
gzip_level=6
while (($#)); do
  case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --smoke) smoke=true; shift ;;
    --fresh-base) fresh_base=true; shift ;;
    --gzip-level) gzip_level=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "image.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done
for tool in "${TOOLS[@]}"; do
  [[ -x $bin_dir/$tool ]] || { echo "image.sh: $bin_dir/$tool: no such binary (build first)" >&2; exit 1; }
done
command -v mmdebstrap >/dev/null || { echo "image.sh: mmdebstrap is not installed (bash .ci/setup.sh)" >&2; exit 1; }

# One timestamp for every file: the commit's, so the same commit gives the same bytes.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
repository=$(sed -n '/^\[workspace.package\]/,/^\[/s/^repository = "\(.*\)"/\1/p' Cargo.toml)

packages=ca-certificates,etcd-server,etcd-client
mirrors=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)
mmdebstrap_args=(
  --variant=essential --include="$packages"
  # merged /usr set up by mmdebstrap itself, so apt does not pull usrmerge (and perl)
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  # no /proc, /sys or device nodes needed: works in an unprivileged CI container too
  --skip=chroot/mount --skip=output/dev
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  bookworm
)

mkdir -p "$(dirname "$out")" target/image
key=$(printf '%s\n' "${mmdebstrap_args[@]}" "${mirrors[@]}" | sha256sum | cut -c1-16)
base=target/image/base-$key.tar
if $fresh_base || [[ ! -s $base ]]; then
  echo "image.sh: Debian root file system (mmdebstrap: $packages)" >&2
  rm -rf target/image/base-*.tar
  log=target/image/mmdebstrap.log
  if ! mmdebstrap --format=tar "${mmdebstrap_args[@]}" "${base%.tar}.part.tar" "${mirrors[@]}" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "image.sh: mmdebstrap failed (whole log: $log)" >&2
    exit 1
  fi
  mv "${base%.tar}.part.tar" "$base"
else
  echo "image.sh: reusing $base (--fresh-base rebuilds it)" >&2
fi

bins=()
for tool in "${TOOLS[@]}"; do bins+=(--bin "$tool"); done
python3 ci/oci.py pack --base "$base" --bin-dir "$bin_dir" "${bins[@]}" --out "$out" \
  --tag "$tag" --version "$version" --source "$repository" --gzip-level "$gzip_level"
python3 ci/oci.py sizes "$out" >&2

if $smoke; then
  bash ci/image-smoke.sh "$out"
fi
