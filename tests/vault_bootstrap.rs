//! `vault-bootstrap` end to end, the real binary against a real 3-node OpenBao raft cluster on
//! loopback (TLS from a throwaway CA made with openssl): render → start the nodes from the
//! rendered configs → init → unseal → status → plan → apply → empty plan (root token and a
//! GitLab-shaped JWT) → stale plan refused → wrong keys → unreachable node. No unseal key, root
//! token or JWT may appear in anything the binary prints.
#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rackpipe_testkit::{ChildGuard, free_port, temp_dir, wait_until};
use serde_json::{Value, json};

use crate::support::{self, Output};

const TOOL: &str = "vault-bootstrap";
const NODES: usize = 3;

/// Every run's output, kept for the final secret scan.
#[derive(Default)]
struct Runs {
    printed: Vec<(String, String)>,
}

impl Runs {
    /// Runs the binary with extra environment variables.
    fn run<S: AsRef<str>>(&mut self, args: &[S], env: &[(&str, &str)]) -> Output {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let mut cmd = Command::new(support::bin(TOOL));
        cmd.args(&args)
            .current_dir(support::root())
            .env_remove("RACKPIPE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run vault-bootstrap");
        let output = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !output.stderr.contains("panicked"),
            "{TOOL} {args:?} panicked:\n{}",
            output.stderr
        );
        self.printed.push((
            format!("{args:?}"),
            format!("{}\n{}", output.stdout, output.stderr),
        ));
        output
    }

    /// Runs and expects `code`, showing everything otherwise.
    fn expect<S: AsRef<str>>(&mut self, code: i32, args: &[S], env: &[(&str, &str)]) -> Output {
        let out = self.run(args, env);
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        assert_eq!(
            out.code, code,
            "{TOOL} {args:?}\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        out
    }
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The GitLab the runners of `tests/sites/minimal.yaml` use: the ID tokens' issuer.
const GITLAB_URL: &str = "https://gitlab.example.invalid";

/// An RS256 JWT shaped like a GitLab CI `id_tokens` token, signed with openssl.
fn gitlab_jwt(dir: &Path, audience: &str, project_path: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": GITLAB_URL, "aud": audience,
        "sub": format!("project_path:{project_path}:ref_type:branch:ref:main"),
        "iat": now, "nbf": now - 5, "exp": now + 300,
        "project_id": "42", "project_path": project_path, "namespace_path": "mini",
        "ref": "main", "ref_type": "branch", "ref_protected": "true", "pipeline_source": "push",
        "user_login": "ci", "user_email": "ci@mini.test",
    });
    let input = format!(
        "{}.{}",
        b64url(br#"{"alg":"RS256","typ":"JWT","kid":"test"}"#),
        b64url(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign", "jwt.key"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl dgst");
    format!("{input}.{}", b64url(&out.stdout))
}

/// tests/sites/minimal.yaml (valid in every section) with a `vault` section for loopback:
/// free ports, TLS from `dir`, a small desired state (KV, an EC root CA with a role, policies,
/// GitLab JWT with a local key, an AppRole).
fn write_site(dir: &Path, ports: &[(u16, u16)], jwt_pub: &str) -> PathBuf {
    let text = std::fs::read_to_string(support::root().join("tests/sites/minimal.yaml")).unwrap();
    let mut site: Value = serde_saphyr::from_str(&text).unwrap();
    let nodes: Vec<Value> = ports
        .iter()
        .enumerate()
        .map(|(i, (api, cluster))| {
            json!({"name": format!("vault-{}", i + 1), "guest": format!("vault-{}", i + 1),
                   "api_port": api, "cluster_port": cluster})
        })
        .collect();
    // The load balancer reaches each node on the port it listens on (validate checks that).
    if let Some(services) = site["load_balancer"]["services"].as_array_mut() {
        for backend in services
            .iter_mut()
            .filter_map(|s| s["backends"].as_array_mut())
            .flatten()
        {
            let node = backend["target"]
                .as_str()
                .and_then(|t| t.strip_prefix("vault-"));
            if let Some((api, _)) = node
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| ports.get(n - 1))
            {
                backend["port"] = json!(api);
            }
        }
    }
    // Vault accepts ID tokens from the GitLab the runners use (validate checks that).
    assert_eq!(site["runners"]["gitlab_url"], GITLAB_URL);
    let path = |f: &str| dir.join(f).display().to_string();
    site["vault"] = json!({
        "fqdn": "vault.mini.test",
        "implementation": "openbao",
        "nodes": nodes,
        // Vault's paths are absolute (the site rule); each node's directory replaces /node-dir.
        "storage": {"backend": "raft", "path": "/node-dir/data", "performance_multiplier": 1},
        "tls": {"cert_file": path("cert.pem"), "key_file": path("key.pem"), "ca_file": path("ca.pem")},
        "seal": {"shares": 3, "threshold": 2},
        "audit": [{"name": "file", "file": "/node-dir/audit.log"}],
        "mounts": [
            {"path": "kv", "type": "kv-v2", "description": "CI secrets"},
            {"path": "pki", "type": "pki", "max_lease_ttl": "87600h"},
        ],
        "pki": [{
            "mount": "pki", "common_name": "mini.test Test Root CA", "key_type": "ec",
            "key_bits": 256, "ttl": "87600h",
            "roles": [{"name": "server", "allowed_domains": ["mini.test"],
                       "allow_subdomains": true, "ttl": "24h", "max_ttl": "72h"}],
        }],
        "policies": [
            {"name": "ci-read", "paths": {"kv/data/ci/*": ["read", "list"]}},
            {"name": "bootstrap", "hcl":
                "path \"*\" {\n  capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\", \"sudo\"]\n}\n"},
        ],
        "auth": {
            "gitlab_jwt": {
                "path": "gitlab",
                "issuer": GITLAB_URL,
                "validation_pubkeys": [jwt_pub],
                "roles": [{"name": "bootstrap", "bound_audiences": ["https://vault.mini.test"],
                           "project_paths": ["mini/infra"], "protected_refs_only": true,
                           "policies": ["bootstrap"], "token_ttl": "10m"}],
            },
            "approles": [{"name": "backup", "policies": ["ci-read"], "token_ttl": "1h"}],
        },
    });
    let file = dir.join("site.json");
    std::fs::write(&file, serde_json::to_string_pretty(&site).unwrap()).unwrap();
    file
}

