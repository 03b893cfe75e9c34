#!/usr/bin/env bash
# Benchmark: `etcd-backup snapshot` (gRPC stream + SHA-256 + etcd trailer check + write + fsync,
# one pass) against the baseline most people run: `etcdctl snapshot save` then `sha256sum` then
# `cp` to the destination. One mTLS etcd member on loopback is filled with >= SIZE_MB of
# incompressible values; both paths then run RUNS times, alternating which goes first.
# Prints per-run wall times, the medians, the ratio (ours / baseline; goal <= 1.0) and peak RSS
# (GNU time's "Maximum resident set size"; for the baseline the largest of its processes).
#
#   benches/etcd-backup.sh                 # SIZE_MB=520 RUNS=3
#   SIZE_MB=1024 RUNS=5 WORK=/var/tmp benches/etcd-backup.sh
#   COMPRESS=1 benches/etcd-backup.sh      # ours also compresses (zstd; the baseline does not)
#   SSH=0 benches/etcd-backup.sh           # skip the --via-ssh runs
#
# With sshd and ssh-keygen present (SSH=1, the default), a throwaway sshd on loopback (as the
# current user) is started too and the `--via-ssh` path (`rackpipe_etcd_backup::snapshot_via_ssh`:
# `etcdctl snapshot save` into a temp dir "on the master", streamed back over SSH through the
# same writer) runs RUNS times; its RSS is ours only (sshd and the remote etcdctl not counted).
#
# "Ours" is the release `etcd-backup` binary a user runs (`etcd-backup snapshot SITE --dest DIR`,
# with `--via-ssh` for the SSH runs), given the example site with `backups.etcd.compress` set
# from COMPRESS and the loopback member as `--endpoint`. The `etcd-fill` example of
# rackpipe-etcd-backup only fills the database; it is not timed.
#
# Needs: etcd, etcdctl (Debian etcd-server/etcd-client), openssl, GNU time (/usr/bin/time),
# python3 (free ports); for the --via-ssh runs also sshd and ssh-keygen (Debian openssh-server).
# Builds what it runs with `cargo build --release`.
set -euo pipefail

SIZE_MB=${SIZE_MB:-520}
COMPRESS=${COMPRESS:-0}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-${TMPDIR:-/tmp}}

for tool in etcd etcdctl openssl python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "etcd-backup bench: missing $tool" >&2; exit 69; }
done

echo "== build (cargo build --release)" >&2
(cd "$ROOT" && cargo build --release -q --locked --bin etcd-backup && cargo build --release -q --locked -p rackpipe-etcd-backup --example etcd-fill)
ETCD_BACKUP=$ROOT/target/release/etcd-backup
FILL=$ROOT/target/release/examples/etcd-fill

