#!/usr/bin/env bash
# The whole site rehearsed on this machine: start the lab (ci/ → rackpipe-lab: one network
# namespace per host in 198.18.0.0/15, real OpenBao/HAProxy/keepalived/etcd/nfs-ganesha/sshd,
# the RouterOS and Proxmox simulators), run the shared CI template on throwaway iac-vault and
# iac-site repositories with gitlab-ci-local, pipeline after pipeline, and stop the lab.
#
#   sudo bash ci/rehearse.sh              (README: the main command; needs root for netns)
#
# Pipelines, in order: the operator's one-time Vault ceremony (init + unseal, keys to a 0600
# file), iac-vault's default branch (vault-bootstrap apply: mounts, PKI, policies and the
# certificates other tools read), then iac-site's: merge request (validate + plan), default
# branch (validate + plan + every manual apply), default branch again (what depends on the first apply's facts, e.g. DHCP leases for
# the guests pve-sync created), merge request again (must plan zero changes), schedule
# (backups copied to the NAS + drift check, which must find no drift).
# Progress goes to stderr; the summary (per pipeline and job: status, changes, seconds) to
# stderr as a table and to stdout as JSON. Exit 0 only when every pipeline did what it must.
#
# Environment:
#   RACKPIPE_BIN_DIR   use the binaries in this directory (skip the release build)
#   RACKPIPE_NO_SETUP  set: do not install packages (.ci/setup.sh)
#   RACKPIPE_LAB_DIR   where the lab keeps its state (default target/lab)
#   RACKPIPE_KEEP_LAB  set: leave the lab running at the end (stop it with
#                      `rackpipe-lab down --dir DIR`)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
say() { printf '[rehearse %4ss] %s\n' "$SECONDS" "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "the lab creates network namespaces: run as root"
if [[ -z ${RACKPIPE_NO_SETUP:-} ]]; then
  say "installing what the lab needs (.ci/setup.sh)"
  bash .ci/setup.sh
fi
if [[ -n ${RACKPIPE_BIN_DIR:-} ]]; then
  bin=$(cd "$RACKPIPE_BIN_DIR" && pwd)
else
  say "building the release binaries"
  cargo build --release --locked --workspace --bins -q
  bin=$root/target/release
fi
for tool in ros-render pve-sync nfs-export vault-bootstrap haproxy-gen kubeadm-join etcd-backup rackpipe-lab; do
  [[ -x $bin/$tool ]] || die "$bin/$tool is missing (cargo build --workspace --bins)"
done
export PATH="$bin:$PATH"

lab=${RACKPIPE_LAB_DIR:-$root/target/lab}
rackpipe-lab down --dir "$lab" >/dev/null 2>&1 || true
rm -rf "$lab"
mkdir -p "$lab"
cleanup() {
  local status=$?
  if [[ -z ${RACKPIPE_KEEP_LAB:-} ]]; then
    say "stopping the lab"
    rackpipe-lab down --dir "$lab" >/dev/null || say "warning: rackpipe-lab down failed"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the lab in $lab"
t0=$SECONDS
rackpipe-lab up --dir "$lab" > "$lab/up.json"
lab_up_s=$((SECONDS - t0))
rackpipe-lab health --dir "$lab" > "$lab/health.json" || die "the lab is not healthy: see $lab/health.json"
site=$lab/site.yaml
[[ -f $site ]] || die "the lab wrote no site ($site)"

# The CI/CD variables of the site project: every tool's connection flags and the lab's
# secrets. gitlab-ci-local reads them from this file (0600), never from the command line.
creds=$lab/creds
mkdir -p "$creds" && chmod 700 "$creds"

# The operator's one-time ceremony: initialise Vault (keys and root token to a new 0600
# file, never to the terminal), unseal every node. CI then logs in with a token file.
say "vault: init + unseal (operator ceremony)"
t0=$SECONDS
vault_args=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("RACKPIPE_VAULT_BOOTSTRAP_ARGS", ""))' "$lab/ci-variables.json")
# shellcheck disable=SC2086  # connection flags are shell words
vault-bootstrap init "$site" $vault_args --keys-file "$creds/vault-init.json" > "$lab/vault-init.out.json"
# shellcheck disable=SC2086
vault-bootstrap unseal "$site" $vault_args --keys-file "$creds/vault-init.json" --wait 60 > "$lab/vault-unseal.json"
python3 - "$creds/vault-init.json" "$creds/vault-token" <<'PY'
import json, os, sys
doc = json.load(open(sys.argv[1]))
token = doc.get("root_token") or doc.get("root_token_plaintext") or ""
if not token:
    sys.exit(f"{sys.argv[1]}: no root token")
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, token.encode())
os.close(fd)
PY
vault_s=$((SECONDS - t0))

