#!/usr/bin/python3
"""TEST DOUBLE for kubeadm, kubectl, helm, crictl and curl. Never install this on a real host.

rackpipe's kubeadm-join tests cannot run kubeadm or a kubelet, so the test harness puts a
wrapper named `kubeadm` / `kubectl` / `helm` / `crictl` on each test node's PATH that runs:

    kubeadm-standin.py <kubeadm|kubectl|helm|crictl> ARGS...

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
- kubeadm `token create [--ttl D] --print-join-command` and `token delete [--] ID...` (deleted
  tokens no longer join; they are kept under `deleted_tokens` only for the tests' leak checks);
- kubectl (only what rackpipe runs): `get nodes -o json`, `label`/`taint`/`delete node` (parsed
  as pflag does: before `--` a word starting with `-` is a flag and an unknown one is an error,
  after `--` every word is an argument), `apply --server-side -f FILE` (the file must exist and hold YAML documents with apiVersion,
  kind and metadata.name; the kind must be built in or served by an applied CRD; a namespaced
  object needs its Namespace; prints `deployment.apps/NAME serverside-applied` lines),
  `wait --for=condition=Established crd/NAME...` and `get KIND NAME [-n NS] [--ignore-not-found]
  -o json`. Applied objects are kept in $STANDIN_STATE/objects.json. A URL is refused: rackpipe
  must apply the file it downloaded and checked;
- curl `-o FILE [--] URL`: the only URL that "exists" is Calico's tigera-operator.yaml, served as
  canned, deterministic bytes (Namespace, CRDs, operator Deployment as JSON documents): the
  double never touches the network; `helm pull --repo URL --version V --destination DIR CHART`
  writes a canned `DIR/CHART-V.tgz` (not a real archive: a marker line and the chart's
  coordinates). `tamper WORD` in $STANDIN_STATE/faults serves an altered copy of every artefact
  whose `NAME-VERSION` contains WORD (as a compromised mirror would); A node is Ready only once a CNI runs (the
  `operator.tigera.io/v1` Installation `default` and the tigera-operator Deployment are applied),
  and STANDIN_READY_DELAY seconds after it joined and after the CNI arrived;
- helm: `upgrade --install --namespace NS [--create-namespace] --kubeconfig FILE -f VALUES
  [--wait --timeout T] [--] RELEASE DIR/CHART-V.tgz` (only an archive `helm pull` wrote: the
  release records the chart, repository and version it came from; values must be a YAML
  mapping; `--wait` fails with helm's `context deadline exceeded` while no CNI runs) and
  `list -A -o json`; releases are kept in $STANDIN_STATE/helm.json;
- fault injection for addons: `apply-fail KIND/NAME` in $STANDIN_STATE/faults makes every server-side
  apply of that object fail with a Forbidden error from the "API server";
- time: now = wall clock + the seconds in $STANDIN_STATE/clock-offset (tests advance time there);
- every invocation is appended to $STANDIN_STATE/calls.log as `NODE TOOL VERB` (no secrets;
  `kubectl apply` adds the applied file's base name, `helm upgrade` the release).
"""

import fcntl
import importlib
import json
import os
import re
import shutil
import sys
import subprocess
import time


class _Lazy:
    """A module imported on first use: most calls (`kubectl get nodes`) need neither, and
    interpreter start-up is most of a call's cost."""

    def __init__(self, name):
        self._name, self._module = name, None

    def __getattr__(self, attr):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


yaml = _Lazy("yaml")
secrets = _Lazy("secrets")

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


