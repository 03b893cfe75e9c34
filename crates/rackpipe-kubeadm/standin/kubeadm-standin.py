#!/usr/bin/python3
"""TEST DOUBLE for kubeadm, kubectl and crictl. Never install this on a real host.

rackpipe's kubeadm-join tests cannot run kubeadm or a kubelet, so the test harness puts a
wrapper named `kubeadm` / `kubectl` / `crictl` on each test node's PATH that runs:

    kubeadm-standin.py <kubeadm|kubectl|crictl> ARGS...

with the environment
    STANDIN_STATE  shared cluster state directory (the "API server" and "etcd" of the test cluster)
    STANDIN_NODE   the node this wrapper belongs to (the name its configs must carry)
    STANDIN_KDIR   the node's kubernetes directory (stands for /etc/kubernetes)

What it does (see ../../../../shared/reference/lb-etcd-kubeadm.md section 4 for the upstream facts):
- checks the arguments and the --config file strictly (known apiVersion/kind, unknown fields are
  errors, token/hash/key formats, v1beta4 extra args as name/value lists), as
  `kubeadm config validate` does;
- prints kubeadm's real output formats: the join command line of
  `token create --print-join-command` (with the trailing space), the
  `[upload-certs] Using certificate key:` line pair, and kubeadm-style error messages;
- keeps state on disk: cluster state (members, bootstrap tokens with expiry, uploaded certificate
  key with its 2 h expiry, CA hash) in $STANDIN_STATE/cluster.json, node state (kubelet.conf,
  admin.conf, pki/ca.crt, bootstrap-kubelet.conf) under $STANDIN_KDIR, so idempotency and failures
  are real;
- fault injection: $STANDIN_STATE/faults, lines `join-fail NODE COUNT` (the next COUNT joins of NODE
  fail half-way, leaving pki/ca.crt and bootstrap-kubelet.conf behind, like a kubelet TLS
  bootstrap that times out) and `expire-certs NODE` (when NODE joins, the clock jumps past the
  uploaded certificate key's 2 h expiry first); a node whose $STANDIN_KDIR/../runtime-down exists has
  no container runtime (crictl fails);
- time: now = wall clock + the seconds in $STANDIN_STATE/clock-offset (tests advance time there);
- every invocation is appended to $STANDIN_STATE/calls.log as `NODE TOOL VERB` (no secrets).
"""

import fcntl
import json
import os
import re
import secrets
import shutil
import sys
import time

import yaml

STATE = os.environ.get("STANDIN_STATE", "")
NODE = os.environ.get("STANDIN_NODE", "")
KDIR = os.environ.get("STANDIN_KDIR", "/etc/kubernetes")
READY_DELAY = float(os.environ.get("STANDIN_READY_DELAY", "0.3"))
CERT_KEY_TTL = 2 * 3600
TOKEN_TTL = 24 * 3600
TOKEN_RE = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
KEY_RE = re.compile(r"^[0-9a-f]{64}$")
VERSIONS = ("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3")


class Fail(Exception):
    """A kubeadm-style fatal error: message to stderr, exit status 1."""


def now():
    try:
        with open(os.path.join(STATE, "clock-offset")) as f:
            return time.time() + float(f.read().strip() or 0)
    except FileNotFoundError:
        return time.time()


def log_call(tool, verb):
    with open(os.path.join(STATE, "calls.log"), "a") as f:
        f.write(f"{NODE} {tool} {verb}\n")