# The throwaway repositories, shaped like GitLab checkouts of iac-* projects: iac-vault
# (vault-bootstrap only) goes first, as on a real site, because what the other tools read
# from Vault (the load balancers' TLS certificate, issued by vault-bootstrap from the site's
# PKI) must exist before they plan; iac-site runs every tool.
# make_repo NAME TOOLS PLAN_TOOLS: a repository including the template for TOOLS (validate)
# and PLAN_TOOLS (plan, apply, drift), YAML flow lists.
make_repo() {
  local repo=$lab/$1 tools=$2 plan_tools=$3
  mkdir -p "$repo/templates"
  cp templates/rackpipe.yml "$repo/templates/"
  cp "$site" "$repo/site.yaml"
  cat > "$repo/.gitlab-ci.yml" <<EOF
workflow:
  rules:
    - if: \$CI_PIPELINE_SOURCE == "merge_request_event"
    - if: \$CI_PIPELINE_SOURCE == "schedule"
    - if: \$CI_PIPELINE_SOURCE == "push" && \$CI_COMMIT_BRANCH == \$CI_DEFAULT_BRANCH
stages: [validate, plan, apply, backup]
include:
  - local: templates/rackpipe.yml
    inputs:
      site: site.yaml
      version: lab
      tags: [lab]
      bin_dir: $bin
      backup_dir: $lab/backups
      tools: $tools
      plan_tools: $plan_tools
EOF
  printf '.gitlab-ci-local/\n.gitlab-ci-local-variables.yml\n*.json\n*.txt\n*.xml\n' > "$repo/.gitignore"
  python3 - "$lab/ci-variables.json" "$creds/vault-token" "$repo/.gitlab-ci-local-variables.yml" "$lab/lab.json" <<'PY'
import json, os, sys
variables = json.load(open(sys.argv[1]))
token_file = sys.argv[2]
state = json.load(open(sys.argv[4]))
# Data flow the site implies: ros-render's DHCP leases take the guests' real MACs from
# pve-sync's facts.
variables.setdefault("RACKPIPE_ROS_RENDER_FACTS_FROM", "pve-sync")
args = variables.get("RACKPIPE_VAULT_BOOTSTRAP_ARGS", "")
if "--token-file" not in args:
    variables["RACKPIPE_VAULT_BOOTSTRAP_ARGS"] = (args + f" --token-file {token_file}").strip()
# `vault:` references (the TLS certificate vault-bootstrap issues) are read from a Vault node
# (standbys forward to the active one; not the VIP, which haproxy-gen itself sets up) with the
# lab CA; gitlab-ci-local cannot mint ID tokens, so a token stands in for the JWT.
nodes = [w.split("=", 1)[1] for w in variables.get("RACKPIPE_VAULT_BOOTSTRAP_ARGS", "").split()
         if "=https://" in w]
ca = state.get("extra", {}).get("vault_ca_file")
if nodes and ca:
    variables["VAULT_ADDR"] = nodes[0]
    variables["VAULT_CACERT"] = ca
    variables["VAULT_TOKEN"] = open(token_file).read().strip()
fd = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(variables, indent=1).encode())  # JSON is YAML
os.close(fd)
PY
  git_ "$repo" init -q -b main
  git_ "$repo" remote add origin "git@gitlab.example.invalid:homelab/$1.git"
  git_ "$repo" add -A && git_ "$repo" commit -q -m "site: the lab variant of rachuna-net"
  git_ "$repo" update-ref refs/remotes/origin/main HEAD
  git_ "$repo" symbolic-ref refs/remotes/origin/HEAD refs/remotes/origin/main
}
git_() { local repo=$1; shift; git -C "$repo" -c user.name=rehearsal -c user.email=rehearsal@example.invalid -c commit.gpgsign=false "$@"; }
# The site's monitoring (issue 21): a site without a monitoring section gets one for the
# rehearsal, so haproxy-gen renders HAProxy's Prometheus exporter and vault-bootstrap the
# token that may read /v1/sys/metrics: the stack `external` (no cluster addons), keepalived's
# textfile metrics off (the lab's load balancers share this machine's /var/lib), Vault read
# with a token whose value is a new lab secret. The check after the pipelines scrapes them.
python3 - "$site" "$lab/ci-variables.json" <<'PY'
import json, os, secrets, sys
site_path, vars_path = sys.argv[1], sys.argv[2]
doc = json.load(open(site_path))  # the lab writes its site as JSON
if "monitoring" not in doc:
    doc["monitoring"] = {"deploy": "external", "targets": {
        "keepalived": {"enabled": False},
        "vault": {"token": "env:RACKPIPE_LAB_METRICS_TOKEN"}}}
    variables = json.load(open(vars_path))
    variables["RACKPIPE_LAB_METRICS_TOKEN"] = secrets.token_hex(16)
    fd = os.open(vars_path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, json.dumps(variables, indent=1).encode())
    os.close(fd)
    os.replace(vars_path + ".new", vars_path)
    with open(site_path, "w") as f:
        json.dump(doc, f, indent=1)
