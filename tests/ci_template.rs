//! The CI/CD component `templates/rackpipe.yml` (the shared template of every `iac-*`
//! repository), the example `examples/iac-site/.gitlab-ci.yml` that includes it, and the
//! project's own `.gitlab-ci.yml`.
//!
//! - All validate against GitLab's CI JSON schema (`../shared/upstream/gitlab/ci.schema.json`,
//!   draft-07, formats checked); the component's `spec:` header and body are checked as the two
//!   separate documents they are.
//! - Every job of the component retries on exit 75 (transient, safe to retry); the README's
//!   inputs table is generated from the component's `spec:inputs` (`RACKPIPE_BLESS=1`
//!   rewrites it) and embeds the example pipeline verbatim.
//! - The example's `include: component:` and the README's `include: project:` resolve offline
//!   in gitlab-ci-local (the component placed where it caches remote includes), and the
//!   project's pipeline lists the right jobs per pipeline kind (merge request, default branch,
//!   other branch, schedule, release tag).
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

/// The component (GitLab's component project layout: `templates/NAME.yml`).
const TEMPLATE: &str = "templates/rackpipe.yml";
/// The complete `.gitlab-ci.yml` of an example `iac-site` repository using the component.
const EXAMPLE_PIPELINE: &str = "examples/iac-site/.gitlab-ci.yml";
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
    /// A push to a branch other than the default one, with no merge request open.
    OtherBranch,
    /// The pipeline of the release tag `0.1.0` (no `CI_COMMIT_BRANCH`).
    Tag,
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
            Self::OtherBranch => &[
                "--ignore-predefined-vars=CI_COMMIT_BRANCH,CI_COMMIT_REF_NAME",
                "--variable=CI_COMMIT_BRANCH=feature",
                "--variable=CI_COMMIT_REF_NAME=feature",
            ],
            Self::Tag => &[
                "--ignore-predefined-vars=CI_COMMIT_TAG,CI_COMMIT_REF_NAME",
                "--variable=CI_COMMIT_TAG=0.1.0",
                "--variable=CI_COMMIT_REF_NAME=0.1.0",
                "--unset-variable=CI_COMMIT_BRANCH",
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

/// The GitLab host of the throwaway repositories' `origin` (so `$CI_SERVER_FQDN`).
const GITLAB_HOST: &str = "gitlab.example.invalid";

/// A site repository's `.gitlab-ci.yml`: the workflow and stages the template documents.
const SITE_PIPELINE: &str = r#"workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_PIPELINE_SOURCE == "schedule"
    - if: $CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
stages: [validate, plan, apply, backup]
include:
  - local: templates/rackpipe.yml
    inputs:
{inputs}
"#;

impl SiteRepo {
    /// A repository with `templates/rackpipe.yml` (a copy of the component), `site.yaml`
    /// holding `site`, and a `.gitlab-ci.yml` that includes the component with `inputs`
    /// (YAML lines indented for the `inputs:` map, e.g. `"site: site.yaml\nversion: dev"`).
    pub fn new(site: &str, inputs: &str) -> Self {
        let inputs: String = inputs.lines().map(|l| format!("      {l}\n")).collect();
        Self::with_files(
            "homelab/site",
            &[
                (
                    ".gitlab-ci.yml",
                    SITE_PIPELINE.replace("{inputs}\n", &inputs),
                ),
                (TEMPLATE, read(&project_root().join(TEMPLATE))),
                ("site.yaml", site.to_owned()),
                (
                    ".gitignore",
                    ".gitlab-ci-local/\nvalidate-*.xml\n".to_owned(),
                ),
            ],
        )
    }

    /// A repository of the GitLab project `project_path` (`group/name`, on the host
    /// `gitlab.example.invalid`) holding `files` (relative path, contents), committed.
    pub fn with_files(project_path: &str, files: &[(&str, String)]) -> Self {
        let repo = Self {
            root: rackpipe_testkit::temp_dir(),
        };
        for (rel, contents) in files {
            repo.write(rel, contents);
        }
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&[
            "remote",
            "add",
            "origin",
            &format!("git@{GITLAB_HOST}:{project_path}.git"),
        ]);
        repo.commit("init");
        repo.git(&[
            "symbolic-ref",
            "refs/remotes/origin/HEAD",
            "refs/remotes/origin/main",
        ]);
        repo
    }

    /// Places `contents` where gitlab-ci-local keeps a remote include of `project_path` at
    /// `reference` (`file` inside that project), so `include: component:`/`project:` resolve
    /// offline. Not committed: `.gitlab-ci-local/` is gitlab-ci-local's own folder.
    pub fn cache_remote_include(
        &self,
        project_path: &str,
        reference: &str,
        file: &str,
        contents: &str,
    ) {
        self.write(
            &format!(".gitlab-ci-local/includes/{GITLAB_HOST}/{project_path}/{reference}/{file}"),
            contents,
        );
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

/// The names of every job a `--list` run printed: the first column of the table under its
/// `name  description  stage …` header (columns are two or more spaces apart).
fn listed_job_names(output: &str) -> Vec<String> {
    output
        .lines()
        .skip_while(|line| !(line.starts_with("name ") && line.contains("stage")))
        .skip(1)
        .filter_map(|line| line.split("  ").next())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The names of the component's jobs a `--list` run printed.
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
// The component's contract: retries, the README's inputs table, the example iac-site pipeline
// ---------------------------------------------------------------------------------------------

/// The job `name` of `body` with its `extends` chain merged in, as GitLab merges it: maps
/// deeply, the job's own keys winning; any other value replaced whole.
fn resolve_extends(body: &Value, name: &str) -> Value {
    let job = body
        .get(name)
        .unwrap_or_else(|| panic!("no job or hidden job `{name}`"));
    let parents: Vec<&str> = match &job["extends"] {
        Value::String(parent) => vec![parent.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut merged = Value::Object(serde_json::Map::new());
    for parent in parents {
        deep_merge(&mut merged, &resolve_extends(body, parent));
    }
    deep_merge(&mut merged, job);
    if let Value::Object(map) = &mut merged {
        map.remove("extends");
    }
    merged
}

fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                deep_merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, over) => *base = over.clone(),
    }
}

/// Exit 75 means "transient, safe to retry" in every tool: every job of the component retries
/// on it, at most twice. `retry:when` is spelt out (its default, `always`, would also retry
/// invalid input and refused plans) and names no script failure, so 75 is the only exit code
/// that retries.
#[test]
fn every_component_job_retries_on_exit_75_and_on_no_other_script_failure() {
    let docs = yaml_documents(&project_root().join(TEMPLATE));
    let body = &docs[1];
    let jobs: Vec<&String> = body
        .as_object()
        .expect("the component body is a map")
        .keys()
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert_eq!(
        jobs,
        [
            "rackpipe-validate",
            "rackpipe-plan",
            "rackpipe-apply",
            "rackpipe-drift",
            "rackpipe-backup",
            "rackpipe-drill"
        ],
        "the component's jobs changed; check their retries and update this list"
    );
    for name in jobs {
        let job = resolve_extends(body, name);
        let retry = &job["retry"];
        assert!(
            retry["max"]
                .as_u64()
                .is_some_and(|max| (1..=2).contains(&max)),
            "{name}: retry.max must be 1 or 2: {retry}"
        );
        let codes = match &retry["exit_codes"] {
            Value::Array(codes) => codes.clone(),
            code => vec![code.clone()],
        };
        assert_eq!(
            codes,
            [Value::from(75)],
            "{name}: retry.exit_codes: {retry}"
        );
        let when: Vec<&str> = match &retry["when"] {
            Value::String(when) => vec![when.as_str()],
            Value::Array(when) => when.iter().filter_map(Value::as_str).collect(),
            other => {
                panic!("{name}: retry.when must be set (the default retries anything): {other}")
            }
        };
        for reason in when {
            assert!(
                !["always", "script_failure", "unknown_failure"].contains(&reason),
                "{name}: retry.when `{reason}` would retry failures other than exit 75"
            );
        }
    }
}

const README: &str = "README.md";
const INPUTS_BEGIN: &str = "<!-- component-inputs:begin";
const INPUTS_END: &str = "<!-- component-inputs:end -->";

/// The README's inputs table of the component, from its `spec:inputs`, in their order: the
/// name, the default (`*required*` when there is none; a list as a YAML flow sequence) and
/// the description on one line.
fn inputs_table(header: &Value) -> String {
    let inputs = header["spec"]["inputs"]
        .as_object()
        .expect("spec.inputs is a map");
    let mut table = String::from("| input | default | description |\n|---|---|---|\n");
    for (name, input) in inputs {
        let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        let default = match input.get("default") {
            None => "*required*".to_owned(),
            Some(Value::String(s)) if s.is_empty() => "`\"\"`".to_owned(),
            Some(Value::Array(items)) => {
                let items: Vec<String> = items.iter().map(text).collect();
                format!("`[{}]`", items.join(", "))
            }
            Some(value) => format!("`{}`", text(value)),
        };
        let description = input["description"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace('|', "\\|");
        table.push_str(&format!("| `{name}` | {default} | {description} |\n"));
    }
    table
}

/// The inputs table in the README's "Components" section is generated from the component's
/// `spec:inputs` (names, defaults, descriptions), so the two cannot drift;
/// `RACKPIPE_BLESS=1` rewrites it.
#[test]
fn readme_inputs_table_lists_exactly_the_components_spec_inputs() {
    let docs = yaml_documents(&project_root().join(TEMPLATE));
    let want = inputs_table(&docs[0]);
    let path = project_root().join(README);
    let readme = read(&path);
    let begin = readme
        .find(INPUTS_BEGIN)
        .unwrap_or_else(|| panic!("{README} has no `{INPUTS_BEGIN} … -->` marker"));
    let start = begin
        + readme[begin..]
            .find("-->\n")
            .expect("the begin marker is closed by `-->`")
        + 4;
    let end = readme
        .find(INPUTS_END)
        .unwrap_or_else(|| panic!("{README} has no `{INPUTS_END}` marker"));
    assert!(
        start <= end,
        "{README}: the inputs markers are out of order"
    );
    let got = &readme[start..end];
    if got == want {
        return;
    }
    if std::env::var_os("RACKPIPE_BLESS").is_some() {
        fs::write(
            &path,
            format!("{}{want}{}", &readme[..start], &readme[end..]),
        )
        .expect("write README.md");
        return;
    }
    panic!(
        "{README}'s inputs table differs from {TEMPLATE}'s spec:inputs; regenerate it with \
         RACKPIPE_BLESS=1 cargo nextest run -p rackpipe -E 'test(/readme_inputs_table/)'\n\
         --- {README}\n{got}--- {TEMPLATE}\n{want}"
    );
}

/// The README shows the example iac-site pipeline, and shows it as the file has it.
#[test]
fn readme_shows_the_example_iac_site_pipeline_verbatim() {
    let readme = read(&project_root().join(README));
    let example = read(&project_root().join(EXAMPLE_PIPELINE));
    assert!(
        readme.contains(&format!("```yaml\n{example}```\n")),
        "{README} must show {EXAMPLE_PIPELINE} verbatim in a ```yaml block"
    );
}

/// The example's one include: the component of the project rackpipe/rackpipe, and the
/// version it pins (`@VERSION`), which must be the `version` input (the image tag) too.
fn example_component_version(example: &Value) -> String {
    let include = &example["include"][0];
    let component = include["component"]
        .as_str()
        .unwrap_or_else(|| panic!("{EXAMPLE_PIPELINE}: include[0] is not a component: {include}"));
    let version = component
        .strip_prefix("$CI_SERVER_FQDN/rackpipe/rackpipe/rackpipe@")
        .unwrap_or_else(|| {
            panic!("{EXAMPLE_PIPELINE}: not the rackpipe component at a version: {component}")
        });
    assert_eq!(
        include["inputs"]["version"].as_str(),
        Some(version),
        "{EXAMPLE_PIPELINE}: the `version` input must be the component's version"
    );
    version.to_owned()
}

#[test]
fn example_iac_site_pipeline_validates_against_gitlab_ci_schema() {
    let docs = yaml_documents(&project_root().join(EXAMPLE_PIPELINE));
    assert_eq!(docs.len(), 1, "{EXAMPLE_PIPELINE} is one YAML document");
    let version = example_component_version(&docs[0]);
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|n| n.parse::<u32>().is_ok()),
        "{EXAMPLE_PIPELINE}: pin a released semantic version, not {version}"
    );
    let Some(schema) = ci_schema() else { return };
    let errors = schema_errors(&schema, &docs[0]);
    assert!(
        errors.is_empty(),
        "{EXAMPLE_PIPELINE}:\n{}",
        errors.join("\n")
    );
}

/// The example pipeline as an iac-site repository has it: `include: component:` resolves
/// (offline: the component sits where gitlab-ci-local keeps remote includes) and gives the
/// jobs of each pipeline kind; the README's `include: project:` form gives the same jobs.
#[test]
fn example_iac_site_pipeline_includes_the_component_and_lists_its_jobs() {
    let Some(gitlab_ci_local) = rackpipe_testkit::require_tool("gitlab-ci-local") else {
        return;
    };
    let example = read(&project_root().join(EXAMPLE_PIPELINE));
    let version =
        example_component_version(&yaml_documents(&project_root().join(EXAMPLE_PIPELINE))[0]);
    let component = read(&project_root().join(TEMPLATE));
    let jobs = |kind: &str| -> Vec<String> {
        let tools: &[&str] = match kind {
            "validate" => &TOOLS,
            "backup" => &["etcd-backup", "ros-render"],
            _ => &TOOLS[..6],
        };
        tools
            .iter()
            .map(|tool| format!("rackpipe-{kind}: [{tool}]"))
            .collect()
    };
    let mr: Vec<String> = [jobs("validate"), jobs("plan")].concat();
    let push: Vec<String> = [mr.clone(), jobs("apply")].concat();
    let nightly: Vec<String> = [jobs("drift"), jobs("backup")].concat();

    let project_form = example.replacen(
        &format!("  - component: $CI_SERVER_FQDN/rackpipe/rackpipe/rackpipe@{version}\n"),
        &format!("  - project: rackpipe/rackpipe\n    ref: \"{version}\"\n    file: {TEMPLATE}\n"),
        1,
    );
    assert_ne!(
        project_form, example,
        "the example's component include moved"
    );
    for pipeline in [example, project_form] {
        let repo = SiteRepo::with_files(
            "homelab/iac-site",
            &[
                (".gitlab-ci.yml", pipeline.clone()),
                ("site.yaml", example_site()),
                (".gitignore", ".gitlab-ci-local/\n".to_owned()),
            ],
        );
        // Where gitlab-ci-local looks for both `component: HOST/rackpipe/rackpipe/rackpipe@V`
        // and `project: rackpipe/rackpipe, ref: V, file: templates/rackpipe.yml`.
        repo.cache_remote_include("rackpipe/rackpipe", &version, TEMPLATE, &component);
        for (kind, want) in [
            (Pipeline::MergeRequest, &mr),
            (Pipeline::DefaultBranch, &push),
            (Pipeline::Schedule, &nightly),
        ] {
            let run = repo.run(&gitlab_ci_local, kind, &["--list"]);
            assert!(
                run.success,
                "{kind:?} --list of\n{pipeline}\n{}",
                run.output
            );
            assert_eq!(&listed_jobs(&run.output), want, "{kind:?}:\n{}", run.output);
        }
        let run = repo.run(
            &gitlab_ci_local,
            Pipeline::Schedule,
            &["--list", "--variable=RACKPIPE_SCHEDULE=drill"],
        );
        assert_eq!(
            listed_jobs(&run.output),
            ["rackpipe-drill"],
            "{}",
            run.output
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The project's own pipeline
// ---------------------------------------------------------------------------------------------

/// The project's `.gitlab-ci.yml` as one JSON value.
fn project_pipeline() -> Value {
    yaml_documents(&project_root().join(".gitlab-ci.yml")).remove(0)
}

/// Every script line of `job` (before_script, script), as written.
fn script_lines(job: &Value) -> Vec<String> {
    ["before_script", "script"]
        .iter()
        .flat_map(|key| job[key].as_array().cloned().unwrap_or_default())
        .filter_map(|line| line.as_str().map(str::to_owned))
        .collect()
}

/// The test job runs what `.ci/run` runs, with the daemons (not in skip mode) on a runner that
/// may create network namespaces; the build has protoc; a tag publishes the image, the tarball
/// and the release; no credential is ever a command argument.
#[test]
fn project_pipeline_tests_like_ci_run_and_releases_on_tags() {
    let pipeline = project_pipeline();
    let test = resolve_extends(&pipeline, "test");
    assert!(
        script_lines(&test).iter().any(|l| l == "bash .ci/run"),
        "the test job must run `bash .ci/run`: {test:#}"
    );
    let ci_run = read(&project_root().join(".ci/run"));
    assert!(
        ci_run.contains("export RACKPIPE_REQUIRE_SERVICES=1")
            && ci_run.contains("bash .ci/setup.sh"),
        ".ci/run must install the daemons and require them"
    );
    assert!(
        read(&project_root().join(".ci/setup.sh")).contains("protobuf-compiler"),
        ".ci/setup.sh must install protoc"
    );
    assert_eq!(
        test["tags"],
        serde_json::json!(["$RACKPIPE_PRIVILEGED_TAG"]),
        "the test job runs on the privileged runner (network namespaces)"
    );
    let build = resolve_extends(&pipeline, "build");
    assert!(
        script_lines(&build)
            .iter()
            .any(|l| l.contains("apt-get install") && l.contains("protobuf-compiler")),
        "the build job must install protoc: {build:#}"
    );

    let release = &pipeline["release"];
    assert_eq!(release["release"]["tag_name"], "$CI_COMMIT_TAG");
    assert!(
        release["image"]
            .as_str()
            .is_some_and(|image| image.contains("gitlab-org/release-cli")),
        "{release:#}"
    );
    let links: Vec<&str> = release["release"]["assets"]["links"]
        .as_array()
        .expect("release assets links")
        .iter()
        .filter_map(|link| link["url"].as_str())
        .collect();
    assert_eq!(
        links,
        [
            "$PACKAGE_REGISTRY_URL/$DIST_NAME",
            "$PACKAGE_REGISTRY_URL/$DIST_NAME.sha256"
        ]
    );
    assert_eq!(
        pipeline["variables"]["DIST_NAME"],
        "rackpipe-$CI_COMMIT_TAG-x86_64-unknown-linux-gnu.tar.gz",
        "the asset is ci/dist.sh's tarball of the tag's version"
    );

    for (name, job) in pipeline.as_object().expect("a map") {
        if !job.is_object() {
            continue;
        }
        let script = script_lines(&resolve_extends(&pipeline, name)).join("\n");
        for line in script.lines() {
            for secret in ["$CI_JOB_TOKEN", "$CI_REGISTRY_PASSWORD"] {
                if line.contains(secret) {
                    assert!(
                        line.trim_start().starts_with("printf ") && line.contains("\" |"),
                        "{name}: {secret} must reach its command on stdin (printf … |), not as an argument:\n{line}"
                    );
                }
            }
        }
    }
}

/// The project's pipeline per kind, as gitlab-ci-local resolves it (the component included
/// from the project itself at `$CI_COMMIT_SHA`, rules and workflow evaluated).
#[test]
fn project_pipeline_lists_the_right_jobs_per_pipeline_kind() {
    let Some(gitlab_ci_local) = rackpipe_testkit::require_tool("gitlab-ci-local") else {
        return;
    };
    let repo = SiteRepo::with_files(
        "rackpipe/rackpipe",
        &[
            (
                ".gitlab-ci.yml",
                read(&project_root().join(".gitlab-ci.yml")),
            ),
            (TEMPLATE, read(&project_root().join(TEMPLATE))),
            (".gitignore", ".gitlab-ci-local/\n".to_owned()),
        ],
    );
    let names = |jobs: &[&str]| -> Vec<String> { jobs.iter().map(|j| (*j).to_owned()).collect() };
    let base = names(&["fmt", "test", "build"]);
    let validate: Vec<String> = TOOLS
        .iter()
        .map(|tool| format!("rackpipe-validate: [{tool}]"))
        .collect();
    let package = names(&["oci-image", "dist"]);
    let publish = names(&["publish-image", "publish-dist", "release"]);
    for (kind, want) in [
        (
            Pipeline::MergeRequest,
            [&base[..], &validate, &package].concat(),
        ),
        (
            Pipeline::DefaultBranch,
            [&base[..], &validate, &package].concat(),
        ),
        (Pipeline::OtherBranch, [&base[..], &package].concat()),
        (Pipeline::Schedule, base.clone()),
        (Pipeline::Tag, [&base[..], &package, &publish].concat()),
    ] {
        let run = repo.run(&gitlab_ci_local, kind, &["--list"]);
        assert!(run.success, "{kind:?} --list:\n{}", run.output);
        assert_eq!(
            listed_job_names(&run.output),
            want,
            "{kind:?}:\n{}",
            run.output
        );
        let run = repo.run(&gitlab_ci_local, kind, &["--validate-dependency-chain"]);
        assert!(run.success, "{kind:?} needs:\n{}", run.output);
    }
}

/// Run for real with gitlab-ci-local: on a tag that is not the workspace version, the `dist`
/// job stops before packaging anything (the release's asset names are built from the tag, the
/// tarball's from Cargo.toml), naming both.
#[test]
fn dist_job_refuses_a_tag_that_is_not_the_workspace_version() {
    let Some(gitlab_ci_local) = rackpipe_testkit::require_tool("gitlab-ci-local") else {
        return;
    };
    let repo = SiteRepo::with_files(
        "rackpipe/rackpipe",
        &[
            (
                ".gitlab-ci.yml",
                read(&project_root().join(".gitlab-ci.yml")),
            ),
            (TEMPLATE, read(&project_root().join(TEMPLATE))),
            ("Cargo.toml", read(&project_root().join("Cargo.toml"))),
            (".gitignore", ".gitlab-ci-local/\n".to_owned()),
        ],
    );
    let run = repo.run(
        &gitlab_ci_local,
        Pipeline::DefaultBranch,
        &[
            "dist",
            "--ignore-predefined-vars=CI_COMMIT_TAG",
            "--variable=CI_COMMIT_TAG=9.9.9",
        ],
    );
    assert!(!run.success, "dist passed on tag 9.9.9:\n{}", run.output);
    assert_eq!(
        run.status("dist"),
        Some(JobStatus::Failed),
        "{}",
        run.output
    );
    let want = format!(
        "tag 9.9.9 is not the workspace version {} (Cargo.toml)",
        env!("CARGO_PKG_VERSION")
    );
    let log = run.job_log("dist");
    assert!(
        log.contains(&want),
        "want {want:?} in the dist job log:\n{log}"
    );
    assert!(
        !repo.path().join("target/dist").exists(),
        "dist packaged something for a wrong tag"
    );
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
    let sim = crate::support::example_router_sim(&runtime, ROUTER_PASSWORD);

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
    let writes = crate::support::router_writes(&sim);
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

    // rackpipe's own signals: each backup run's metrics file, kept in the job's artifacts,
    // holds its success timestamp and the sizes of what it wrote.
    let metrics = |name: &str| read(&repo.path().join("rackpipe-metrics").join(name));
    for (file, labels) in [
        (
            "etcd-backup-snapshot.prom",
            r#"{tool="etcd-backup",verb="snapshot",site="rachuna-net"}"#,
        ),
        (
            "ros-render-backup.prom",
            r#"{tool="ros-render",verb="backup",site="rachuna-net"}"#,
        ),
    ] {
        let text = metrics(file);
        for line in [
            format!("rackpipe_run_exit_code{labels} 0\n"),
            format!("rackpipe_run_last_success_timestamp_seconds{labels} "),
        ] {
            assert!(text.contains(&line), "{file}: no {line}:\n{text}");
        }
        assert!(
            text.contains("rackpipe_backup_size_bytes{"),
            "{file}:\n{text}"
        );
        assert!(
            !text.contains(ROUTER_PASSWORD),
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

    let drift_metrics = metrics("ros-render-plan.prom");
    let labels = r#"{tool="ros-render",verb="plan",site="rachuna-net"}"#;
    assert!(
        drift_metrics.contains(&format!("rackpipe_run_exit_code{labels} 2\n")),
        "{drift_metrics}"
    );
    assert!(
        !drift_metrics.contains(&format!("rackpipe_run_changes{labels} 0\n")),
        "drift is a plan with changes:\n{drift_metrics}"
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