class Cluster:
    """cluster.json under an exclusive lock (workers join in parallel)."""

    def __enter__(self):
        self.lock = open(os.path.join(STATE, "cluster.lock"), "w")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        path = os.path.join(STATE, "cluster.json")
        if os.path.exists(path):
            with open(path) as f:
                self.data = json.load(f)
        else:
            self.data = {"initialized": False, "members": {}, "tokens": [], "cert_key": None}
        return self

    def save(self):
        path = os.path.join(STATE, "cluster.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)

    def __exit__(self, *exc):
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        self.lock.close()
        return False


def faults():
    path = os.path.join(STATE, "faults")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def set_faults(lines):
    with open(os.path.join(STATE, "faults"), "w") as f:
        for parts in lines:
            f.write(" ".join(parts) + "\n")


# ---------------------------------------------------------------- strict config checks

def keys(obj, allowed, path, gvk):
    if obj is None:
        return
    if not isinstance(obj, dict):
        raise Fail(f"{gvk}: {path}: expected an object")
    for k in obj:
        if k not in allowed:
            raise Fail(f'error unmarshaling configuration {gvk}: strict decoding error: unknown field "{path}{k}"')


def check_args(value, version, path, gvk):
    if value is None:
        return
    if version.endswith("v1beta4"):
        if not isinstance(value, list) or any(not isinstance(a, dict) or set(a) - {"name", "value"} or "name" not in a for a in value):
            raise Fail(f"{gvk}: {path}: v1beta4 wants a list of {{name, value}}")
    elif not isinstance(value, dict):
        raise Fail(f"{gvk}: {path}: v1beta3 wants a map of flag to value")


def check_node_registration(nr, version, gvk):
    allowed = {"name", "criSocket", "taints", "kubeletExtraArgs", "ignorePreflightErrors", "imagePullPolicy"}
    if version.endswith("v1beta4"):
        allowed.add("imagePullSerial")
    keys(nr, allowed, "nodeRegistration.", gvk)
    nr = nr or {}
    check_args(nr.get("kubeletExtraArgs"), version, "nodeRegistration.kubeletExtraArgs", gvk)
    for t in nr.get("taints") or []:
        keys(t, {"key", "value", "effect", "timeAdded"}, "nodeRegistration.taints[].", gvk)
        if t.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise Fail(f'{gvk}: nodeRegistration.taints: Unsupported value: "{t.get("effect")}"')
    sock = nr.get("criSocket", "")
    if sock and not sock.startswith(("unix://", "npipe://")):
        raise Fail(f"{gvk}: nodeRegistration.criSocket: {sock!r} is not a URL with the unix scheme")
    if nr.get("name") != NODE:
        raise Fail(f"{gvk}: nodeRegistration.name {nr.get('name')!r} is not this host ({NODE})")


def check_documents(path):
    """Validates like `kubeadm config validate`; returns {kind: document}."""
    try:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except FileNotFoundError:
        raise Fail(f"unable to read config from {path!r}: open {path}: no such file or directory")
    except yaml.YAMLError as e:
        raise Fail(f"error converting YAML to JSON: {str(e).splitlines()[0]}")
    out = {}
    for d in docs:
        version, kind = d.get("apiVersion"), d.get("kind")
        gvk = f'schema.GroupVersionKind{{Group:"kubeadm.k8s.io", Version:"{str(version).split("/")[-1]}", Kind:"{kind}"}}'
        if version not in VERSIONS or kind not in ("InitConfiguration", "ClusterConfiguration", "JoinConfiguration"):
            raise Fail(f'no kind "{kind}" is registered for version "{version}"')
        beta4 = version.endswith("v1beta4")
        if kind == "InitConfiguration":
            allowed = {"apiVersion", "kind", "bootstrapTokens", "nodeRegistration", "localAPIEndpoint", "certificateKey", "skipPhases", "patches"}
            if beta4:
                allowed |= {"dryRun", "timeouts"}
            keys(d, allowed, "", gvk)
            check_node_registration(d.get("nodeRegistration"), version, gvk)
            keys(d.get("localAPIEndpoint"), {"advertiseAddress", "bindPort"}, "localAPIEndpoint.", gvk)
            for t in d.get("bootstrapTokens") or []:
                if not TOKEN_RE.match(str(t.get("token", ""))):
                    raise Fail(f'{gvk}: bootstrapTokens[].token: Invalid value: the bootstrap token is invalid')
        elif kind == "ClusterConfiguration":
            allowed = {"apiVersion", "kind", "etcd", "networking", "kubernetesVersion", "controlPlaneEndpoint", "apiServer",
                       "controllerManager", "scheduler", "dns", "certificatesDir", "imageRepository", "featureGates", "clusterName"}
            if beta4:
                allowed |= {"proxy", "encryptionAlgorithm", "certificateValidityPeriod", "caCertificateValidityPeriod"}
            keys(d, allowed, "", gvk)
            keys(d.get("networking"), {"serviceSubnet", "podSubnet", "dnsDomain"}, "networking.", gvk)
            api = {"extraArgs", "extraVolumes", "certSANs"} | ({"extraEnvs"} if beta4 else {"timeoutForControlPlane"})
            keys(d.get("apiServer"), api, "apiServer.", gvk)
            check_args((d.get("apiServer") or {}).get("extraArgs"), version, "apiServer.extraArgs", gvk)
            if not re.match(r"^v[0-9]+\.[0-9]+\.[0-9]+", str(d.get("kubernetesVersion", "v"))):
                raise Fail(f'{gvk}: kubernetesVersion: invalid version "{d.get("kubernetesVersion")}"')
        else:
            allowed = {"apiVersion", "kind", "nodeRegistration", "caCertPath", "discovery", "controlPlane", "skipPhases", "patches"}
            if beta4:
                allowed |= {"dryRun", "timeouts"}
            keys(d, allowed, "", gvk)
            check_node_registration(d.get("nodeRegistration"), version, gvk)
            disc = d.get("discovery")
            if not disc:
                raise Fail(f"{gvk}: discovery: Invalid value: bootstrapToken or file must be set")
            keys(disc, {"bootstrapToken", "file", "tlsBootstrapToken"} | (set() if beta4 else {"timeout"}), "discovery.", gvk)
            bt = disc.get("bootstrapToken") or {}
            keys(bt, {"token", "apiServerEndpoint", "caCertHashes", "unsafeSkipCAVerification"}, "discovery.bootstrapToken.", gvk)
            if not TOKEN_RE.match(str(bt.get("token", ""))):
                raise Fail(f"{gvk}: discovery.bootstrapToken.token: Invalid value: the bootstrap token is invalid")
            hashes = bt.get("caCertHashes") or []
            if not hashes and not bt.get("unsafeSkipCAVerification"):
                raise Fail(f"{gvk}: discovery.bootstrapToken.caCertHashes: Invalid value: using token-based discovery without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue")
            for h in hashes:
                if not HASH_RE.match(str(h)):
                    raise Fail(f"{gvk}: discovery.bootstrapToken.caCertHashes: Invalid value: invalid hash, expected \"format:hex-value\"")
            cp = d.get("controlPlane")
            if cp is not None:
                keys(cp, {"localAPIEndpoint", "certificateKey"}, "controlPlane.", gvk)
                if not KEY_RE.match(str(cp.get("certificateKey", ""))):
                    raise Fail(f"{gvk}: controlPlane.certificateKey: Invalid value: the certificate key must be 64 hex characters")
        out[kind] = d
    return out


# ---------------------------------------------------------------- node state

def kfile(name):
    return os.path.join(KDIR, name)


def preflight_files():
    errors = []
    for rel, check in (("kubelet.conf", "FileAvailable--etc-kubernetes-kubelet.conf"),
                       ("bootstrap-kubelet.conf", "FileAvailable--etc-kubernetes-bootstrap-kubelet.conf"),
                       ("pki/ca.crt", "FileAvailable--etc-kubernetes-pki-ca.crt"),
                       ("admin.conf", "FileAvailable--etc-kubernetes-admin.conf")):
        if os.path.exists(kfile(rel)):
            errors.append(f"\t[ERROR {check}]: /etc/kubernetes/{rel} already exists")
    if errors:
        raise Fail("error execution phase preflight: [preflight] Some fatal errors occurred:\n" + "\n".join(errors)
                   + "\n[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`")


def write(rel, content):
    path = kfile(rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)


def kubeconfig(cluster, user):
    return f"apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster['name']}\n  cluster:\n    server: https://{cluster['endpoint']}\n" \
           f"users:\n- name: {user}\n# standin-cluster-id: {cluster['id']}\n"


def node_labels(nr):
    args = nr.get("kubeletExtraArgs") or []
    if isinstance(args, dict):
        args = [{"name": k, "value": v} for k, v in args.items()]
    labels = {}
    for a in args:
        if a.get("name") == "node-labels":
            for kv in str(a.get("value", "")).split(","):
                if kv:
                    k, _, v = kv.partition("=")
                    labels[k] = v
    return labels


def register(c, nr, control_plane):
    labels = {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux"}
    labels.update(node_labels(nr))
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    taints = nr.get("taints")
    if taints is None:
        taints = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}] if control_plane else []
    c.data["members"][NODE] = {"control_plane": control_plane, "labels": labels, "taints": taints,
                               "ready_after": time.time() + READY_DELAY, "kubelet": True}


