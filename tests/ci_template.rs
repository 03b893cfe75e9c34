//! The shared CI template `ci/rackpipe.gitlab-ci.yml` and the project's own `.gitlab-ci.yml`.
//!
//! - Both validate against GitLab's CI JSON schema (`../shared/upstream/gitlab/ci.schema.json`,
//!   draft-07, formats checked); the template's `spec:` header and body are checked as the two
//!   separate documents they are.
//! - The template really runs: [`SiteRepo`] builds a throwaway GitLab-like git repository that
//!   includes the template with the example site, and runs it with `gitlab-ci-local` (installed
//!   by `.ci/install-gitlab-ci-local.sh`) with the freshly built binaries first on `PATH`.
//!   [`Pipeline`] picks the kind of pipeline (merge request, default branch, schedule), so the
//!   plan/apply/backup stages can reuse the harness.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Every rackpipe tool; the template's default `tools` input.
const TOOLS: [&str; 7] = [
    "ros-render",
    "pve-sync",
    "nfs-export",
    "vault-bootstrap",
    "haproxy-gen",
    "kubeadm-join",
    "etcd-backup",
];

/// How long one gitlab-ci-local run may take before the test kills it and fails.
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(60);

const TEMPLATE: &str = "ci/rackpipe.gitlab-ci.yml";
const EXAMPLE_SITE: &str = "examples/rachuna-net/site.yaml";

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every YAML document of `path`, as JSON values.
fn yaml_documents(path: &Path) -> Vec<Value> {
    serde_saphyr::from_multiple(&read(path))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Schema checks
// ---------------------------------------------------------------------------------------------

/// GitLab's CI schema as a draft-07 validator that also checks `format`s, or `None` (skip)
/// when `../shared` is absent.
fn ci_schema() -> Option<jsonschema::Validator> {
    let path = rackpipe_testkit::shared_dir()?.join("upstream/gitlab/ci.schema.json");
    let schema: Value = serde_json::from_str(&read(&path)).expect("ci.schema.json is JSON");
    let validator = jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("ci.schema.json is a valid draft-07 schema");
    Some(validator)
}

/// The schema errors of `doc`, one line each (`/json/pointer: message`).
fn schema_errors(schema: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    schema
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// The template's input values: each input's default, overridden by `given`.
fn input_values(header: &Value, given: &Value) -> serde_json::Map<String, Value> {
    let inputs = header["spec"]["inputs"]
        .as_object()
        .expect("spec.inputs is a map");
    let mut values: serde_json::Map<String, Value> = inputs
        .iter()
        .filter_map(|(name, input)| Some((name.clone(), input.get("default")?.clone())))
        .collect();
    values.extend(given.as_object().expect("given inputs are a map").clone());
    values
}

/// Interpolates `$[[ inputs.NAME ]]` the way GitLab does: a value that is exactly one
/// placeholder becomes the input's value (so an array input becomes a YAML list); inside a
/// longer string it is replaced by the value's text. Panics on an input with no value.
fn interpolate(doc: &Value, values: &serde_json::Map<String, Value>) -> Value {
    let lookup = |inner: &str| -> &Value {
        let name = inner.trim();
        let name = name
            .strip_prefix("inputs.")
            .unwrap_or_else(|| panic!("not an input: {name}"));
        values
            .get(name)
            .unwrap_or_else(|| panic!("input `{name}` has no value"))
    };
    let text = |s: &str| -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("$[[") {
            let end = start + rest[start..].find("]]").expect("`$[[` is closed by `]]`");
            out.push_str(&rest[..start]);
            match lookup(&rest[start + 3..end]) {
                Value::String(v) => out.push_str(v),
                other => out.push_str(&other.to_string()),
            }
            rest = &rest[end + 2..];
        }
        out + rest
    };
    match doc {
        Value::String(s) => {
            let t = s.trim();
            if t.starts_with("$[[") && t.ends_with("]]") && t.matches("$[[").count() == 1 {
                lookup(&t[3..t.len() - 2]).clone()
            } else {
                Value::String(text(s))
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| interpolate(v, values)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (text(k), interpolate(v, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The `spec:` header is checked as written. The body is checked as GitLab sees it, with the
/// inputs interpolated (defaults, plus the required `version` and `tags`): written out, a
/// placeholder for a list input (`tags: $[[ inputs.tags ]]`) is a string where the schema
/// wants a list.
#[test]
fn template_validates_against_gitlab_ci_schema() {
    let Some(schema) = ci_schema() else { return };
    let docs = yaml_documents(&project_root().join(TEMPLATE));
    assert_eq!(
        docs.len(),
        2,
        "{TEMPLATE} must be a `spec:` header, `---`, and a body"
    );
    let errors = schema_errors(&schema, &docs[0]);
    assert!(
        errors.is_empty(),
        "{TEMPLATE} spec header:\n{}",
        errors.join("\n")
    );
    let given = serde_json::json!({ "version": "1.0.0", "tags": ["homelab"] });
    let body = interpolate(&docs[1], &input_values(&docs[0], &given));
    let errors = schema_errors(&schema, &body);
    assert!(
        errors.is_empty(),
        "{TEMPLATE} body:\n{}\n{body:#}",
        errors.join("\n")
    );
    // What the interpolation must give, or the check above proves little.
    let job = &body["rackpipe-validate"];
    assert_eq!(
        job["parallel"]["matrix"][0]["TOOL"],
        serde_json::json!(TOOLS),
        "{body:#}"
    );
    assert_eq!(body[".rackpipe-job"]["tags"], given["tags"], "{body:#}");
    assert_eq!(
        body["rackpipe-plan"]["parallel"]["matrix"][0]["TOOL"],
        serde_json::json!(&TOOLS[..6]),
        "{body:#}"
    );
}

#[test]
fn project_pipeline_validates_against_gitlab_ci_schema() {
    let Some(schema) = ci_schema() else { return };
    let docs = yaml_documents(&project_root().join(".gitlab-ci.yml"));
    assert_eq!(docs.len(), 1, ".gitlab-ci.yml is one YAML document");
    let errors = schema_errors(&schema, &docs[0]);
    assert!(errors.is_empty(), ".gitlab-ci.yml:\n{}", errors.join("\n"));
}

/// Guards the two tests above against passing vacuously: the schema does reject mistakes.
#[test]
fn gitlab_ci_schema_rejects_a_misspelled_keyword_and_an_untyped_input() {
    let Some(schema) = ci_schema() else { return };
    let body: Value = serde_json::json!({
        "job": { "script": ["true"], "artifact": { "paths": ["x"] } }
    });
    assert!(
        !schema_errors(&schema, &body).is_empty(),
        "`artifact:` must be rejected"
    );
    // The quirk that makes the template spell out `type:` on every input.
    let header: Value = serde_json::json!({ "spec": { "inputs": { "site": { "default": "x" } } } });
    assert!(
        !schema_errors(&schema, &header).is_empty(),
        "untyped input with a default"
    );
}

#[test]
fn template_inputs_are_typed_and_default_to_every_tool() {
    let docs = yaml_documents(&project_root().join(TEMPLATE));
    let inputs = docs[0]["spec"]["inputs"]
        .as_object()
        .expect("spec.inputs is a map");
    for (name, input) in inputs {
        assert!(
            input.get("type").is_some(),
            "input `{name}` needs an explicit `type:`"
        );
        assert!(
            input.get("description").is_some(),
            "input `{name}` needs a `description:`"
        );
    }
    let tools: Vec<&str> = inputs["tools"]["default"]
        .as_array()
        .expect("tools.default is a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(tools, TOOLS);
}

// ---------------------------------------------------------------------------------------------
// Pipeline harness
// ---------------------------------------------------------------------------------------------

/// The kind of pipeline gitlab-ci-local simulates (variables per `gitlab-ci.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pipeline {
    /// A merge-request pipeline: `CI_PIPELINE_SOURCE=merge_request_event`, no `CI_COMMIT_BRANCH`.
    MergeRequest,
    /// A push to the default branch (`main`, which the repository has checked out).
    DefaultBranch,
    /// A scheduled pipeline on the default branch.
    Schedule,
}

impl Pipeline {
    fn args(self) -> &'static [&'static str] {
        match self {
            Self::MergeRequest => &[
                "--ignore-predefined-vars=CI_PIPELINE_SOURCE",
                "--variable=CI_PIPELINE_SOURCE=merge_request_event",
                "--variable=CI_MERGE_REQUEST_IID=7",
                "--variable=CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main",
                "--unset-variable=CI_COMMIT_BRANCH",
            ],
            Self::DefaultBranch => &[],
            Self::Schedule => &[
                "--ignore-predefined-vars=CI_PIPELINE_SOURCE",
                "--variable=CI_PIPELINE_SOURCE=schedule",
            ],
        }
    }
}

/// The result of one job, from gitlab-ci-local's closing summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum JobStatus {
    /// `PASS`
    Passed,
    /// `FAIL`
    Failed,
    /// `WARN`: failed, but allowed to (`allow_failure`).
    Warned,
}

/// A finished gitlab-ci-local run.
#[derive(Debug)]
pub(crate) struct PipelineRun {
    /// Whether gitlab-ci-local exited 0.
    pub success: bool,
    /// Its stdout and stderr.
    pub output: String,
    /// Each job's name and status, in summary order.
    pub jobs: Vec<(String, JobStatus)>,
    /// `.gitlab-ci-local/output`, one `.log` per job.
    logs: PathBuf,
}

impl PipelineRun {
    /// The status of the job named exactly `name` (e.g. `rackpipe-validate: [ros-render]`).
    pub fn status(&self, name: &str) -> Option<JobStatus> {
        self.jobs
            .iter()
            .find(|(job, _)| job == name)
            .map(|&(_, status)| status)
    }

    /// The log of the one job whose log file name contains `fragment` (gitlab-ci-local
    /// encodes `: [` and `]` in those names, so pass e.g. the matrix value `ros-render`).
    pub fn job_log(&self, fragment: &str) -> String {
        let mut found: Vec<PathBuf> = fs::read_dir(&self.logs)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", self.logs.display(), self.output))
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(fragment))
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "want one job log matching {fragment:?}, got {found:?}"
        );
        read(&found.remove(0))
    }
}

/// A throwaway site repository (temp dir) that includes the template, shaped like a GitLab
/// checkout: branch `main`, `origin` on an `.invalid` host, `origin/HEAD` set.
pub(crate) struct SiteRepo {
    /// Holds `repo/` and gitlab-ci-local's captured output.
    root: tempfile::TempDir,
}

/// A site repository's `.gitlab-ci.yml`: the workflow and stages the template documents.
const SITE_PIPELINE: &str = r#"workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_PIPELINE_SOURCE == "schedule"
    - if: $CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
stages: [validate, plan, apply, backup]
include:
  - local: ci/rackpipe.gitlab-ci.yml
    inputs:
{inputs}
"#;

impl SiteRepo {
    /// A repository with `ci/rackpipe.gitlab-ci.yml` (a copy of the template), `site.yaml`
    /// holding `site`, and a `.gitlab-ci.yml` that includes the template with `inputs`
    /// (YAML lines indented for the `inputs:` map, e.g. `"site: site.yaml\nversion: dev"`).
    pub fn new(site: &str, inputs: &str) -> Self {
        let repo = Self {
            root: rackpipe_testkit::temp_dir(),
        };
        let inputs: String = inputs.lines().map(|l| format!("      {l}\n")).collect();
        repo.write(
            ".gitlab-ci.yml",
            &SITE_PIPELINE.replace("{inputs}\n", &inputs),
        );
        repo.write(TEMPLATE, &read(&project_root().join(TEMPLATE)));
        repo.write("site.yaml", site);
        repo.write(".gitignore", ".gitlab-ci-local/\nvalidate-*.xml\n");
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&[
            "remote",
            "add",
            "origin",
            "git@gitlab.example.invalid:homelab/site.git",
        ]);
        repo.commit("init");
        repo.git(&[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/main",
        ]);
        repo
    }

    /// The repository's root.
    pub fn path(&self) -> PathBuf {
        self.root.path().join("repo")
    }

    /// Writes `contents` to `rel` (creating folders); call [`SiteRepo::commit`] to commit it.
    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("mkdir");
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Commits everything and moves `origin/main` along, as after a push.
    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["update-ref", "refs/remotes/origin/main", "HEAD"]);
    }

    fn git(&self, args: &[&str]) {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=rackpipe test",
                "-c",
                "user.email=test@example.invalid",
            ])
            .args(["-c", "commit.gpgsign=false", "-c", "init.templateDir="])
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the pipeline of kind `kind` with gitlab-ci-local (shell executor, no colours),
    /// with `extra` arguments (e.g. `--manual=JOB`) and the built binaries first on `PATH`.
    /// Fails the test after [`PIPELINE_TIMEOUT`].
    pub fn run(&self, gitlab_ci_local: &Path, kind: Pipeline, extra: &[&str]) -> PipelineRun {
        let out_path = self.root.path().join("gitlab-ci-local.out");
        let out = fs::File::create(&out_path).expect("create output file");
        let mut cmd = Command::new(gitlab_ci_local);
        cmd.args(["--no-color", "--force-shell-executor"])
            .args(kind.args())
            .args(extra)
            .current_dir(self.path())
            .env("PATH", path_with_binaries())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup output file"))
            .stderr(out);
        // Inside a real GitLab job, its CI_* variables must not leak into the simulation.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CI_") || key.starts_with("GITLAB_") || key == "CI" {
                cmd.env_remove(&*key);
            }
        }
        // Its own process group, so a timeout also ends the job shells it started.
        cmd.process_group(0);
        let mut child = cmd.spawn().expect("spawn gitlab-ci-local");
        let mut status = None;
        rackpipe_testkit::wait_until(PIPELINE_TIMEOUT, || {
            status = child.try_wait().expect("wait for gitlab-ci-local");
            status.is_some()
        });
        if status.is_none() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
        }
        let output = read(&out_path);
        let Some(status) = status else {
            panic!("gitlab-ci-local ran over {PIPELINE_TIMEOUT:?} and was killed:\n{output}")
        };
        PipelineRun {
            success: status.success(),
            jobs: parse_summary(&output),
            output,
            logs: self.path().join(".gitlab-ci-local/output"),
        }
    }
}