PY
make_repo iac-vault "[vault-bootstrap]" "[vault-bootstrap]"
plan_tools="[ros-render, pve-sync, nfs-export, vault-bootstrap, haproxy-gen, kubeadm-join]"
make_repo iac-site "${plan_tools%]}, etcd-backup]" "$plan_tools"

results=$lab/pipelines
mkdir -p "$results"
# run_pipeline REPO NAME KIND [gitlab-ci-local args...]: runs it, keeps its output and
# artifacts.
run_pipeline() {
  local repo=$lab/$1 name=$2 kind=$3; shift 3
  local args=(--no-color --force-shell-executor --concurrency 1)
  case $kind in
    mr) args+=(--ignore-predefined-vars=CI_PIPELINE_SOURCE --variable=CI_PIPELINE_SOURCE=merge_request_event
               --variable=CI_MERGE_REQUEST_IID=1 --unset-variable=CI_COMMIT_BRANCH) ;;
    push) ;;
    schedule) args+=(--ignore-predefined-vars=CI_PIPELINE_SOURCE --variable=CI_PIPELINE_SOURCE=schedule) ;;
  esac
  say "pipeline $name ($kind)"
  local t0=$SECONDS status=0
  (cd "$repo" && env -u CI -u GITLAB_CI gitlab-ci-local "${args[@]}" "$@") > "$results/$name.log" 2>&1 || status=$?
  local seconds=$((SECONDS - t0))
  mkdir -p "$results/$name"
  find "$repo" -maxdepth 1 \( -name '*.json' -o -name '*.txt' -o -name '*.xml' \) -exec cp {} "$results/$name/" \;
  find "$repo" -maxdepth 1 \( -name '*.json' -o -name '*.txt' -o -name '*.xml' \) -delete
  printf '{"name":"%s","kind":"%s","exit":%d,"seconds":%d}\n' "$name" "$kind" "$status" "$seconds" >> "$results/index.jsonl"
  say "pipeline $name: exit $status in ${seconds}s (log: $results/$name.log)"
}

applies=()
for tool in ros-render pve-sync nfs-export vault-bootstrap haproxy-gen kubeadm-join; do
  applies+=("--manual=rackpipe-apply: [$tool]")
done
: > "$results/index.jsonl"
run_pipeline iac-vault vault-default-branch push "--manual=rackpipe-apply: [vault-bootstrap]"
run_pipeline iac-site merge-request mr
run_pipeline iac-site default-branch push "${applies[@]}"
# What depends on facts the first apply created (DHCP leases for the guests pve-sync made)
# converges in the next default-branch pipeline, as it would on GitLab.
run_pipeline iac-site default-branch-2 push "${applies[@]}"
run_pipeline iac-site merge-request-after-apply mr
run_pipeline iac-site schedule schedule