def static_pods(action):
    """What the kubelet does with the control plane's static pods after kubeadm wrote (or
    removed) them: when a `kubelet-standin` executable is on PATH (the rackpipe lab puts one on
    its Kubernetes masters), run `kubelet-standin start|stop`, which starts or stops the node's
    etcd member. Without one, nothing runs (the stand-in's own tests)."""
    hook = shutil.which("kubelet-standin")
    if hook is None:
        return
    done = subprocess.run([hook, action], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        raise Fail(f"standin: kubelet-standin {action} failed: {done.stdout.strip()}")


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
    static_pods("start")
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
    if cp is not None:
        static_pods("start")
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
    static_pods("stop")
    print("[reset] Deleted contents of the etc directories: [/etc/kubernetes/manifests /etc/kubernetes/pki]")


def duration(text):
    """A Go duration as kubeadm takes it (`2h0m0s`, `90m`, `30s`), in seconds."""
    parts = re.findall(r"([0-9]+)([hms])", text or "")
    if not parts or "".join(n + u for n, u in parts) != text:
        raise Fail(f'invalid argument "{text}" for "--ttl" flag: time: invalid duration "{text}"')
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


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
        ttl = flag(args, "--ttl")
        ttl = duration(ttl) if ttl is not None else TOKEN_TTL
        key = None
        if "--certificate-key" in args:
            key = args[args.index("--certificate-key") + 1]
            if not KEY_RE.match(key):
                raise Fail("invalid certificate key: must be 64 hex characters")
        with Cluster() as c:
            token = new_token(c, ttl)
            c.save()
            print(join_command(c, token, key))
    elif args[:2] == ["token", "delete"]:
        need_admin()
        ids = [a for a in args[2:] if a != "--"]
        if not ids:
            raise Fail("missing subcommand; 'token delete' is missing token of form \"[a-z0-9]{6}\" or \"[a-z0-9]{6}\\.[a-z0-9]{16}\"")
        with Cluster() as c:
            for tid in ids:
                if not re.match(r"^[a-z0-9]{6}$", tid) and not TOKEN_RE.match(tid):
                    raise Fail(f'given token didn\'t match pattern "[a-z0-9]{{6}}" or "[a-z0-9]{{6}}\\.[a-z0-9]{{16}}"')
                tid = tid.split(".")[0]
                gone = [t for t in c.data["tokens"] if t["token"].split(".")[0] == tid]
                if not gone:
                    raise Fail(f'secrets "bootstrap-token-{tid}" not found')
                c.data["tokens"] = [t for t in c.data["tokens"] if t not in gone]
                # Kept only so tests can check no deleted token leaked into a document.
                c.data.setdefault("deleted_tokens", []).extend(gone)
                print(f'bootstrap token "{tid}" deleted')
            c.save()
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
    verb = " ".join(rest[:1])
    if verb == "apply":
        # Which file (or URL) was applied: tests check the order of addons.
        verb += " " + os.path.basename(flag(rest, "-f") or flag(rest, "--filename") or "")
    log_call("kubectl", verb)
    if not os.path.exists(conf):
        raise Fail(f"error: stat {conf}: no such file or directory")
    with Cluster() as c:
        with open(conf) as f:
            if f"standin-cluster-id: {c.data.get('id')}" not in f.read():
                raise Fail("error: You must be logged in to the server (Unauthorized)")
        members = c.data["members"]
        cni_at = c.data.get("cni_at")
        if rest[:2] == ["get", "nodes"]:
            items = []
            for name, m in sorted(members.items()):
                ready = bool(m.get("kubelet")) and cni_at is not None \
                    and time.time() >= max(m["ready_after"], cni_at + READY_DELAY)
                items.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": m["labels"]},
                              "spec": {"taints": m["taints"]} if m["taints"] else {},
                              "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                         "reason": "KubeletReady" if ready else "KubeletNotReady"}]}})
            print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
            return
        if rest[:1] in (["label"], ["taint"], ["delete"]):
            words, flags = positional(rest[1:], {"--overwrite"})
            if len(words) < 2 or words[0] not in ("node", "nodes"):
                raise Fail(f"standin kubectl: unsupported {' '.join(rest)!r}")
            name = words[1]
            if name not in members:
                raise Fail(f'Error from server (NotFound): nodes "{name}" not found')
            if rest[0] == "delete":
                del members[name]
                c.save()
                print(f'node "{name}" deleted')
                return
            for spec in words[2:]:
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
        if rest[:1] == ["apply"]:
            kubectl_apply(c, rest[1:])
            return
        if rest[:1] == ["wait"]:
            kubectl_wait(rest[1:])
            return
        if rest[:1] == ["get"]:
            kubectl_get(rest[1:])
            return
    raise Fail(f"standin kubectl: unsupported {' '.join(rest)!r}")


# ---------------------------------------------------------------- API objects (kubectl apply, helm)

# (apiVersion, kind) -> (resource plural, namespaced) of the built-in kinds rackpipe applies.
BUILTIN = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Service"): ("services", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "DaemonSet"): ("daemonsets", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("storage.k8s.io/v1", "StorageClass"): ("storageclasses", False),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("customresourcedefinitions", False),
}
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
TIGERA_URL = re.compile(r"^https://raw\.githubusercontent\.com/projectcalico/calico/(v[0-9]+\.[0-9]+\.[0-9]+)/manifests/tigera-operator\.yaml$")