def new_token(c, ttl=TOKEN_TTL):
    tok = f"{secrets.token_hex(3)}.{secrets.token_hex(8)}"
    c.data["tokens"].append({"token": tok, "expires": now() + ttl})
    return tok


def upload_certs(c):
    key = secrets.token_hex(32)
    c.data["cert_key"] = {"key": key, "expires": now() + CERT_KEY_TTL}
    return key


def join_command(c, token, key=None):
    line = f"kubeadm join {c.data['endpoint']} --token {token} --discovery-token-ca-cert-hash {c.data['ca_hash']} "
    if key:
        line = line.rstrip(" ") + f" --control-plane --certificate-key {key}"
    return line


# ---------------------------------------------------------------- kubeadm verbs

def config_arg(args):
    if "--config" not in args or args.index("--config") + 1 >= len(args):
        raise Fail("required flag(s) \"config\" not set")
    return args[args.index("--config") + 1]


def kubeadm_init(args):
    if "--upload-certs" not in args:
        raise Fail("standin: rackpipe must run init with --upload-certs")
    docs = check_documents(config_arg(args))
    init, clus = docs.get("InitConfiguration"), docs.get("ClusterConfiguration")
    if init is None or clus is None:
        raise Fail("standin: init needs InitConfiguration and ClusterConfiguration")
    preflight_files()
    with Cluster() as c:
        if c.data["initialized"]:
            raise Fail("standin: the test cluster is already initialized (a second init would make a second cluster)")
        c.data.update({"initialized": True, "id": secrets.token_hex(8), "name": clus.get("clusterName", "kubernetes"),
                       "endpoint": clus.get("controlPlaneEndpoint"), "ca_hash": "sha256:" + secrets.token_hex(32)})
        token = new_token(c)
        key = upload_certs(c)
        write("pki/ca.crt", "-----BEGIN CERTIFICATE-----\nstandin\n-----END CERTIFICATE-----\n")
        write("admin.conf", kubeconfig(c.data, "kubernetes-admin"))
        write("super-admin.conf", kubeconfig(c.data, "kubernetes-super-admin"))
        write("kubelet.conf", kubeconfig(c.data, f"system:node:{NODE}"))
        register(c, init.get("nodeRegistration") or {}, True)
        c.save()
    endpoint = c.data["endpoint"]
    print(f"[init] Using Kubernetes version: {clus.get('kubernetesVersion')}")
    print("[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace")
    print("[upload-certs] Using certificate key:")
    print(key)
    print("\nYour Kubernetes control-plane has initialized successfully!\n")
    print("You can now join any number of control-plane nodes running the following command on each as root:\n")
    print(f"  kubeadm join {endpoint} --token {token} \\\n\t--discovery-token-ca-cert-hash {c.data['ca_hash']} \\\n"
          f"\t--control-plane --certificate-key {key}\n")
    print("Then you can join any number of worker nodes by running the following on each as root:\n")
    print(f"kubeadm join {endpoint} --token {token} \\\n\t--discovery-token-ca-cert-hash {c.data['ca_hash']} ")