# Monitoring: a real Prometheus scrapes the lab's HAProxy exporters, OpenBao's sys/metrics
# (with the token vault-bootstrap created) and etcd's metrics listeners, and must see every
# target up. It runs where the CI jobs run (this namespace: it has an address on every
# segment's bridge, and the lab routes nothing between segments), listening on its address on
# a lab bridge; its TSDB is removed after.
say "monitoring: Prometheus scrapes the lab"
python3 ci/lab_prometheus.py "$lab" "$site" > "$results/monitoring.json" || say "monitoring check failed (see $results/monitoring.json)"

python3 - "$results" "$lab_up_s" "$vault_s" "$SECONDS" "$lab/lab.json" "$site" <<'PY'
import json, os, re, subprocess, sys
import yaml  # python3-yaml, installed by .ci/setup.sh
results, lab_up, vault_s, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lab_state = json.load(open(sys.argv[5]))
pipelines, ok = [], True
expect = {"merge-request-after-apply": "zero", "schedule": "no-drift"}
for line in open(os.path.join(results, "index.jsonl")):
    p = json.loads(line)
    log = open(os.path.join(results, p["name"] + ".log"), errors="replace").read()
    jobs = []
    for m in re.finditer(r"^\s*(PASS|FAIL|WARN)\s+(\S.*?)\s*$", log, re.M):
        # A warning names the failed part after the job: `WARN  job  pre_script`.
        job = {"job": re.split(r"\s{2,}", m.group(2))[0], "status": m.group(1).lower()}
        tool = re.search(r"\[(.+)\]", job["job"])
        kind = job["job"].split(":")[0].replace("rackpipe-", "")
        if tool:
            counts = os.path.join(results, p["name"], f"plan-{tool.group(1)}.counts.json")
            if kind == "plan" and os.path.exists(counts):
                c = json.load(open(counts))
                job["changes"] = c.get("create", 0) + c.get("update", 0) + c.get("delete", 0)
            applied = os.path.join(results, p["name"], f"apply-{tool.group(1)}.json")
            if kind == "apply" and os.path.exists(applied):
                try:
                    job["applied"] = len(json.load(open(applied)).get("applied", []))
                except (ValueError, AttributeError):
                    pass
        for t in re.finditer(re.escape(job["job"]) + r"\s+finished in ([0-9.]+) (ms|s|min)", log):
            v, unit = float(t.group(1)), t.group(2)
            job["seconds"] = round(v / 1000 if unit == "ms" else v * 60 if unit == "min" else v, 1)
        jobs.append(job)
    p["jobs"] = jobs
    want = expect.get(p["name"], "pass")
    failed = [j["job"] for j in jobs if j["status"] == "fail"]
    if p["exit"] != 0 or failed or not jobs:
        p["verdict"] = "failed"
    elif want == "zero" and any(j.get("changes", 0) for j in jobs):
        p["verdict"] = "changes after apply"
    elif want == "no-drift" and any(j["status"] == "warn" for j in jobs):
        p["verdict"] = "drift after apply"
    else:
        p["verdict"] = "ok"
    ok &= p["verdict"] == "ok"
    pipelines.append(p)
# Data flows between tools, checked where the data lands.
flows = []
def backup_files(d):
    return sorted(n for n in os.listdir(d) if not n.startswith(".")) if os.path.isdir(d) else []
# nfs-export -> backups: the schedule's sync reports name the export and directory; the files
# must be on the lab NAS's disk (what nfs-ganesha serves), the same as the runner's copy.
nas_exports = lab_state.get("extra", {}).get("nas_exports", {})
for tool in ("etcd-backup", "ros-render"):
    flow = {"flow": f"{tool} -> nfs-export sync -> NAS", "ok": False}
    report = os.path.join(results, "schedule", f"sync-{tool}.json")
    if os.path.exists(report):
        r = json.load(open(report))
        on_nas = backup_files(os.path.join(nas_exports.get(r["export"], "/nonexistent"), r["subdir"]))
        flow.update(destination=r["destination"], files_on_nas=len(on_nas),
                    ok=bool(on_nas) and on_nas == backup_files(r["dir"]))
    flows.append(flow)