def crd(plural, group, kind, scope="Cluster"):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "names": {"plural": plural, "kind": kind}, "scope": scope,
                     "versions": [{"name": "v1", "served": True, "storage": True}]}}


def artifact(kind, name, version, source):
    """The canned bytes the double "downloads" (deterministic, so a site can pin their sha256).
    `tamper WORD` in the faults serves an altered copy of every artefact whose name has WORD."""
    if kind == "manifest":
        body = "".join("---\n" + json.dumps(d, sort_keys=True) + "\n" for d in tigera_operator(version))
        head = f"# TEST DOUBLE: canned tigera-operator.yaml {version} ({source})\n"
    else:
        head = f"# TEST DOUBLE: canned chart archive {name}-{version}.tgz ({source})\n"
        body = json.dumps({"chart": name, "version": version, "repo": source}, sort_keys=True) + "\n"
    text = head + body
    if any(p[:1] == ["tamper"] and len(p) > 1 and p[1] in f"{name}-{version}" for p in faults()):
        text = text.replace("quay.io/tigera/operator", "quay.io/evil/operator") + "# tampered\n"
    return text.encode()


def curl(args):
    """curl -fsSL ... -o FILE [--] URL: only the pinned tigera-operator.yaml URL "exists"."""
    out, url, i = None, None, 0
    takes_value = {"-o", "--output", "--proto", "--max-redirs", "--max-filesize", "--max-time"}
    while i < len(args):
        a = args[i]
        if a == "--":
            url = args[i + 1] if i + 1 < len(args) else None
            break
        if a in takes_value:
            if a in ("-o", "--output"):
                out = args[i + 1]
            i += 2
            continue
        if not a.startswith("-"):
            url = a
        i += 1
    log_call("curl", os.path.basename(url or ""))
    if not out or not url:
        raise Fail("curl: standin: rackpipe downloads with -o FILE URL")
    m = TIGERA_URL.match(url)
    if not m:
        raise Fail(f"curl: (22) The requested URL returned error: 404")
    with open(out, "wb") as f:
        f.write(artifact("manifest", "tigera-operator", m.group(1), url))


def helm_pull(args):
    words, i = [], 1
    takes_value = {"--repo", "--version", "--destination", "-d"}
    while i < len(args):
        if args[i] in takes_value:
            i += 2
            continue
        if not args[i].startswith("-"):
            words.append(args[i])
        i += 1
    log_call("helm", "pull " + " ".join(words))
    repo, version, dest = flag(args, "--repo"), flag(args, "--version"), flag(args, "--destination") or "."
    if len(words) != 1:
        raise Fail(f"Error: \"helm pull\" requires at least 1 argument")
    chart = words[0]
    if not repo or not repo.startswith("https://"):
        raise Fail(f"standin: rackpipe must name the chart repository with --repo https://... (got {repo!r})")
    if not version or not re.match(r"^v?[0-9]+\.[0-9]+\.[0-9]+$", version):
        raise Fail(f"standin: rackpipe must pin --version (got {version!r})")
    with open(os.path.join(dest, f"{chart}-{version}.tgz"), "wb") as f:
        f.write(artifact("chart", chart, version, repo))