def kubeadm_join(args):
    docs = check_documents(config_arg(args))
    join = docs.get("JoinConfiguration")
    if join is None:
        raise Fail("standin: join needs a JoinConfiguration")
    preflight_files()
    bt = join["discovery"]["bootstrapToken"]
    cp = join.get("controlPlane")
    lines = faults()
    for parts in lines:
        if parts[:2] == ["expire-certs", NODE]:
            with Cluster() as c:
                if c.data.get("cert_key"):
                    shift = c.data["cert_key"]["expires"] - now() + 60
                    try:
                        with open(os.path.join(STATE, "clock-offset")) as g:
                            old = float(g.read().strip() or 0)
                    except (FileNotFoundError, ValueError):
                        old = 0.0
                    with open(os.path.join(STATE, "clock-offset"), "w") as f:
                        f.write(str(old + max(shift, 0)))
            set_faults([p for p in lines if p[:2] != ["expire-certs", NODE]])
    with Cluster() as c:
        if not c.data["initialized"] or bt.get("apiServerEndpoint") != c.data.get("endpoint"):
            raise Fail(f"couldn't validate the identity of the API Server: Get \"https://{bt.get('apiServerEndpoint')}/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s\": dial tcp {bt.get('apiServerEndpoint')}: connect: connection refused")
        tid = bt["token"].split(".")[0]
        if not any(t["token"] == bt["token"] and t["expires"] > now() for t in c.data["tokens"]):
            raise Fail(f"error execution phase preflight: couldn't validate the identity of the API Server: could not find a JWS signature in the cluster-info ConfigMap for token ID \"{tid}\"")
        if c.data["ca_hash"] not in (bt.get("caCertHashes") or []):
            raise Fail("error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap is invalid: none of the public keys \"sha256:...\" are pinned")
        existing = c.data["members"].get(NODE)
        if existing and existing.get("kubelet") and time.time() >= existing["ready_after"]:
            raise Fail(f"error execution phase kubelet-start: a Node with name \"{NODE}\" and status \"Ready\" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node")
        write("pki/ca.crt", "-----BEGIN CERTIFICATE-----\nstandin\n-----END CERTIFICATE-----\n")
        if cp is not None:
            ck = c.data.get("cert_key")
            if not ck or ck["expires"] <= now():
                c.data["cert_key"] = None
                c.save()
                raise Fail("error execution phase control-plane-prepare/download-certs: error downloading certs: error downloading the secret: secrets \"kubeadm-certs\" not found")
            if ck["key"] != cp["certificateKey"]:
                raise Fail("error execution phase control-plane-prepare/download-certs: error downloading certs: error decoding certs: cipher: message authentication failed")
        write("bootstrap-kubelet.conf", kubeconfig(c.data, "tls-bootstrap-token-user"))
        for i, parts in enumerate(lines):
            if parts[:2] == ["join-fail", NODE] and int(parts[2]) > 0:
                parts[2] = str(int(parts[2]) - 1)
                set_faults(lines)
                raise Fail("error execution phase kubelet-start: error uploading crisocket: timed out waiting for the condition")
        os.remove(kfile("bootstrap-kubelet.conf"))
        write("kubelet.conf", kubeconfig(c.data, f"system:node:{NODE}"))
        if cp is not None:
            write("admin.conf", kubeconfig(c.data, "kubernetes-admin"))
        register(c, join.get("nodeRegistration") or {}, cp is not None)
        c.save()
    print("[preflight] Running pre-flight checks")
    print("\nThis node has joined the cluster:" if cp is None else "\nThis node has joined the cluster and a new control plane instance was created:")
    print("* Certificate signing request was sent to apiserver and a response was received.")