/// `PATH` with the directory of the binaries cargo built for this test run in front.
fn path_with_binaries() -> std::ffi::OsString {
    let bin = Path::new(env!("CARGO_BIN_EXE_ros-render"));
    let mut dirs = vec![
        bin.parent()
            .expect("the binary is in a folder")
            .to_path_buf(),
    ];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH entries hold no `:`")
}

/// The job lines of gitlab-ci-local's closing summary (` PASS  name`, ` FAIL  name`, ...).
fn parse_summary(output: &str) -> Vec<(String, JobStatus)> {
    output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let (word, name) = line.split_once(' ')?;
            let status = match word {
                "PASS" => JobStatus::Passed,
                "FAIL" => JobStatus::Failed,
                "WARN" => JobStatus::Warned,
                _ => return None,
            };
            // A warning names the failed part after the job (`WARN  job  pre_script`).
            let name = name.trim().split("  ").next().unwrap_or_default();
            Some((name.to_owned(), status))
        })
        .collect()
}

/// The names of the jobs a `--list` run printed.
fn listed_jobs(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|line| line.starts_with("rackpipe-"))
        .filter_map(|line| line.split("  ").next())
        .map(|name| name.trim().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Sites
// ---------------------------------------------------------------------------------------------

fn example_site() -> String {
    read(&project_root().join(EXAMPLE_SITE))
}

/// The first value (depth first) for which `pred(dotted path, value)` holds, as its dotted
/// path (`router.bridges[0].ports[1].interface`) and its JSON pointer.
fn find(
    value: &Value,
    dotted: &str,
    pointer: &str,
    pred: &dyn Fn(&str, &Value) -> bool,
) -> Option<(String, String)> {
    if pred(dotted, value) {
        return Some((dotted.to_owned(), pointer.to_owned()));
    }
    match value {
        Value::Object(map) => map.iter().find_map(|(key, child)| {
            let dotted = if dotted.is_empty() {
                key.clone()
            } else {
                format!("{dotted}.{key}")
            };
            let pointer = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
            find(child, &dotted, &pointer, pred)
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, child)| {
            find(
                child,
                &format!("{dotted}[{i}]"),
                &format!("{pointer}/{i}"),
                pred,
            )
        }),
        _ => None,
    }
}

/// `site` made invalid, as JSON (which is also YAML), and the field path the validator must
/// name: the first bridge port's interface renamed to the unknown `ether42` (the path is the
/// port's, so both `…ports[0]: …` and `…ports[0].interface: …` count), or, for a site without
/// bridge ports, the first VLAN id set to 5000.
fn break_site(site: &str) -> (String, String) {
    let mut value: Value = serde_saphyr::from_str(site).expect("the example site is YAML");
    let port = |path: &str, v: &Value| {
        path.ends_with(".interface") && path.contains("ports[") && v.is_string()
    };
    let vlan =
        |path: &str, v: &Value| (path.ends_with("vlan_id") || path.ends_with(".vid")) && v.is_u64();
    let (field, new) = if let Some((path, pointer)) = find(&value, "", "", &port) {
        let port_path = path.trim_end_matches(".interface").to_owned();
        ((port_path, pointer), Value::from("ether42"))
    } else if let Some(found) = find(&value, "", "", &vlan) {
        (found, Value::from(5000))
    } else {
        panic!(
            "{EXAMPLE_SITE} has neither a bridge port interface nor a vlan_id to break; update break_site"
        );
    };
    *value
        .pointer_mut(&field.1)
        .expect("the pointer was just found") = new;
    (serde_json::to_string_pretty(&value).expect("JSON"), field.0)
}

// ---------------------------------------------------------------------------------------------
// Pipeline tests
// ---------------------------------------------------------------------------------------------

/// Template inputs for the tests: the repository's site file, a version, a runner tag.
const INPUTS: &str = "site: site.yaml\nversion: test\ntags: [rackpipe-test]";

#[test]
fn validate_stage_passes_on_the_example_site_and_names_the_field_on_a_broken_one() {
    let Some(gitlab_ci_local) = rackpipe_testkit::require_tool("gitlab-ci-local") else {
        return;
    };
    let repo = SiteRepo::new(&example_site(), INPUTS);

    let run = repo.run(
        &gitlab_ci_local,
        Pipeline::MergeRequest,
        &["--stage=validate"],
    );
    assert!(
        run.success,
        "validate failed on {EXAMPLE_SITE}:\n{}",
        run.output
    );
    let mut jobs = run.jobs.clone();
    jobs.sort();
    let mut expected: Vec<_> = TOOLS
        .iter()
        .map(|tool| (format!("rackpipe-validate: [{tool}]"), JobStatus::Passed))
        .collect();
    expected.sort();
    assert_eq!(jobs, expected, "{}", run.output);
    for tool in TOOLS {
        let report = read(&repo.path().join(format!("validate-{tool}.xml")));
        assert!(
            report.contains("<testsuite"),
            "validate-{tool}.xml is not JUnit:\n{report}\n{}",
            run.output
        );
    }

    let (broken, field) = break_site(&example_site());
    repo.write("site.yaml", &broken);
    repo.commit("break the site");
    let run = repo.run(
        &gitlab_ci_local,
        Pipeline::MergeRequest,
        &["--stage=validate"],
    );
    assert!(
        !run.success,
        "validate passed on a site with {field} broken:\n{}",
        run.output
    );
    assert_eq!(
        run.status("rackpipe-validate: [ros-render]"),
        Some(JobStatus::Failed),
        "{}",
        run.output
    );
    let log = run.job_log("ros-render");
    assert!(
        log.contains(&field),
        "the ros-render job log does not name {field}:\n{log}"
    );
    let report = read(&repo.path().join("validate-ros-render.xml"));
    assert!(
        report.contains("<failure") || report.contains("<error"),
        "validate-ros-render.xml reports no failure:\n{report}"
    );
}

#[test]
fn jobs_follow_the_tool_inputs_and_the_pipeline_kind() {
    let Some(gitlab_ci_local) = rackpipe_testkit::require_tool("gitlab-ci-local") else {
        return;
    };
    let repo = SiteRepo::new(
        &example_site(),
        &format!(
            "{INPUTS}\ntools: [ros-render, etcd-backup]\nplan_tools: [ros-render]\nbackup_tools: [etcd-backup]"
        ),
    );
    let validate = [
        "rackpipe-validate: [ros-render]",
        "rackpipe-validate: [etcd-backup]",
    ];
    let mr: Vec<&str> = validate
        .iter()
        .copied()
        .chain(["rackpipe-plan: [ros-render]"])
        .collect();
    let push: Vec<&str> = mr
        .iter()
        .copied()
        .chain(["rackpipe-apply: [ros-render]"])
        .collect();
    let nightly = [
        "rackpipe-drift: [ros-render]",
        "rackpipe-backup: [etcd-backup]",
    ];
    for (kind, extra, want) in [
        (Pipeline::MergeRequest, None, &mr[..]),
        (Pipeline::DefaultBranch, None, &push[..]),
        (Pipeline::Schedule, None, &nightly[..]),
        (
            Pipeline::Schedule,
            Some("--variable=RACKPIPE_SCHEDULE=drill"),
            &["rackpipe-drill"][..],
        ),
    ] {
        let mut args = vec!["--list"];
        args.extend(extra);
        let run = repo.run(&gitlab_ci_local, kind, &args);
        assert!(run.success, "{kind:?} --list:\n{}", run.output);
        assert_eq!(listed_jobs(&run.output), want, "{kind:?}:\n{}", run.output);
        if kind == Pipeline::DefaultBranch {
            let apply = run
                .output
                .lines()
                .find(|l| l.starts_with("rackpipe-apply"))
                .unwrap_or_default();
            assert!(apply.contains("manual"), "apply must be manual: {apply}");
        }
    }

    // remote: false leaves the validate jobs only, whatever the pipeline.
    let repo = SiteRepo::new(&example_site(), &format!("{INPUTS}\nremote: false"));
    for kind in [
        Pipeline::MergeRequest,
        Pipeline::DefaultBranch,
        Pipeline::Schedule,
    ] {
        let run = repo.run(&gitlab_ci_local, kind, &["--list"]);
        assert!(run.success, "{kind:?} --list:\n{}", run.output);
        let jobs = listed_jobs(&run.output);
        assert!(
            jobs.iter().all(|j| j.starts_with("rackpipe-validate")),
            "{kind:?}: {jobs:?}"
        );
    }
}

#[test]
fn break_site_breaks_the_first_bridge_port_or_else_a_vlan_id() {
    let site = "router:\n  bridges:\n    - name: b0\n    - name: b1\n      ports:\n        - interface: ether2\n";
    let (broken, field) = break_site(site);
    assert_eq!(field, "router.bridges[1].ports[0]");
    let broken: Value = serde_json::from_str(&broken).unwrap();
    assert_eq!(
        broken["router"]["bridges"][1]["ports"][0]["interface"],
        "ether42"
    );

    let (broken, field) = break_site("router:\n  vlans:\n    - name: v\n      vlan_id: 10\n");
    assert_eq!(field, "router.vlans[0].vlan_id");
    let broken: Value = serde_json::from_str(&broken).unwrap();
    assert_eq!(broken["router"]["vlans"][0]["vlan_id"], 5000);
}

// ---------------------------------------------------------------------------------------------
// The plan, apply, drift, backup and drill jobs against real targets
// ---------------------------------------------------------------------------------------------

/// The router password the test site references (`env:`), given to the jobs as a variable.
const ROUTER_PASSWORD_ENV: &str = "RACKPIPE_TEST_ROUTER_PASSWORD";
const ROUTER_PASSWORD: &str = "template-test-router-secret";

/// The example site with the router password read from [`ROUTER_PASSWORD_ENV`].
fn example_site_with_env_password() -> String {
    let text = example_site();
    let from = "password: vault:pl.rachuna-net/auth/router.rachuna-net.pl#password";
    assert!(
        text.contains(from),
        "{EXAMPLE_SITE}'s router password moved; update this test"
    );
    text.replacen(from, &format!("password: env:{ROUTER_PASSWORD_ENV}"), 1)
}

/// A single-member etcd on free loopback ports (plain HTTP: loopback only), with a few keys.
fn start_etcd(dir: &Path) -> Option<(rackpipe_testkit::ChildGuard, String)> {
    let etcd = rackpipe_testkit::require_tool("etcd")?;
    let etcdctl = rackpipe_testkit::require_tool("etcdctl")?;
    let (client, peer) = (rackpipe_testkit::free_port(), rackpipe_testkit::free_port());
    let endpoint = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let child = Command::new(etcd)
        .args(["--name", "m1", "--data-dir"])
        .arg(dir.join("m1.etcd"))
        .args(["--listen-client-urls", &endpoint])
        .args(["--advertise-client-urls", &endpoint])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("m1={peer_url}")])
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("etcd.log")).expect("etcd log"))
        .spawn()
        .expect("spawn etcd");
    let guard = rackpipe_testkit::ChildGuard::new("etcd", child);
    let put = |key: &str| {
        Command::new(&etcdctl)
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &endpoint, "put", key, "value"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        rackpipe_testkit::wait_until(Duration::from_secs(20), || put("/registry/probe")),
        "etcd did not start:\n{}",
        fs::read_to_string(dir.join("etcd.log")).unwrap_or_default()
    );
    for i in 0..20 {
        assert!(put(&format!("/registry/pods/default/p{i}")));
    }
    Some((guard, endpoint))
}