def tigera_operator(version):
    """The objects of tigera-operator.yaml that matter here (the real file has ~20 CRDs)."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tigera-operator"}},
        crd("installations", "operator.tigera.io", "Installation"),
        crd("apiservers", "operator.tigera.io", "APIServer"),
        crd("ippools", "crd.projectcalico.org", "IPPool"),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tigera-operator", "namespace": "tigera-operator"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "tigera-operator", "namespace": "tigera-operator"},
         "spec": {"template": {"spec": {"containers": [{"name": "tigera-operator", "image": f"quay.io/tigera/operator:{version}"}]}}}},
    ]


class Objects:
    """objects.json: key "apiVersion|kind|namespace|name" -> object. Used under the Cluster lock."""

    def __init__(self):
        self.path = os.path.join(STATE, "objects.json")
        self.data = {}
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.data = json.load(f)

    def save(self):
        with open(self.path + ".tmp", "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(self.path + ".tmp", self.path)

    def crds(self):
        return {o["metadata"]["name"]: o for o in self.data.values() if o.get("kind") == "CustomResourceDefinition"}

    def kind_info(self, api_version, kind):
        """(resource, group, namespaced) or None when the API server does not serve the kind."""
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        if (api_version, kind) in BUILTIN:
            resource, namespaced = BUILTIN[(api_version, kind)]
            return resource, group, namespaced
        for c in self.crds().values():
            spec = c["spec"]
            if spec["group"] == group and spec["names"]["kind"] == kind:
                return spec["names"]["plural"], group, spec.get("scope") == "Namespaced"
        return None

    def namespace_exists(self, ns):
        return ns in INITIAL_NAMESPACES or f"v1|Namespace||{ns}" in self.data

    def find(self, resource, name, ns):
        for key, o in self.data.items():
            av, kind, ons, oname = key.split("|")
            info = self.kind_info(av, kind)
            if info is None or oname != name:
                continue
            names = {info[0], kind.lower(), f"{info[0]}.{info[1]}", f"{kind.lower()}.{info[1]}"}
            if resource in names and (not info[2] or ons == ns):
                return o
        return None


def cni_running(objs):
    return "operator.tigera.io/v1|Installation||default" in objs.data \
        and "apps/v1|Deployment|tigera-operator|tigera-operator" in objs.data


def positional(args, known_flags):
    """(positional words, flags) of a kubectl command line after its verb, as cobra/pflag parse
    it: before `--` a word starting with `-` is a flag (an unknown one is an error), after `--`
    every word is positional."""
    words, flags, i = [], [], 0
    while i < len(args):
        a = args[i]
        if a == "--":
            words.extend(args[i + 1:])
            break
        if a.startswith("-") and len(a) > 1:
            if a.split("=", 1)[0] not in known_flags:
                name = a.lstrip("-").split("=", 1)[0]
                raise Fail(f"error: unknown {'flag: --' if a.startswith('--') else 'shorthand flag: '}{name if a.startswith('--') else repr(name[0])} in {a}")
            flags.append(a)
        else:
            words.append(a)
        i += 1
    return words, flags


def flag(args, name, default=None):
    """--name VALUE or --name=VALUE."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


def load_documents(path):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise Fail(f'error: the path "{path}" does not exist')
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise Fail(f"error: error parsing {path}: error converting YAML to JSON: {str(e).splitlines()[0]}")
    for d in docs:
        if not isinstance(d, dict):
            raise Fail(f"error: error parsing {path}: error unmarshaling JSON: json: cannot unmarshal into Go value of type map[string]interface {{}}")
        missing = [f for f in ("apiVersion", "kind") if not d.get(f)]
        if missing:
            raise Fail(f'error: error validating "{path}": error validating data: [{", ".join(m + " not set" for m in missing)}]; if you choose to ignore these errors, turn validation off with --validate=false')
        if not (d.get("metadata") or {}).get("name"):
            raise Fail(f'error: error when retrieving current configuration of: Resource: "{d["kind"].lower()}", Name: "", Namespace: "" from server for: "{path}": resource name may not be empty')
    return docs