W=$(mktemp -d "$WORK/etcd-backup-bench.XXXXXX")
ETCD_PID=
SSHD_PID=
cleanup() {
  if [[ -n $ETCD_PID ]]; then kill "$ETCD_PID" 2>/dev/null || true; wait "$ETCD_PID" 2>/dev/null || true; fi
  if [[ -n $SSHD_PID ]]; then kill "$SSHD_PID" 2>/dev/null || true; wait "$SSHD_PID" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== throwaway CA in $W/pki" >&2
mkdir -p "$W/pki"
(
  cd "$W/pki"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > ext
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -subj /CN=bench-ca -days 1 -out ca.crt 2>/dev/null
  for n in server client; do
    openssl ecparam -name prime256v1 -genkey -noout -out $n.key 2>/dev/null
    openssl req -new -key $n.key -subj /CN=$n -out $n.csr 2>/dev/null
    openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile ext -out $n.crt 2>/dev/null
  done
)
P=$W/pki
CPORT=$(free_port); PPORT=$(free_port)
EP=https://127.0.0.1:$CPORT

echo "== etcd on $EP" >&2
etcd --name bench --data-dir "$W/etcd" \
  --listen-client-urls "$EP" --advertise-client-urls "$EP" \
  --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
  --initial-cluster "bench=http://127.0.0.1:$PPORT" \
  --cert-file "$P/server.crt" --key-file "$P/server.key" --trusted-ca-file "$P/ca.crt" --client-cert-auth \
  --quota-backend-bytes $((8 * 1024 * 1024 * 1024)) --snapshot-count 100000 \
  --logger zap --log-outputs stderr 2> "$W/etcd.log" &
ETCD_PID=$!
export ETCDCTL_API=3 ETCDCTL_CACERT=$P/ca.crt ETCDCTL_CERT=$P/client.crt ETCDCTL_KEY=$P/client.key
for _ in $(seq 100); do
  etcdctl --endpoints "$EP" endpoint health >/dev/null 2>&1 && break
  sleep 0.2
done
etcdctl --endpoints "$EP" endpoint health >/dev/null

echo "== fill to ${SIZE_MB} MB" >&2
"$FILL" "$EP" "$P/ca.crt" "$P/client.crt" "$P/client.key" "$SIZE_MB" 256 >&2
etcdctl --endpoints "$EP" endpoint status -w table >&2

mkdir -p "$W/dest-ours" "$W/dest-base" "$W/scratch"
# The example site, compressing or not as COMPRESS says (the first `compress:` is backups.etcd's).
compress=false; [[ $COMPRESS == 1 ]] && compress=true
sed "0,/compress: true/s//compress: $compress/" "$ROOT/examples/rachuna-net/site.yaml" > "$W/site.yaml"
"$ETCD_BACKUP" validate "$W/site.yaml" >/dev/null

# run NAME CMD...: wall seconds on stdout's last line; GNU time report in $W/NAME.time
run() {
  local name=$1; shift
  sync
  local t0 t1
  t0=$(date +%s.%N)
  if ! /usr/bin/time -v -o "$W/$name.time" "$@" >/dev/null; then
    echo "etcd-backup bench: $name failed:" >&2
    cat "$W/$name.time" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}
rss_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.1f\n", $2 / 1024}' "$1"; }

ours=(); base=(); save=(); ours_rss=(); base_rss=()
ours_cmd() {
  run ours-$1 "$ETCD_BACKUP" snapshot "$W/site.yaml" --dest "$W/dest-ours" --endpoint "$EP" \
    --cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key"
}
base_cmd() {
  run base-$1 bash -c 'set -e
    etcdctl --endpoints "$1" snapshot save "$2/snap.db" >/dev/null 2>&1
    sha256sum "$2/snap.db" > "$2/snap.db.sha256"
    cp "$2/snap.db" "$2/snap.db.sha256" "$3/"' _ "$EP" "$W/scratch" "$W/dest-base"
}
# The floor: the time the etcd server needs to stream the snapshot (`etcdctl snapshot save`
# alone, written to the same disk). Goal: ours within 1.1x of it.
save_cmd() {
  run save-$1 etcdctl --endpoints "$EP" snapshot save "$W/scratch/save.db"
}
for i in $(seq "$RUNS"); do
  if (( i % 2 )); then
    o=$(ours_cmd "$i"); b=$(base_cmd "$i")
  else
    b=$(base_cmd "$i"); o=$(ours_cmd "$i")
  fi
  rm -f "$W"/scratch/*
  v=$(save_cmd "$i")
  ours+=("$o"); base+=("$b"); save+=("$v")
  ours_rss+=("$(rss_mb "$W/ours-$i.time")"); base_rss+=("$(rss_mb "$W/base-$i.time")")
  f=$(find "$W/dest-ours" -maxdepth 1 \( -name '*.db' -o -name '*.db.zst' \) | head -1)
  size=$(stat -c %s "$f")
  # Both paths must have produced the same bytes' worth of snapshot.
  base_size=$(stat -c %s "$W/dest-base/snap.db")
  printf 'run %d: etcd-backup %ss (RSS %s MB, %s bytes) | etcdctl+sha256sum+cp %ss (RSS %s MB, %s bytes) | etcdctl snapshot save %ss\n' \
    "$i" "$o" "${ours_rss[-1]}" "$size" "$b" "${base_rss[-1]}" "$base_size" "$v"
  rm -f "$W"/dest-ours/* "$W"/dest-base/* "$W"/scratch/*
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2] + a[NR/2+1]) / 2}'; }
max() { printf '%s\n' "$@" | sort -n | tail -1; }

# The --via-ssh path against a throwaway sshd on loopback.
ssh_runs=(); ssh_rss=()
SSHD=$(command -v sshd || true)
if [[ ${SSH:-1} == 1 && -n $SSHD ]] && command -v ssh-keygen >/dev/null; then
  echo "== sshd on loopback" >&2
  S=$W/ssh; mkdir -p "$S" "$W/dest-ssh" "$W/remote-tmp"
  ssh-keygen -q -t ed25519 -N '' -f "$S/host" -C bench-host
  ssh-keygen -q -t ed25519 -N '' -f "$S/client" -C bench-client
  cp "$S/client.pub" "$S/authorized_keys"
  SPORT=$(free_port)
  [[ $(id -u) == 0 ]] && mkdir -p /run/sshd
  printf '%s\n' "Port $SPORT" "ListenAddress 127.0.0.1" "HostKey $S/host" "PidFile $S/sshd.pid" \
    "AuthorizedKeysFile $S/authorized_keys" "PasswordAuthentication no" "KbdInteractiveAuthentication no" \
    "PubkeyAuthentication yes" "PermitRootLogin prohibit-password" "StrictModes no" "UsePAM no" \
    "LogLevel ERROR" "AllowUsers $(id -un)" > "$S/sshd_config"
  "$SSHD" -D -e -f "$S/sshd_config" 2> "$S/sshd.log" &
  SSHD_PID=$!
  echo "[127.0.0.1]:$SPORT $(cat "$S/host.pub")" > "$S/known_hosts"
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$SPORT") 2>/dev/null && break; sleep 0.1; done
  for i in $(seq "$RUNS"); do
    t=$(run ssh-$i "$ETCD_BACKUP" snapshot "$W/site.yaml" --dest "$W/dest-ssh" --via-ssh \
      --ssh-host "127.0.0.1:$SPORT" --ssh-user "$(id -un)" --ssh-key "$S/client" --known-hosts "$S/known_hosts" \
      --remote-endpoint "$EP" --cacert "$P/ca.crt" --cert "$P/client.crt" --key "$P/client.key" \
      --remote-tmp "$W/remote-tmp")
    ssh_runs+=("$t"); ssh_rss+=("$(rss_mb "$W/ssh-$i.time")")
    f=$(find "$W/dest-ssh" -maxdepth 1 \( -name '*.db' -o -name '*.db.zst' \) | head -1)
    left=$(find "$W/remote-tmp" -mindepth 1 | wc -l)
    printf 'run %d: etcd-backup --via-ssh %ss (RSS %s MB, %s bytes, %s remote temp entries left)\n' \
      "$i" "$t" "${ssh_rss[-1]}" "$(stat -c %s "$f")" "$left"
    rm -f "$W"/dest-ssh/*
  done
else
  echo "== skipping the --via-ssh runs (SSH=0 or no sshd/ssh-keygen)" >&2
fi
mo=$(median "${ours[@]}"); mb=$(median "${base[@]}")
ratio=$(awk -v a="$mo" -v b="$mb" 'BEGIN {printf "%.2f", a / b}')
echo
echo "db size:                 $(etcdctl --endpoints "$EP" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])') bytes"
echo "etcd-backup snapshot:    median ${mo}s over $RUNS runs, peak RSS $(max "${ours_rss[@]}") MB"
echo "etcdctl+sha256sum+cp:    median ${mb}s over $RUNS runs, peak RSS $(max "${base_rss[@]}") MB"
echo "ratio (ours / baseline): $ratio  (goal <= 1.0)"
ms_save=$(median "${save[@]}")
echo "etcdctl snapshot save:   median ${ms_save}s over $RUNS runs (the server streaming the snapshot)"
echo "ratio (ours / save):     $(awk -v a="$mo" -v b="$ms_save" 'BEGIN {printf "%.2f", a / b}')  (goal <= 1.1)"
if (( ${#ssh_runs[@]} )); then
  ms=$(median "${ssh_runs[@]}")
  echo "etcd-backup --via-ssh:   median ${ms}s over $RUNS runs, peak RSS $(max "${ssh_rss[@]}") MB (ours; sshd/etcdctl not counted)"
  echo "ratio (ssh / grpc):      $(awk -v a="$ms" -v b="$mo" 'BEGIN {printf "%.2f", a / b}')"
fi