def kubeadm_reset(args):
    if "-f" not in args and "--force" not in args:
        raise Fail("standin: rackpipe must run reset with -f")
    with Cluster() as c:
        m = c.data["members"].get(NODE)
        if m is not None:
            if m.get("control_plane"):
                # reset removes the etcd member of a control-plane node (and the Node with it here).
                del c.data["members"][NODE]
            else:
                m["kubelet"] = False
            c.save()
    for rel in ("kubelet.conf", "bootstrap-kubelet.conf", "admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"):
        if os.path.exists(kfile(rel)):
            os.remove(kfile(rel))
    shutil.rmtree(kfile("pki"), ignore_errors=True)
    shutil.rmtree(kfile("manifests"), ignore_errors=True)
    print("[reset] Deleted contents of the etc directories: [/etc/kubernetes/manifests /etc/kubernetes/pki]")


def need_admin():
    if not os.path.exists(kfile("admin.conf")):
        raise Fail("failed to load admin kubeconfig: open /etc/kubernetes/admin.conf: no such file or directory")


def kubeadm(args):
    words = []
    for a in args:
        if a.startswith("-"):
            break
        words.append(a)
    log_call("kubeadm", " ".join(words))
    if args[:1] == ["init"] and args[1:3] == ["phase", "upload-certs"]:
        if "--upload-certs" not in args:
            print("[upload-certs] Skipping phase. Please see --upload-certs")
            return
        need_admin()
        with Cluster() as c:
            key = upload_certs(c)
            c.save()
        print("[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace")
        print("[upload-certs] Using certificate key:")
        print(key)
    elif args[:1] == ["init"]:
        kubeadm_init(args[1:])
    elif args[:1] == ["join"]:
        kubeadm_join(args[1:])
    elif args[:1] == ["reset"]:
        kubeadm_reset(args[1:])
    elif args[:2] == ["token", "create"]:
        if "--print-join-command" not in args:
            raise Fail("standin: only token create --print-join-command is implemented")
        need_admin()
        key = None
        if "--certificate-key" in args:
            key = args[args.index("--certificate-key") + 1]
            if not KEY_RE.match(key):
                raise Fail("invalid certificate key: must be 64 hex characters")
        with Cluster() as c:
            token = new_token(c)
            c.save()
            print(join_command(c, token, key))
    elif args[:3] == ["config", "validate", "--config"] or args[:2] == ["config", "validate"]:
        check_documents(config_arg(args))
        print("ok")
    else:
        raise Fail(f"unknown command {' '.join(args)!r} for \"kubeadm\"")


