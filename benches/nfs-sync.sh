#!/usr/bin/env bash
# Benchmark: `nfs-export sync --push` (NFSv4 from user space, the `nfs` crate: FILE_SYNC writes
# into a temp file, rename, set mtime) to nfs-ganesha on 127.0.0.1 (a free port), against the
# bound no network copy can beat: `cp` + `sync` of the same files straight onto the export's
# backing directory. (libnfs's `nfs-cp`, the obvious user-space baseline, cannot be used:
# libnfs 4.0's NFSv4 writes to nfs-ganesha 4.3 fail here with "Failed to write to dest file",
# leaving 0-byte files, while it still exits 0.) A backup directory holds one incompressible
# SIZE_MB file plus a small manifest; each run starts from an empty destination and a fresh
# ganesha. RUNS runs each, alternating which goes first; prints per-run wall times, the
# medians, the ratio (ours / bound) and peak RSS (GNU time). Then one no-op sync (nothing to
# copy): the cost of connecting and listing.
#
#   sudo bash benches/nfs-sync.sh                  # SIZE_MB=256 RUNS=3
#   SIZE_MB=1024 RUNS=5 WORK=/var/tmp sudo bash benches/nfs-sync.sh
#
# Needs root (ganesha), ganesha.nfsd + FSAL VFS (Debian nfs-ganesha, nfs-ganesha-vfs), GNU
# time, python3. Builds nfs-export with `cargo build --release`. The site is
# examples/rachuna-net/site.yaml (backups.etcd → export `backups`, /srv/nfs/backups), reached
# with --target 127.0.0.1 --port PORT: nothing but loopback is contacted.
set -euo pipefail

SIZE_MB=${SIZE_MB:-256}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-${TMPDIR:-/tmp}}
for tool in ganesha.nfsd python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "nfs-sync bench: missing $tool" >&2; exit 69; }
done

echo "== build (cargo build --release --bin nfs-export)" >&2
(cd "$ROOT" && cargo build --release -q --bin nfs-export)
BIN=$ROOT/target/release/nfs-export
SITE=$ROOT/examples/rachuna-net/site.yaml
PSEUDO=/srv/nfs/backups
SUBDIR=etcd/rachuna-net

dir=$(mktemp -d "$WORK/rackpipe-nfs-bench.XXXXXX")
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The destination directory exists before ganesha starts; runs only remove files (removing
# directories behind ganesha's back leaves it stale file handles).
mkdir -p "$dir/export/$SUBDIR" "$dir/recovery" "$dir/local"
cat > "$dir/ganesha.conf" <<EOF
NFS_CORE_PARAM { Bind_addr = 127.0.0.1; NFS_Port = $port; Protocols = 4; Enable_NLM = false; Enable_RQUOTA = false; }
NFSv4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = "$dir/recovery"; }
NFS_KRB5 { Active_krb5 = false; }
EXPORT { Export_Id = 1; Path = "$dir/export"; Pseudo = "$PSEUDO"; Access_Type = RW;
         Squash = No_Root_Squash; SecType = sys; Protocols = 4; Transports = TCP;
         CLIENT { Clients = 127.0.0.1; Access_Type = RW; } FSAL { Name = VFS; } }
EOF
# Each run gets a fresh ganesha over an emptied directory (files removed behind a running
# ganesha leave it stale handles).
start_ganesha() {
  ganesha.nfsd -F -f "$dir/ganesha.conf" -L "$dir/ganesha.log" -p "$dir/ganesha.pid" &
  pid=$!
  for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && return
    sleep 0.1
  done
  echo "nfs-sync bench: ganesha did not start (see $dir/ganesha.log)" >&2; exit 1
}
stop_ganesha() { kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; pid=; }

echo "== data: ${SIZE_MB} MB snapshot + manifest" >&2
head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom > "$dir/local/etcd-bench.db"
echo '{"bench": true}' > "$dir/local/etcd-bench.json"

fresh() { stop_ganesha; rm -f "${dir:?}/export/$SUBDIR/"*; start_ganesha; }
# run NAME CMD...: wall seconds and peak RSS (KiB) of CMD, appended to $dir/NAME.
run() {
  local name=$1; shift
  fresh
  /usr/bin/time -f '%e %M' -o "$dir/time" "$@" > /dev/null
  cat "$dir/time" >> "$dir/$name"
  read -r s kb < "$dir/time"
  printf '%-10s %8.2f s %8d KiB RSS\n' "$name" "$s" "$kb" >&2
}
ours=("$BIN" sync "$SITE" --backup etcd --dir "$dir/local" --target 127.0.0.1 --port "$port" -q)
baseline() {
  # The bound: the same files onto the NAS's own disk, no network.
  cp "$dir/local/etcd-bench.db" "$dir/local/etcd-bench.json" "$dir/export/$SUBDIR/"
  sync "$dir/export/$SUBDIR/etcd-bench.db"
}
export -f baseline
export dir port PSEUDO SUBDIR
for i in $(seq "$RUNS"); do
  if (( i % 2 )); then run ours "${ours[@]}"; run baseline bash -c baseline
  else run baseline bash -c baseline; run ours "${ours[@]}"; fi
done
cmp "$dir/local/etcd-bench.db" "$dir/export/$SUBDIR/etcd-bench.db"
fresh
"${ours[@]}" > /dev/null
/usr/bin/time -f '%e %M' -o "$dir/time" "${ours[@]}" > /dev/null
read -r noop _ < "$dir/time"

python3 - "$dir" "$SIZE_MB" "$noop" <<'PY'
import statistics, sys
d, size, noop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def load(name):
    rows = [l.split() for l in open(f"{d}/{name}")]
    return [float(r[0]) for r in rows], max(int(r[1]) for r in rows)
(o, o_rss), (b, b_rss) = load("ours"), load("baseline")
mo, mb = statistics.median(o), statistics.median(b)
print(f"nfs-export sync --push : median {mo:.2f} s ({size / mo:.0f} MB/s), peak RSS {o_rss / 1024:.1f} MiB")
print(f"cp + sync, local disk  : median {mb:.2f} s ({size / mb:.0f} MB/s), peak RSS {b_rss / 1024:.1f} MiB")
print(f"ratio ours/bound       : {mo / mb:.2f}")
print(f"no-op sync (listing)   : {noop:.2f} s")
PY