# pve-sync -> ros-render: the DHCP leases the router plan used came from pve-sync's facts.
facts = os.path.join(results, "default-branch-2", "facts-ros-render.json")
flows.append({"flow": "pve-sync facts -> ros-render DHCP leases", "ok": os.path.exists(facts)})
# vault-bootstrap PKI -> haproxy-gen: each TLS-terminating listener serves the certificate
# vault-bootstrap issued (subject and issuing CA as the site says), read off the VIP.
site = yaml.safe_load(open(sys.argv[6]))
lb, vault = site.get("load_balancer") or {}, site.get("vault") or {}
vips = {v["name"]: v["address"].split("/")[0] for v in lb.get("vips", [])}
issued = {f"vault:{c['store']['mount']}/{c['store']['path']}#pem": c for c in vault.get("certificates", [])}
cas = {p["mount"]: p["common_name"] for p in vault.get("pki", [])}
for svc in lb.get("services", []):
    cert = issued.get(svc.get("tls_certificate"))
    if not cert:
        continue
    where = f"{vips.get(svc['vip'])}:{svc['port']}"
    flow = {"flow": f"vault-bootstrap PKI ({cert['pki']}) -> haproxy-gen {svc['name']}", "listener": where}
    try:
        pem = subprocess.run(["openssl", "s_client", "-connect", where, "-servername", cert["common_name"]],
                             input=b"", capture_output=True, timeout=10).stdout
        text = subprocess.run(["openssl", "x509", "-noout", "-subject", "-issuer", "-nameopt", "multiline"],
                              input=pem, capture_output=True, timeout=10).stdout.decode()
    except subprocess.TimeoutExpired:
        text = ""
    has_cn = lambda cn: re.search(r"commonName\s*=\s*" + re.escape(str(cn)) + r"\s*$", text, re.M)
    flow["ok"] = bool(has_cn(cert["common_name"]) and has_cn(cas.get(cert["pki"])))
    flows.append(flow)
# Prometheus in the lab saw HAProxy, OpenBao and etcd up (ci/lab_prometheus.py).
try:
    flows.append(json.load(open(os.path.join(results, "monitoring.json"))))
except (OSError, ValueError):
    flows.append({"flow": "Prometheus scrapes haproxy, openbao, etcd in the lab", "ok": False})
for f in flows:
    ok &= f["ok"]
summary = {"apiVersion": "rackpipe/v1", "kind": "Rehearsal", "ok": ok,
           "seconds": {"lab_up": lab_up, "vault_ceremony": vault_s, "total": total},
           "pipelines": pipelines, "data_flows": flows}
err = sys.stderr
print(f"\n{'pipeline':28} {'job':42} {'status':7} {'changes':>7} {'s':>6}", file=err)
for p in pipelines:
    print(f"{p['name']:28} {'(pipeline: ' + p['verdict'] + ')':42} {'':7} {'':>7} {p['seconds']:>6}", file=err)
    for j in p["jobs"]:
        ch = j.get("changes", j.get("applied", ""))
        print(f"{'':28} {j['job']:42} {j['status']:7} {str(ch):>7} {j.get('seconds', ''):>6}", file=err)
for f in flows:
    print(f"data flow: {f['flow']}: {'ok' if f['ok'] else 'MISSING'}"
          + (f" ({f['files_on_nas']} files at {f['destination']})" if "destination" in f else "")
          + (f" (served on {f['listener']})" if "listener" in f else "")
          + (f" ({f['targets_up']}/{f['targets']} targets up after {f['seconds']}s)" if "targets" in f else ""), file=err)
print(f"lab up {lab_up}s, vault ceremony {vault_s}s, total {total}s", file=err)
json.dump(summary, sys.stdout, indent=1)
print()
sys.exit(0 if ok else 1)
PY