struct Node {
    dir: PathBuf,
    api: u16,
    _guard: ChildGuard,
}

fn node_log(node: &Node) -> String {
    std::fs::read_to_string(node.dir.join("server.log")).unwrap_or_default()
}

fn states(status: &Value) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for n in status["nodes"].as_array().unwrap() {
        *counts
            .entry(n["state"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

/// The one human line on stderr for a failed command.
fn error_line(out: &Output) -> &str {
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("vault-bootstrap: error: "))
        .unwrap_or_else(|| panic!("no error line on stderr:\n{}", out.stderr));
    assert_eq!(out.json()["kind"], "Error", "{}", out.stdout);
    line
}

#[test]
fn vault_bootstrap_against_openbao() {
    let Some(bao) = rackpipe_testkit::require_tool("bao") else {
        return;
    };
    if rackpipe_testkit::require_tool("openssl").is_none() {
        return;
    }
    let started = Instant::now();
    let tmp = temp_dir();
    let dir = tmp.path();
    let _ = rackpipe_testkit::loopback_tls(dir);
    rackpipe_testkit::openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "jwt.key",
        ],
    );
    rackpipe_testkit::openssl(
        dir,
        &["pkey", "-pubout", "-in", "jwt.key", "-out", "jwt.pub"],
    );
    let jwt_pub = std::fs::read_to_string(dir.join("jwt.pub")).unwrap();
    let ports: Vec<(u16, u16)> = (0..NODES).map(|_| (free_port(), free_port())).collect();
    let site_file = write_site(dir, &ports, &jwt_pub);
    let site = site_file.to_str().unwrap();
    let mut runs = Runs::default();

    // validate and render, then start each node from its rendered config: only the names and
    // the wildcard listener are pointed at loopback (what DNS and the host would provide).
    runs.expect(0, &["validate", site], &[]);
    let out_dir = dir.join("rendered");
    let rendered = runs.expect(
        0,
        &["render", site, "--out", out_dir.to_str().unwrap()],
        &[],
    );
    let doc = rendered.json();
    assert_eq!(doc["kind"], "RenderOutput");
    assert_eq!(doc["files"].as_array().unwrap().len(), NODES);
    assert_eq!(doc["desired"]["mounts"].as_array().unwrap().len(), 2);
    let mut nodes = Vec::new();
    for (i, (api, _)) in ports.iter().enumerate() {
        let name = format!("vault-{}", i + 1);
        let config = out_dir.join(&name).join("etc/openbao/openbao.hcl");
        let mut text = std::fs::read_to_string(&config)
            .unwrap_or_else(|e| panic!("{}: {e}", config.display()));
        assert!(text.contains("retry_join"), "{text}");
        assert!(text.contains(&format!("\"0.0.0.0:{api}\"")), "{text}");
        text = text.replace("0.0.0.0", "127.0.0.1");
        for n in 1..=NODES {
            text = text.replace(&format!("vault-{n}.mini.test"), "127.0.0.1");
        }
        assert!(!text.contains("mini.test"), "{text}");
        let node_dir = dir.join(&name);
        text = text.replace("/node-dir", node_dir.to_str().unwrap());
        std::fs::create_dir_all(node_dir.join("data")).unwrap();
        std::fs::write(node_dir.join("server.hcl"), text).unwrap();
        let log = std::fs::File::create(node_dir.join("server.log")).unwrap();
        let child = Command::new(&bao)
            .args(["server", "-config=server.hcl", "-log-level=info"])
            .current_dir(&node_dir)
            .env("HOME", &node_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn bao server");
        nodes.push(Node {
            dir: node_dir,
            api: *api,
            _guard: ChildGuard::new(name, child),
        });
    }
    for node in &nodes {
        let up = wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", node.api)).is_ok()
        });
        assert!(
            up,
            "bao did not listen on {}:\n{}",
            node.api,
            node_log(node)
        );
    }

    let ca = dir.join("ca.pem");
    let mut conn: Vec<String> = vec!["--ca-file".into(), ca.display().to_string()];
    for (i, node) in nodes.iter().enumerate() {
        conn.push("--node".into());
        conn.push(format!("vault-{}=https://127.0.0.1:{}", i + 1, node.api));
    }
    let with = |verb: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec![verb.to_owned(), site.to_owned()];
        args.extend(conn.iter().cloned());
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    // Fresh: every node uninitialized.
    let st = runs.expect(0, &with("status", &[]), &[]).json();
    assert_eq!(st["kind"], "VaultStatus");
    assert_eq!(states(&st).get("uninitialized"), Some(&NODES), "{st}");

    // init with one node not answering (a dead loopback port, as if partitioned): refused in
    // one line naming it, exit 75, nothing initialised, no keys file.
    let dead = format!(
        "vault-3=https://127.0.0.1:{}",
        rackpipe_testkit::free_port()
    );
    let mut split = vec!["init".to_owned(), site.to_owned()];
    split.extend(conn.iter().take(conn.len() - 2).cloned());
    split.extend(["--node".to_owned(), dead]);
    let refused = dir.join("refused-keys.json");
    split.extend(["--keys-file".to_owned(), refused.display().to_string()]);
    let out = runs.expect(75, &split, &[]);
    let line = error_line(&out);
    assert!(
        line.contains("vault-3: unreachable") && line.contains("init refused"),
        "{line}"
    );
    assert!(!refused.exists(), "a refused init leaves no keys file");
    let st = runs.expect(0, &with("status", &[]), &[]).json();
    assert_eq!(states(&st).get("uninitialized"), Some(&NODES), "{st}");

    // init: keys to a new 0600 file, nothing secret printed; an existing file and a second
    // init are refused.
    let keys_file = dir.join("keys.json");
    let kf = keys_file.to_str().unwrap();
    let init = runs
        .expect(0, &with("init", &["--keys-file", kf]), &[])
        .json();
    assert_eq!(init["kind"], "VaultInit", "{init}");
    assert_eq!(init["keys_file"], kf);
    assert_eq!(init["shares"], 3);
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&keys_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "keys file mode");
    }
    let secrets: Value =
        serde_json::from_str(&std::fs::read_to_string(&keys_file).unwrap()).unwrap();
    let keys: Vec<String> = secrets["keys_base64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let root_token = secrets["root_token"].as_str().unwrap().to_owned();
    assert_eq!(keys.len(), 3);
    assert!(!root_token.is_empty());
    let out = runs.expect(1, &with("init", &["--keys-file", kf]), &[]);
    assert!(
        error_line(&out).contains("already exists"),
        "{}",
        out.stderr
    );
    let kf2 = dir.join("keys2.json");
    let out = runs.expect(
        1,
        &with("init", &["--keys-file", kf2.to_str().unwrap()]),
        &[],
    );
    assert!(
        error_line(&out).contains("already initialized"),
        "{}",
        out.stderr
    );
    assert!(!kf2.exists(), "a refused init leaves no keys file");
    let out = runs.expect(1, &with("init", &[]), &[]);
    assert!(
        error_line(&out).contains("refusing to return them in plaintext"),
        "{}",
        out.stderr
    );

    // Wrong keys: exit 1, one clear line.
    let wrong = {
        use base64::Engine as _;
        let e = &base64::engine::general_purpose::STANDARD;
        format!("{},{}", e.encode([7u8; 33]), e.encode([9u8; 33]))
    };
    let out = runs.expect(
        1,
        &with("unseal", &["--keys-env", "WRONG_KEYS"]),
        &[("WRONG_KEYS", wrong.as_str())],
    );
    let line = error_line(&out);
    assert!(line.contains("unseal failed"), "{line}");
    assert!(!line.contains(&wrong[..20]), "{line}");

    // Unseal from the file (trace logging on: the scan below covers the logs), then again
    // from the environment: idempotent.
    let out = runs.expect(0, &with("unseal", &["--keys-file", kf, "-vvv"]), &[]);
    assert!(out.stderr.contains("sys/unseal"), "{}", out.stderr);
    let unsealed = out.json();
    assert_eq!(unsealed["kind"], "VaultUnseal", "{unsealed}");
    let key_env = keys[1..].join("\n");
    let again = runs
        .expect(
            0,
            &with("unseal", &["--keys-env", "UNSEAL_KEYS"]),
            &[("UNSEAL_KEYS", key_env.as_str())],
        )
        .json();
    for n in again["nodes"].as_array().unwrap() {
        assert_eq!(n["before"], n["after"], "idempotent: {again}");
    }

    // status: one active, two standby, three raft peers (with the token).
    let st = runs
        .expect(0, &with("status", &["--token-file", kf]), &[])
        .json();
    let counts = states(&st);
    assert_eq!(counts.get("active"), Some(&1), "{st}");
    assert_eq!(counts.get("standby"), Some(&2), "{st}");
    assert_eq!(st["raft_peers"].as_array().unwrap().len(), NODES, "{st}");

    // plan: changes (exit 2); apply exactly that plan; the next plan is empty (exit 0).
    let report = dir.join("report.json");
    let planned = runs.expect(
        2,
        &with(
            "plan",
            &[
                "--token-file",
                kf,
                "--detailed-exitcode",
                "--report",
                report.to_str().unwrap(),
            ],
        ),
        &[],
    );
    let plan = planned.json();
    assert_eq!(plan["kind"], "Plan");
    let created = plan["summary"]["create"].as_u64().unwrap();
    assert!(created >= 8, "{}", plan["summary"]);
    let gitlab: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(gitlab["create"], created);
    let plan_file = dir.join("plan.json");
    std::fs::write(&plan_file, &planned.stdout).unwrap();
    let pf = plan_file.to_str().unwrap();
    let applied = runs
        .expect(
            0,
            &with("apply", &["--plan", pf, "--token-env", "ROOT", "-vvv"]),
            &[("ROOT", root_token.as_str())],
        )
        .json();
    assert_eq!(applied["kind"], "ApplyResult", "{applied}");
    assert_eq!(applied["summary"]["create"], created, "{applied}");
    let empty = runs
        .expect(
            0,
            &with("plan", &["--token-env", "ROOT", "--detailed-exitcode"]),
            &[("ROOT", root_token.as_str())],
        )
        .json();
    assert_eq!(empty["summary"]["create"], 0, "{empty}");
    assert!(empty["changes"].as_array().unwrap().is_empty(), "{empty}");

    // The CI path: a GitLab id_token logs in through the JWT role the apply created.
    let jwt = gitlab_jwt(dir, "https://vault.mini.test", "mini/infra");
    runs.expect(
        0,
        &with(
            "plan",
            &[
                "--jwt-env",
                "CI_JOB_JWT",
                "--jwt-role",
                "bootstrap",
                "--detailed-exitcode",
            ],
        ),
        &[("CI_JOB_JWT", jwt.as_str())],
    );
    let other = gitlab_jwt(dir, "https://vault.mini.test", "someone/else");
    let out = runs.expect(
        1,
        &with(
            "plan",
            &["--jwt-env", "CI_JOB_JWT", "--jwt-role", "bootstrap"],
        ),
        &[("CI_JOB_JWT", other.as_str())],
    );
    assert!(
        error_line(&out).contains("auth/gitlab/login"),
        "{}",
        out.stderr
    );

    // The old plan is stale now: refused, nothing written.
    let out = runs.expect(1, &with("apply", &["--plan", pf, "--token-file", kf]), &[]);
    assert!(
        error_line(&out)
            .contains("stale plan: the cluster changed since the plan was made; run plan again"),
        "{}",
        out.stderr
    );

    // A plan made for another version of the site is refused as well.
    let mut changed: Value =
        serde_json::from_str(&std::fs::read_to_string(&site_file).unwrap()).unwrap();
    changed["vault"]["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"path": "kv2", "type": "kv-v2"}));
    let changed_file = dir.join("site-changed.json");
    std::fs::write(&changed_file, changed.to_string()).unwrap();
    let mut args = with("plan", &["--token-file", kf]);
    args[1] = changed_file.display().to_string();
    let newer = runs.expect(0, &args, &[]);
    std::fs::write(&plan_file, &newer.stdout).unwrap();
    let out = runs.expect(1, &with("apply", &["--plan", pf, "--token-file", kf]), &[]);
    assert!(
        error_line(&out)
            .contains("stale plan: the site changed since the plan was made; run plan again"),
        "{}",
        out.stderr
    );

    // Unreachable: a node on a closed port (unseal) and the API (plan) exit 75.
    let closed = free_port();
    let mut args = with("unseal", &["--keys-file", kf, "--node"]);
    args.push(format!("vault-3=https://127.0.0.1:{closed}"));
    let out = runs.expect(75, &args, &[]);
    assert!(
        error_line(&out).contains("vault-3: unreachable"),
        "{}",
        out.stderr
    );
    let api = format!("https://127.0.0.1:{closed}");
    let out = runs.expect(75, &with("plan", &["--token-file", kf, "--url", &api]), &[]);
    assert!(error_line(&out).contains("unreachable"), "{}", out.stderr);

    // No secret in anything printed, in any run.
    let mut needles: Vec<(&str, &str)> = keys.iter().map(|k| ("unseal key", k.as_str())).collect();
    needles.push(("root token", &root_token));
    needles.push(("JWT", &jwt));
    for (args, printed) in &runs.printed {
        for (what, secret) in &needles {
            assert!(
                !printed.contains(secret),
                "a {what} was printed by {TOOL} {args}"
            );
        }
    }
    eprintln!(
        "vault-bootstrap end to end: {} runs in {:.1}s",
        runs.printed.len(),
        started.elapsed().as_secs_f64()
    );
}

/// The example sites through `validate` and `render` (no server needed): both Vault designs
/// render (raft for OpenBao; Vault on Consul renders Consul's config too).
#[test]
fn vault_bootstrap_renders_the_examples() {
    for name in ["rachuna-net", "rachuna-dev"] {
        let (path, _) = rackpipe_testkit::example_site(name);
        let site = path.to_str().unwrap();
        let out = support::run(TOOL, &["validate", site], None);
        assert_eq!(out.code, 0, "{name}: {}\n{}", out.stdout, out.stderr);
        let out = support::run(TOOL, &["render", site], None);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let doc = out.json();
        let files = doc["files"].as_array().unwrap();
        let servers = files
            .iter()
            .filter(|f| f["path"].as_str().unwrap().ends_with(".hcl"))
            .filter(|f| !f["path"].as_str().unwrap().contains("consul"))
            .count();
        assert!(servers >= 3, "{name}: {servers} server configs");
        assert!(
            !doc["desired"]["mounts"].as_array().unwrap().is_empty(),
            "{name}: no desired mounts"
        );
    }
}

/// Usage mistakes are refused before any request: no server exists behind these sites'
/// addresses, and none is contacted.
#[test]
fn vault_bootstrap_refuses_bad_usage_before_connecting() {
    let site = support::root().join("tests/sites/minimal.yaml");
    let site = site.to_str().unwrap();
    let cases: [(&[&str], i32, &str); 9] = [
        (
            &["status", site, "--node", "nope=https://127.0.0.1:1"],
            64,
            "no node named \"nope\" in vault.nodes (vault-1, vault-2, vault-3)",
        ),
        // The transport rule (rackpipe_tls::transport): plain HTTP only to a literal loopback
        // address, no user information; refused while reading the options.
        (
            &[
                "status",
                site,
                "--node",
                "vault-1=http://vault-1.lab.example:8200",
            ],
            64,
            "vault-1: plain http:// to vault-1.lab.example refused",
        ),
        (
            &["status", site, "--node", "vault-1=http://localhost:8200"],
            64,
            "vault-1: plain http:// to localhost refused",
        ),
        (
            &[
                "plan",
                site,
                "--token-env",
                "PATH",
                "--api",
                "http://127.0.0.1@vault.example:8200",
            ],
            64,
            "vault-bootstrap: error: api: http://***@vault.example:8200: a user name or password in the URL is refused",
        ),
        (
            &["status", site, "--node", "vault-1=127.0.0.1:8200"],
            64,
            "NAME=URL",
        ),
        (&["plan", site], 64, "no credentials"),
        (&["apply", site], 64, "no credentials"),
        (&["unseal", site], 64, "--keys-file"),
        (
            &["plan", site, "--token-env", "T", "--token-file", "f"],
            64,
            "cannot be used with",
        ),
    ];
    for (args, code, needle) in cases {
        let out = support::run(TOOL, args, None);
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    // An existing keys file is never overwritten, and init stops before any request.
    let dir = temp_dir();
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, "precious").unwrap();
    let out = support::run(
        TOOL,
        &["init", site, "--keys-file", keys.to_str().unwrap()],
        None,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), "precious");
}