/// Every file under `dir` (recursively), as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The whole life of the example site's repository through the template, against the
/// RouterOS simulator and a real etcd: MR pipeline (validate, plan with artifacts and MR counts) → default branch
/// (manual apply of that plan) → MR again (zero changes) → schedule (drift clean, backups of
/// etcd and the router) → a hand-made change on the router (drift warns) → drill schedule.
/// No job log or artifact holds the router password.
#[test]
fn plan_apply_drift_backup_and_drill_jobs_run_against_real_targets() {
    let Some(gitlab_ci_local) = rackpipe_testkit::require_tool("gitlab-ci-local") else {
        return;
    };
    let work = rackpipe_testkit::temp_dir();
    let Some((_etcd, etcd_endpoint)) = start_etcd(work.path()) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut ports: Vec<String> = (1..=10).map(|i| format!("ether{i}")).collect();
    ports.push("sfp-sfpplus1".to_owned());
    let sim = runtime
        .block_on(rackpipe_ros_sim::Simulator::start(
            rackpipe_ros_sim::SimConfig {
                users: vec![(
                    "rackpipe".to_owned(),
                    rackpipe_ros_sim::Secret::new(ROUTER_PASSWORD),
                )],
                ethernet_ports: ports,
                management: None,
                unreachable_timeout: Duration::from_secs(5),
                ..rackpipe_ros_sim::SimConfig::default()
            },
        ))
        .expect("start the RouterOS simulator");

    let backups = work.path().join("backups");
    let inputs = format!(
        "{INPUTS}\ntools: [ros-render, etcd-backup]\nplan_tools: [ros-render]\n\
         backup_tools: [etcd-backup, ros-render]\nbackup_dir: {}\n\
         backup_sync: false",
        backups.display()
    );
    let repo = SiteRepo::new(&example_site_with_env_password(), &inputs);
    repo.write(
        ".gitignore",
        ".gitlab-ci-local/\n*.xml\n*.json\n*.txt\n!site.yaml\n",
    );
    repo.commit("ignore artifacts");
    let ros_args = format!("--url {} --insecure-http --timeout 10", sim.base_url());
    let etcd_args = format!("--endpoint {etcd_endpoint} --insecure-http");
    let variables = [
        format!("--variable={ROUTER_PASSWORD_ENV}={ROUTER_PASSWORD}"),
        format!("--variable=RACKPIPE_ROS_RENDER_ARGS={ros_args}"),
        format!("--variable=RACKPIPE_ETCD_BACKUP_ARGS={etcd_args}"),
    ];
    let run = |kind: Pipeline, extra: &[&str]| {
        let mut args: Vec<&str> = variables.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        let run = repo.run(&gitlab_ci_local, kind, &args);
        assert!(
            !run.output.contains(ROUTER_PASSWORD),
            "the router password reached the pipeline output:\n{}",
            run.output
        );
        run
    };
    let plan_counts = || -> Value {
        serde_json::from_str(&read(&repo.path().join("plan-ros-render.counts.json")))
            .expect("plan counts are JSON")
    };

    // 1. Merge request: validate + plan; the plan is an artifact, its text is in the log,
    //    the counts are GitLab's terraform report.
    let mr = run(Pipeline::MergeRequest, &[]);
    assert!(mr.success, "MR pipeline:\n{}", mr.output);
    assert_eq!(
        mr.status("rackpipe-plan: [ros-render]"),
        Some(JobStatus::Passed),
        "{}",
        mr.output
    );
    let counts = plan_counts();
    assert!(
        counts["create"].as_u64().unwrap_or(0) > 0,
        "a fresh router needs changes: {counts}"
    );
    let plan: Value = serde_json::from_str(&read(&repo.path().join("plan-ros-render.json")))
        .expect("plan-ros-render.json is JSON");
    assert_eq!(plan["kind"], "Plan");
    let log = mr.job_log("rackpipe-plan");
    assert!(
        log.contains("ros-render:") && log.contains("to create"),
        "the plan job log shows no plan summary:\n{log}"
    );
    let writes: u64 = sim
        .stats()
        .by_route
        .iter()
        .filter(|(route, _)| !route.starts_with("GET "))
        .filter(|(route, _)| !route.ends_with("/print") && !route.ends_with("/export"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        writes,
        0,
        "plan wrote to the router: {:?}",
        sim.stats().by_route
    );

    // 2. Default branch: the manual apply applies this pipeline's plan.
    let apply = run(
        Pipeline::DefaultBranch,
        &["--manual=rackpipe-apply: [ros-render]"],
    );
    assert!(apply.success, "default-branch pipeline:\n{}", apply.output);
    assert_eq!(
        apply.status("rackpipe-apply: [ros-render]"),
        Some(JobStatus::Passed),
        "{}",
        apply.output
    );
    let result: Value = serde_json::from_str(&read(&repo.path().join("apply-ros-render.json")))
        .expect("apply-ros-render.json is JSON");
    assert_eq!(result["kind"], "ApplyResult", "{result:#}");

    // 3. The next MR plans nothing.
    let again = run(Pipeline::MergeRequest, &[]);
    assert!(again.success, "second MR pipeline:\n{}", again.output);
    assert_eq!(
        plan_counts(),
        serde_json::json!({"create": 0, "update": 0, "delete": 0}),
        "{}",
        again.job_log("rackpipe-plan")
    );

    // 4. Nightly schedule: drift is clean, both backups land with their manifests.
    let nightly = run(Pipeline::Schedule, &[]);
    assert!(nightly.success, "schedule pipeline:\n{}", nightly.output);
    assert_eq!(
        nightly.status("rackpipe-drift: [ros-render]"),
        Some(JobStatus::Passed),
        "{}",
        nightly.output
    );
    for job in [
        "rackpipe-backup: [etcd-backup]",
        "rackpipe-backup: [ros-render]",
    ] {
        assert_eq!(
            nightly.status(job),
            Some(JobStatus::Passed),
            "{}",
            nightly.output
        );
    }
    let etcd_files = files_under(&backups.join("etcd-backup"));
    assert!(
        etcd_files.iter().any(|f| f.ends_with(".json")),
        "no etcd snapshot manifest in {etcd_files:?}"
    );
    let manifest: Value =
        serde_json::from_str(&read(&repo.path().join("backup-etcd-backup.json"))).expect("JSON");
    assert!(
        manifest.to_string().contains("sha256"),
        "backup-etcd-backup.json holds no manifest: {manifest:#}"
    );
    let router_files = files_under(&backups.join("ros-render"));
    assert!(
        router_files.iter().any(|f| f.ends_with(".rsc")),
        "no router export in {router_files:?}"
    );
    for file in &router_files {
        let bytes = fs::read(backups.join("ros-render").join(file)).expect("read backup");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(ROUTER_PASSWORD),
            "{file} holds the router password"
        );
    }

    // 5. Someone changes the router by hand: the drift job warns (exit 2), the pipeline
    //    still passes, the drift is in the artifact.
    sim.run_script("/ip dns set servers=198.18.0.53")
        .expect("change the router by hand");
    let drifted = run(Pipeline::Schedule, &[]);
    assert_eq!(
        drifted.status("rackpipe-drift: [ros-render]"),
        Some(JobStatus::Warned),
        "{}",
        drifted.output
    );
    let drift: Value = serde_json::from_str(&read(&repo.path().join("drift-ros-render.json")))
        .expect("drift-ros-render.json is JSON");
    assert!(
        drift["summary"]["update"].as_u64().unwrap_or(0)
            + drift["summary"]["create"].as_u64().unwrap_or(0)
            + drift["summary"]["delete"].as_u64().unwrap_or(0)
            > 0,
        "{drift:#}"
    );

    // 6. The weekly drill schedule restores the newest snapshot and compares.
    let drill = run(Pipeline::Schedule, &["--variable=RACKPIPE_SCHEDULE=drill"]);
    assert!(drill.success, "drill pipeline:\n{}", drill.output);
    assert_eq!(
        drill.jobs,
        vec![("rackpipe-drill".to_owned(), JobStatus::Passed)],
        "{}",
        drill.output
    );
    drop(sim);
}