def kubectl_apply(c, args):
    if "--server-side" not in args:
        raise Fail("standin: rackpipe must apply with --server-side")
    source = flag(args, "-f") or flag(args, "--filename")
    if not source:
        raise Fail("error: must specify one of -f and -k")
    if source.startswith(("http://", "https://")):
        # Real kubectl fetches URLs itself; rackpipe must apply only the file it downloaded and
        # checked against its pin, so the double refuses URLs.
        raise Fail(f"standin: rackpipe must apply a downloaded, checksum-verified file, not the URL {source}")
    docs, origin = load_documents(source), source
    objs = Objects()
    fail = {p[1] for p in faults() if p[:1] == ["apply-fail"] and len(p) > 1}
    errors = []
    for d in docs:
        av, kind, meta = d["apiVersion"], d["kind"], d["metadata"]
        info = objs.kind_info(av, kind)
        if info is None:
            errors.append(f'error: resource mapping not found for name: "{meta["name"]}" namespace: "{meta.get("namespace", "")}" from "{origin}": no matches for kind "{kind}" in version "{av}"\nensure CRDs are installed first')
            continue
        resource, group, namespaced = info
        ns = meta.get("namespace", "default") if namespaced else ""
        if namespaced and not objs.namespace_exists(ns):
            errors.append(f'Error from server (NotFound): error when creating "{origin}": namespaces "{ns}" not found')
            continue
        if f"{kind}/{meta['name']}" in fail:
            errors.append(f'Error from server (Forbidden): error when applying patch to "{origin}": {resource}{"." + group if group else ""} "{meta["name"]}" is forbidden: standin fault injected')
            continue
        stored = json.loads(json.dumps(d))
        if namespaced:
            stored["metadata"].setdefault("namespace", ns)
        stored["metadata"]["managedFields"] = [{"manager": flag(args, "--field-manager", "kubectl"), "operation": "Apply"}]
        objs.data[f"{av}|{kind}|{ns}|{meta['name']}"] = stored
        print(f"{kind.lower()}{'.' + group if group else ''}/{meta['name']} serverside-applied")
    objs.save()
    if cni_running(objs) and c.data.get("cni_at") is None:
        c.data["cni_at"] = time.time()
        c.save()
    if errors:
        raise Fail("\n".join(errors))


def kubectl_wait(args):
    cond = flag(args, "--for")
    if cond != "condition=Established":
        raise Fail(f"standin: unsupported wait --for {cond!r}")
    objs = Objects()
    crds = objs.crds()
    for a in args:
        if a.startswith("crd/"):
            name = a[4:]
            if name not in crds:
                raise Fail(f'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "{name}" not found')
            print(f"customresourcedefinition.apiextensions.k8s.io/{name} condition met")


def kubectl_get(args):
    words = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] not in ("-n", "--namespace", "-o", "--output"))]
    if len(words) != 2 or flag(args, "-o") != "json":
        raise Fail(f"standin kubectl: unsupported get {' '.join(args)!r}")
    resource, name = words
    ns = flag(args, "-n") or flag(args, "--namespace") or "default"
    obj = Objects().find(resource, name, ns)
    if obj is None:
        if "--ignore-not-found" in args:
            return
        raise Fail(f'Error from server (NotFound): {resource} "{name}" not found')
    print(json.dumps(obj, indent=4))


