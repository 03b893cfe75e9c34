#!/usr/bin/env bash
# Smoke test of rackpipe's OCI image, from the archive itself (not from the build directory):
# checks every blob's digest, unpacks the layers into a fresh directory, and, as the image's
# configured user with its configured environment, in new mount, PID and network namespaces
# (no network: nothing can be contacted), runs `TOOL --version` and
# `TOOL validate examples/rachuna-net/site.yaml` (copied in) for each binary, plus the
# run-time dependencies of the jobs (sh, etcd, etcdctl, the CA bundle). Fails when the user is
# root or any file is setuid/setgid. Prints the image's sizes.
#
#   bash ci/image-smoke.sh [IMAGE.tar] [SITE]    # defaults: target/image/rackpipe-oci.tar,
#                                                #           examples/rachuna-net/site.yaml
# Needs root (chroot, unshare from util-linux) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=(ros-render pve-sync nfs-export vault-bootstrap haproxy-gen kubeadm-join etcd-backup)
image=${1:-target/image/rackpipe-oci.tar}
site=${2:-examples/rachuna-net/site.yaml}
fail() { echo "image-smoke: FAIL: $*" >&2; exit 1; }

mkdir -p target/image
work=$(mktemp -d target/image/smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root

python3 ci/oci.py unpack "$image" "$root" > "$work/config.json"
read -r user workdir env_lines < <(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c.get("User", ""), c.get("WorkingDir", "/"), "\x1f".join(c.get("Env", [])))
' "$work/config.json")
IFS=$'\x1f' read -r -a env <<<"$env_lines"

# The configured user: numeric uid:gid (a name would need the image's /etc/passwd).
[[ $user =~ ^([0-9]+):([0-9]+)$ ]] || fail "image User is '$user', expected a numeric uid:gid"
uid=${BASH_REMATCH[1]} gid=${BASH_REMATCH[2]}
((uid != 0)) || fail "image runs as root"
grep -q "^[^:]*:x:$uid:$gid:" "$root/etc/passwd" || fail "uid $uid is not in the image's /etc/passwd"

setuid=$(find "$root" -xdev -type f -perm /6000 -printf '%P\n')
[[ -z $setuid ]] || fail "setuid/setgid files in the image: $setuid"
[[ -s $root/etc/ssl/certs/ca-certificates.crt ]] || fail "no CA bundle (ca-certificates)"

home=$(awk -F: -v u="$uid" '$3 == u {print $6}' "$root/etc/passwd")
install -m 0644 "$site" "$root$home/site.yaml"

# Runs a command inside the image as its user, with only the image's environment.
in_image() {
  unshare --mount --pid --net --fork --mount-proc="$root/proc" \
    chroot --userspec="$uid:$gid" "$root" \
    /usr/bin/env -i "${env[@]}" sh -c 'cd "$1" && shift && exec "$@"' sh "$workdir" "$@"
}

[[ $(in_image id -u) == "$uid" ]] || fail "commands do not run as uid $uid"
in_image sh -c 'test -w "$HOME"' || fail "the user cannot write its home"
for tool in "${TOOLS[@]}"; do
  got=$(in_image "$tool" --version) || fail "$tool --version exited $?"
  [[ $got == "$tool "* ]] || fail "$tool --version printed '$got'"
  if ! report=$(in_image "$tool" validate "$home/site.yaml" 2>"$work/stderr"); then
    cat "$work/stderr" >&2
    fail "$tool validate exited non-zero"
  fi
  grep -q '"valid": true' <<<"$report" || fail "$tool validate: $report"
  echo "image-smoke: ok: $got; validate $(basename "$site")" >&2
done
in_image etcd --version >/dev/null || fail "etcd --version"
in_image etcdctl version >/dev/null || fail "etcdctl version"
echo "image-smoke: ok: user $uid:$gid, no setuid files, sh, etcd, etcdctl, CA bundle" >&2

if command -v skopeo >/dev/null; then
  skopeo inspect --raw "oci-archive:$image" >/dev/null || fail "skopeo cannot read $image"
  skopeo inspect --config "oci-archive:$image" >/dev/null || fail "skopeo cannot read the config"
  echo "image-smoke: ok: skopeo reads oci-archive:$image" >&2
fi
python3 ci/oci.py sizes "$image" | sed 's/^/image-smoke: size: /' >&2
echo "image-smoke: unpacked root file system: $(du -sb "$root" | cut -f1) bytes" >&2