def kubectl(args):
    if "--kubeconfig" not in args:
        raise Fail("The connection to the server localhost:8080 was refused - did you specify the right host or port?")
    i = args.index("--kubeconfig")
    conf = args[i + 1]
    rest = args[:i] + args[i + 2:]
    log_call("kubectl", " ".join(rest[:1]))
    if not os.path.exists(conf):
        raise Fail(f"error: stat {conf}: no such file or directory")
    with Cluster() as c:
        with open(conf) as f:
            if f"standin-cluster-id: {c.data.get('id')}" not in f.read():
                raise Fail("error: You must be logged in to the server (Unauthorized)")
        members = c.data["members"]
        if rest[:2] == ["get", "nodes"]:
            items = []
            for name, m in sorted(members.items()):
                ready = m.get("kubelet") and time.time() >= m["ready_after"]
                items.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": m["labels"]},
                              "spec": {"taints": m["taints"]} if m["taints"] else {},
                              "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                         "reason": "KubeletReady" if ready else "KubeletNotReady"}]}})
            print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
            return
        if rest[:1] in (["label"], ["taint"], ["delete"]) and len(rest) >= 3 and rest[1] in ("node", "nodes"):
            name = rest[2]
            if name not in members:
                raise Fail(f'Error from server (NotFound): nodes "{name}" not found')
            if rest[0] == "delete":
                del members[name]
                c.save()
                print(f'node "{name}" deleted')
                return
            for spec in rest[3:]:
                if spec.startswith("--"):
                    continue
                if rest[0] == "label":
                    k, sep, v = spec.partition("=")
                    if not sep:
                        raise Fail(f"error: invalid label spec: {spec}")
                    members[name]["labels"][k] = v
                else:
                    kv, sep, effect = spec.rpartition(":")
                    if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                        raise Fail(f"error: invalid taint spec: {spec}")
                    k, _, v = kv.partition("=")
                    taint = {"key": k, "effect": effect}
                    if v:
                        taint["value"] = v
                    members[name]["taints"] = [t for t in members[name]["taints"] if (t["key"], t["effect"]) != (k, effect)] + [taint]
            c.save()
            print(f"node/{name} {'labeled' if rest[0] == 'label' else 'tainted'}")
            return
    raise Fail(f"standin kubectl: unsupported {' '.join(rest)!r}")


def crictl(args):
    if os.path.exists(os.path.join(os.path.dirname(KDIR.rstrip("/")), "runtime-down")):
        raise Fail('validate service connection: validate CRI v1 runtime API for endpoint "unix:///run/containerd/containerd.sock": rpc error: code = Unavailable desc = connection error')
    print(json.dumps({"status": {"conditions": [{"type": "RuntimeReady", "status": True}]}}))


def main():
    if len(sys.argv) < 2 or not STATE or not NODE:
        print("kubeadm-standin: needs TOOL and STANDIN_STATE/STANDIN_NODE (this is a test double)", file=sys.stderr)
        return 2
    tool, args = sys.argv[1], sys.argv[2:]
    try:
        {"kubeadm": kubeadm, "kubectl": kubectl, "crictl": crictl}[tool](args)
    except Fail as e:
        print(str(e), file=sys.stderr)
        return 1
    except KeyError:
        print(f"kubeadm-standin: unknown tool {tool!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
