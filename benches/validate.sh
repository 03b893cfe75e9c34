#!/usr/bin/env bash
# Validation time, whole process (start, read, parse, schema, semantic checks, print), median of
# repeated runs with hyperfine, for both example sites and a synthetic site about 100x larger
# (1,000 guests, 200 VLAN segments, 500 DHCP static leases).
#   bash benches/validate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install -y hyperfine" >&2; exit 1; }
cargo build --release -q --bin ros-render
cargo run --release -q -p rackpipe-model --example synthetic_site -- 1000 200 500 > target/synthetic-site.yaml
bin=target/release/ros-render
for site in examples/rachuna-net/site.yaml examples/rachuna-dev/site.yaml target/synthetic-site.yaml; do
  "$bin" validate "$site" > /dev/null || { echo "$site does not validate" >&2; exit 1; }
done
hyperfine -N --warmup 3 --runs 30 --export-json target/bench-validate.json \
  -n rachuna-net "$bin validate examples/rachuna-net/site.yaml" \
  -n rachuna-dev "$bin validate examples/rachuna-dev/site.yaml" \
  -n synthetic-100x "$bin validate target/synthetic-site.yaml" >&2
python3 - <<'PY'
import json
data = json.load(open("target/bench-validate.json"))
for r in data["results"]:
    print(f'{r["command"]:16} median {r["median"]*1000:8.2f} ms   (min {r["min"]*1000:.2f}, max {r["max"]*1000:.2f}, {len(r["times"])} runs; CPU user {r["user"]*1000:.1f} + sys {r["system"]*1000:.1f} ms)')
PY
wc -c examples/*/site.yaml target/synthetic-site.yaml | sed 's/^/size: /'
# On a shared machine the wall times move with its load; the CPU times much less.
uptime | sed 's/^/load: /'
