#!/usr/bin/env bash
# The main job on an example site: every binary validates the site, then renders its
# configuration into target/example/<tool>/. Progress and a summary table go to stderr;
# the summary as JSON to stdout.
#   bash ci/example.sh [SITE]        (default: examples/rachuna-net/site.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
site=${1:-examples/rachuna-net/site.yaml}
out=target/example
tools=(ros-render pve-sync nfs-export vault-bootstrap haproxy-gen kubeadm-join etcd-backup)

echo "building release binaries..." >&2
cargo build --release -q --bins
rm -rf "$out" && mkdir -p "$out"

json='[' sep='' failed=0
printf '%-16s %-10s %-8s %s\n' tool validate files render >&2
for tool in "${tools[@]}"; do
  bin=target/release/$tool
  start=$(date +%s%N)
  if "$bin" validate "$site" > "$out/$tool.validate.json" 2> "$out/$tool.validate.log"; then v=ok; else v=FAILED; failed=1; fi
  if "$bin" render "$site" --out "$out/$tool" > "$out/$tool.render.json" 2> "$out/$tool.render.log"; then
    r=ok; files=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["files"]))' "$out/$tool.render.json")
  elif grep -q "has no renderer yet" "$out/$tool.render.log"; then
    r="no renderer yet"; files=0
  else
    r=FAILED; files=0; failed=1
  fi
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  printf '%-16s %-10s %-8s %s (%s ms)\n' "$tool" "$v" "$files" "$r" "$ms" >&2
  json+="$sep{\"tool\":\"$tool\",\"validate\":\"$v\",\"render\":\"$r\",\"files\":$files,\"ms\":$ms}" sep=,
done
json+=']'
printf '{"apiVersion":"rackpipe/v1","kind":"ExampleRun","site":"%s","tools":%s}\n' "$site" "$json" | python3 -m json.tool
[ "$failed" = 0 ] || { echo "some steps failed: see $out/*.log" >&2; exit 1; }
echo "rendered files are under $out/" >&2