def helm(args):
    if args[:1] == ["pull"]:
        helm_pull(args)
        return
    release_word = args[args.index("--") + 1:][:1] if "--" in args else [a for a in args[2:] if not a.startswith("-")][:1]
    log_call("helm", " ".join(args[:1] + (release_word if args[:2] == ["upgrade", "--install"] else [])))
    conf = flag(args, "--kubeconfig")
    if not conf or not os.path.exists(conf or ""):
        raise Fail(f"Error: Kubernetes cluster unreachable: stat {conf}: no such file or directory")
    path = os.path.join(STATE, "helm.json")
    with Cluster() as c:
        with open(conf) as f:
            if f"standin-cluster-id: {c.data.get('id')}" not in f.read():
                raise Fail("Error: Kubernetes cluster unreachable: the server has asked for the client to provide credentials")
        releases = {}
        if os.path.exists(path):
            with open(path) as f:
                releases = json.load(f)
        if args[:1] == ["list"]:
            if flag(args, "-o") != "json":
                raise Fail("standin helm: only list -o json")
            print(json.dumps([{"name": r["name"], "namespace": r["namespace"], "revision": str(r["revision"]),
                               "status": "deployed", "chart": f"{r['chart']}-{r['version']}"} for r in releases.values()]))
            return
        if args[:2] != ["upgrade", "--install"]:
            raise Fail(f"standin helm: unsupported {' '.join(args)!r} (rackpipe runs upgrade --install)")
        words, i = [], 2
        takes_value = {"--repo", "--version", "--namespace", "-n", "--kubeconfig", "-f", "--values", "--timeout"}
        while i < len(args):
            if args[i] in takes_value:
                i += 2
                continue
            if not args[i].startswith("-"):
                words.append(args[i])
            i += 1
        if len(words) != 2:
            raise Fail(f"Error: \"helm upgrade\" requires 2 arguments\n\nUsage:  helm upgrade [RELEASE] [CHART] [flags]")
        release, chart = words
        ns = flag(args, "--namespace") or flag(args, "-n") or "default"
        # rackpipe installs the archive it pulled and checked, never a chart helm resolves.
        if not chart.endswith(".tgz") or not os.path.isfile(chart):
            raise Fail(f"standin: rackpipe must install the pulled, checksum-verified chart archive (got {chart!r})")
        with open(chart) as f:
            lines = f.read().splitlines()
        try:
            meta = json.loads(lines[1])
        except (IndexError, ValueError):
            raise Fail(f"Error: file '{chart}' does not appear to be a gzipped archive; got 'application/octet-stream'")
        chart, repo, version = meta["chart"], meta["repo"], meta["version"]
        values_path = flag(args, "-f") or flag(args, "--values")
        if not values_path:
            raise Fail("standin: rackpipe passes its rendered values with -f")
        try:
            with open(values_path) as f:
                values = yaml.safe_load(f)
        except FileNotFoundError:
            raise Fail(f"Error: open {values_path}: no such file or directory")
        except yaml.YAMLError as e:
            raise Fail(f"Error: failed to parse {values_path}: error converting YAML to JSON: {str(e).splitlines()[0]}")
        if not isinstance(values, dict):
            raise Fail(f"Error: failed to parse {values_path}: error unmarshaling JSON: json: cannot unmarshal into Go value of type map[string]interface {{}}")
        objs = Objects()
        if not objs.namespace_exists(ns):
            if "--create-namespace" not in args:
                raise Fail(f'Error: create: failed to create: namespaces "{ns}" not found')
            objs.data[f"v1|Namespace||{ns}"] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            objs.save()
        if "--wait" in args and not cni_running(objs):
            raise Fail(f"Error: UPGRADE FAILED: context deadline exceeded" if f"{ns}/{release}" in releases
                       else "Error: INSTALLATION FAILED: context deadline exceeded")
        old = releases.get(f"{ns}/{release}")
        revision = old["revision"] + 1 if old else 1
        releases[f"{ns}/{release}"] = {"name": release, "namespace": ns, "chart": chart, "repo": repo,
                                       "version": version, "values": values, "revision": revision}
        with open(path + ".tmp", "w") as f:
            json.dump(releases, f, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)
    if old:
        print(f'Release "{release}" has been upgraded. Happy Helming!')
    else:
        print(f'Release "{release}" does not exist. Installing it now.')
    print(f"NAME: {release}\nLAST DEPLOYED: {time.strftime('%a %b %e %H:%M:%S %Y')}\nNAMESPACE: {ns}\n"
          f"STATUS: deployed\nREVISION: {revision}\nTEST SUITE: None")


def crictl(args):
    if os.path.exists(os.path.join(os.path.dirname(KDIR.rstrip("/")), "runtime-down")):
        raise Fail('validate service connection: validate CRI v1 runtime API for endpoint "unix:///run/containerd/containerd.sock": rpc error: code = Unavailable desc = connection error')
    print(json.dumps({"status": {"conditions": [{"type": "RuntimeReady", "status": True}]}}))


def main():
    if len(sys.argv) < 2 or not STATE or not NODE:
        print("kubeadm-standin: needs TOOL and STANDIN_STATE/STANDIN_NODE (this is a test double)", file=sys.stderr)
        return 2
    tool, args = sys.argv[1], sys.argv[2:]
    run = {"kubeadm": kubeadm, "kubectl": kubectl, "helm": helm, "crictl": crictl, "curl": curl}.get(tool)
    if run is None:
        print(f"kubeadm-standin: unknown tool {tool!r}", file=sys.stderr)
        return 2
    try:
        run(args)
    except Fail as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
