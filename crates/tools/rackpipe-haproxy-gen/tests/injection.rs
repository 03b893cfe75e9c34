//! No injection through the site (issue 16, item 5), checked with the real parsers.
//!
//! Random and hostile strings go into every free-form field the HAProxy, keepalived and
//! check-script templates render (and into the VRRP password, a secret's value). For each
//! value, either `validate` refuses it naming that very field (render refuses the password
//! naming its field), or the files rendered with it
//!
//! - pass `haproxy -c -dW`, `keepalived -t` (same output as for a benign value) and `sh -n`,
//! - and have exactly the shape of the files rendered from a benign marker value: the same
//!   lines and, per line, the same tokens as each file's own lexer splits them (quotes,
//!   escapes and comments honoured), the marker replaced by the value intact. An extra
//!   directive, section or argument, a value cut short by a comment, or a quote that ends
//!   early all change that shape.
//!
//! The parsers run once per case on the value-rendered files (all fields that accept the
//! value set at once); the benign files are checked once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::common;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rackpipe_haproxy_gen::daemon::check_haproxy_file;
use rackpipe_haproxy_gen::{Error, RenderOptions, SecretSource, render_instance};
use rackpipe_model::documents::RenderedFile;
use rackpipe_model::types::SecretRef;
use rackpipe_secrets::Secret;
use serde_json::Value;

/// The benign value (each field adds its prefix).
const MARK: &str = "zqb";

struct Field {
    path: &'static str,
    pointer: &'static str,
    prefix: &'static str,
}

/// Every site string of `common::full_site()` that reaches haproxy.cfg, keepalived.conf or
/// check_haproxy.sh (names, addresses of guests and enums are typed elsewhere).
const FIELDS: &[Field] = &[
    Field {
        path: "metadata.name",
        pointer: "/metadata/name",
        prefix: "",
    },
    Field {
        path: "load_balancer.vips[0].interface",
        pointer: "/load_balancer/vips/0/interface",
        prefix: "",
    },
    Field {
        path: "load_balancer.instances[0].name",
        pointer: "/load_balancer/instances/0/name",
        prefix: "",
    },
    Field {
        path: "load_balancer.stats.uri",
        pointer: "/load_balancer/stats/uri",
        prefix: "/",
    },
    Field {
        path: "load_balancer.services[6].tls_certificate",
        pointer: "/load_balancer/services/6/tls_certificate",
        prefix: "/crt/",
    },
    Field {
        path: "load_balancer.services[1].backend_tls.ca_file",
        pointer: "/load_balancer/services/1/backend_tls/ca_file",
        prefix: "/ca/",
    },
    Field {
        path: "load_balancer.services[6].sni",
        pointer: "/load_balancer/services/6/sni",
        prefix: "",
    },
    Field {
        path: "load_balancer.services[5].backend_tls.server_name",
        pointer: "/load_balancer/services/5/backend_tls/server_name",
        prefix: "",
    },
    Field {
        path: "load_balancer.services[4].name",
        pointer: "/load_balancer/services/4/name",
        prefix: "",
    },
];

/// The VRRP password's field (its value comes from a secret, not the site).
const AUTH_PASS: &str = "load_balancer.vips[0].auth_pass";

/// The password both renders use when the case's value is refused as one.
const OTHER_PASS: &str = "s3cr3tpw";

/// Every secret is `pass`.
struct Pass(String);
impl SecretSource for Pass {
    fn resolve(&self, _: &SecretRef, _: &str) -> Result<Secret, rackpipe_secrets::Error> {
        Ok(Secret::new(self.0.clone()))
    }
}

fn set(doc: &mut Value, pointer: &str, value: &str) {
    *doc.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer} not in the test site")) =
        Value::String(value.to_owned());
}

/// Validates `doc`: `Ok(site)` or the error diagnostics' paths.
fn validate(doc: &Value) -> Result<rackpipe_model::Site, Vec<String>> {
    // serde_json leaves DEL, C1 controls and the Unicode line separators raw, which the YAML
    // reader refuses before looking at any field: escape them (valid JSON either way).
    let text: String = serde_json::to_string(doc)
        .unwrap()
        .chars()
        .map(|c| match c {
            '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => format!("\\u{:04x}", u32::from(c)),
            c => c.to_string(),
        })
        .collect();
    match rackpipe_model::load_and_validate("case.json", text.as_bytes()) {
        Ok(loaded) => Ok(loaded.site),
        Err(rackpipe_model::LoadError::Invalid { diagnostics, .. }) => Err(diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.path.clone())
            .collect()),
        Err(e) => panic!("unexpected load error: {e}"),
    }
}

fn options(dir: &Path) -> RenderOptions {
    let d = dir.display();
    RenderOptions {
        haproxy_cfg: format!("{d}/haproxy.cfg"),
        keepalived_conf: format!("{d}/keepalived.conf"),
        check_script: format!("{d}/check_haproxy.sh"),
        admin_socket: format!("{d}/admin.sock"),
        pid_file: format!("{d}/haproxy.pid"),
        cert_prefix: Some(format!("{d}/certs")),
        certs_dir: format!("{d}/deployed"),
        chroot: None,
        user: None,
        group: None,
        ..RenderOptions::default()
    }
}

/// Which lexer a file gets.
#[derive(Clone, Copy, Debug)]
enum Lexer {
    Haproxy,
    Keepalived,
    Shell,
}

/// The lines of `text` as `lexer` splits them into words: quotes removed (their content
/// kept), backslash escapes resolved, comments dropped, empty lines skipped.
fn shape(text: &str, lexer: Lexer) -> Vec<Vec<String>> {
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut words: Vec<String> = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        let mut quote: Option<char> = None;
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                } else if c == '\\' && q == '"' && !matches!(lexer, Lexer::Keepalived) {
                    word.extend(chars.next());
                } else {
                    word.push(c);
                }
                continue;
            }
            let comment = match lexer {
                Lexer::Haproxy => c == '#',
                Lexer::Keepalived => c == '#' || c == '!',
                Lexer::Shell => c == '#' && !in_word,
            };
            if comment {
                break;
            }
            match c {
                c if c.is_whitespace() => {
                    if in_word {
                        words.push(std::mem::take(&mut word));
                        in_word = false;
                    }
                }
                '"' => {
                    quote = Some('"');
                    in_word = true;
                }
                '\'' if !matches!(lexer, Lexer::Keepalived) => {
                    quote = Some('\'');
                    in_word = true;
                }
                '\\' if !matches!(lexer, Lexer::Keepalived) => {
                    word.extend(chars.next());
                    in_word = true;
                }
                c => {
                    word.push(c);
                    in_word = true;
                }
            }
        }
        if quote.is_some() {
            word.push_str("<unterminated quote>");
        }
        if in_word || quote.is_some() {
            words.push(word);
        }
        if !words.is_empty() {
            lines.push(words);
        }
    }
    lines
}

fn lexer_of(path: &str) -> Lexer {
    if path.ends_with("haproxy.cfg") {
        Lexer::Haproxy
    } else if path.ends_with("keepalived.conf") {
        Lexer::Keepalived
    } else {
        Lexer::Shell
    }
}

/// The shape of `actual` equals that of `benign` with every marker replaced by the value
/// (the field's prefix is in both), case-insensitively (SNI names are lowercased).
fn same_shape(benign: &RenderedFile, actual: &RenderedFile, value: &str) -> Result<(), String> {
    let lexer = lexer_of(&benign.path);
    let expected: Vec<Vec<String>> = shape(&benign.content, lexer)
        .into_iter()
        .map(|l| {
            l.into_iter()
                .map(|w| w.replace(MARK, value).to_lowercase())
                .collect()
        })
        .collect();
    let got: Vec<Vec<String>> = shape(&actual.content, lexer)
        .into_iter()
        .map(|l| l.into_iter().map(|w| w.to_lowercase()).collect())
        .collect();
    if expected.len() != got.len() {
        return Err(format!(
            "{lexer:?}: {} lines of words, {} expected",
            got.len(),
            expected.len()
        ));
    }
    for (e, g) in expected.iter().zip(&got) {
        if e != g {
            return Err(format!("{lexer:?}: line {g:?}, expected {e:?}"));
        }
    }
    Ok(())
}

/// Runs `keepalived -t -f keepalived.conf` in `dir`: its status and output (the configured
/// interface does not exist here; the warnings naming it are compared, not ignored).
fn keepalived(keepalived: &Path, dir: &Path) -> (Option<i32>, String) {
    let out = Command::new(keepalived)
        .current_dir(dir)
        .args(["-t", "-f", "keepalived.conf"])
        .output()
        .expect("run keepalived");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn write_files(files: &[RenderedFile], crt: &str, ca: &str) {
    for f in files {
        let path = Path::new(&f.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &f.content).unwrap();
        if f.path.ends_with("haproxy.cfg") {
            for (pem, with_key) in common::referenced_pems(&f.content) {
                std::fs::create_dir_all(pem.parent().unwrap()).unwrap();
                std::fs::write(&pem, if with_key { crt } else { ca }).unwrap();
            }
        }
    }
}

fn file<'a>(files: &'a [RenderedFile], name: &str) -> &'a RenderedFile {
    files.iter().find(|f| f.path.ends_with(name)).unwrap()
}

/// Values: plain ones, ones with a character that means something to a config or a shell,
/// any printable Unicode, and a leading dash.
fn value() -> impl Strategy<Value = String> {
    let hostile = prop::sample::select(vec![
        "\n", "\r", "\t", " ", "\"", "'", "{", "}", "#", ";", "!", "\\", "$(id)", "`id`", "%",
        "\u{0}", "\u{1b}", "\u{7f}", "\u{85}", "\u{2028}", ",", "=", ":", "-", "..", "/", "*", "?",
        "&", "|", "<", ">",
    ]);
    prop_oneof![
        2 => "[A-Za-z0-9._-]{1,12}",
        4 => ("[a-z0-9]{0,4}", hostile, "[a-z0-9]{0,4}").prop_map(|(a, h, b)| format!("{a}{h}{b}")),
        1 => "\\PC{1,10}",
        1 => "-[a-z]{1,6}",
    ]
}

#[test]
fn random_and_hostile_strings_never_add_a_directive() {
    let Some(haproxy) = rackpipe_testkit::require_tool("haproxy") else {
        return;
    };
    let Some(keepalived_bin) = rackpipe_testkit::require_tool("keepalived") else {
        return;
    };
    let base = rackpipe_model::load::parse("full.yaml", common::full_site().as_bytes())
        .unwrap()
        .value;
    let pem = common::test_pem();
    let ca = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .next()
        .unwrap()
        .to_owned();
    let tmp = rackpipe_testkit::temp_dir();
    let instance = |doc: &Value| {
        doc.pointer("/load_balancer/instances/0/name")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    };
    // The benign files pass every parser (once).
    let benign_dir = tmp.path().join("benign");
    {
        let mut doc = base.clone();
        for f in FIELDS {
            set(&mut doc, f.pointer, &format!("{}{MARK}", f.prefix));
        }
        let site = validate(&doc).expect("benign values validate");
        let files =
            render_instance(&site, MARK, &options(&benign_dir), &Pass(MARK.into())).unwrap();
        write_files(&files, &pem, &ca);
        check_haproxy_file(&haproxy, Path::new(&file(&files, "haproxy.cfg").path)).unwrap();
        assert!(
            Command::new("sh")
                .arg("-n")
                .arg(&file(&files, "check_haproxy.sh").path)
                .status()
                .unwrap()
                .success()
        );
    }

    let started = Instant::now();
    let (cases, accepted, refused) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0u32));
    let parser_time = Cell::new(std::time::Duration::ZERO);
    let mut runner = TestRunner::new(Config {
        cases: 64,
        // Failing cases are saved in proptest-regressions/injection.txt (replayed first).
        source_file: Some(file!()),
        ..Config::default()
    });
    let result = runner.run(&value(), |value| {
        cases.set(cases.get() + 1);
        let case = cases.get();
        // 1. The value in every field; the fields an error names are refused and reset, until
        //    the rest validates. (The schema reports every violation at once, so this takes
        //    one or two validations; an error naming no field that holds the value fails.)
        let mut fields: Vec<&Field> = FIELDS.iter().collect();
        let (doc, site) = loop {
            let mut doc = base.clone();
            for f in &fields {
                set(&mut doc, f.pointer, &format!("{}{value}", f.prefix));
            }
            match validate(&doc) {
                Ok(site) => break (doc, site),
                Err(paths) => {
                    let before = fields.len();
                    fields.retain(|f| !paths.iter().any(|p| p == f.path));
                    refused.set(refused.get() + u32::try_from(before - fields.len()).unwrap());
                    prop_assert!(
                        fields.len() < before,
                        "{:?}: refused naming {:?}, not a field that holds it",
                        value,
                        paths
                    );
                }
            }
        };
        // 2. The same fields set to the marker.
        let mut benign = base.clone();
        for f in &fields {
            set(&mut benign, f.pointer, &format!("{}{MARK}", f.prefix));
        }
        let benign_site = validate(&benign).map_err(|p| TestCaseError::fail(format!("{p:?}")))?;
        let case_dir = tmp.path().join(format!("case{case}"));
        let case_benign_dir = tmp.path().join(format!("case{case}-benign"));
        let pass = match render_instance(
            &site,
            &instance(&doc),
            &options(&case_dir),
            &Pass(value.clone()),
        ) {
            Ok(_) => value.clone(),
            Err(Error::Secret { path, .. }) => {
                refused.set(refused.get() + 1);
                prop_assert_eq!(path.as_str(), AUTH_PASS);
                OTHER_PASS.to_owned()
            }
            Err(e) => return Err(TestCaseError::fail(format!("render: {e}"))),
        };
        accepted
            .set(accepted.get() + u32::try_from(fields.len()).unwrap() + u32::from(pass == value));
        let files = render_instance(
            &site,
            &instance(&doc),
            &options(&case_dir),
            &Pass(pass.clone()),
        )
        .unwrap();
        let benign_files = render_instance(
            &benign_site,
            &instance(&benign),
            &options(&case_benign_dir),
            &Pass(if pass == value {
                MARK.to_owned()
            } else {
                pass.clone()
            }),
        )
        .unwrap();
        // 3. Same shape, file by file (the marker stands for the value; paths in the files
        //    name the case directory, so compare with the benign files of this case).
        for name in ["haproxy.cfg", "keepalived.conf", "check_haproxy.sh"] {
            let (b, a) = (file(&benign_files, name), file(&files, name));
            let b = RenderedFile {
                content: b.content.replace(
                    &format!("{}-benign", case_dir.display()),
                    &case_dir.display().to_string(),
                ),
                ..b.clone()
            };
            if let Err(e) = same_shape(&b, a, &value) {
                return Err(TestCaseError::fail(format!(
                    "{name} with {value:?} in {:?}: {e}\n{}",
                    fields.iter().map(|f| f.path).collect::<Vec<_>>(),
                    a.content
                )));
            }
        }
        // 4. The real parsers accept the files rendered with the value.
        let parsers_started = Instant::now();
        write_files(&files, &pem, &ca);
        write_files(&benign_files, &pem, &ca);
        check_haproxy_file(&haproxy, Path::new(&file(&files, "haproxy.cfg").path))
            .map_err(|e| TestCaseError::fail(format!("{value:?}: {e}")))?;
        let (code_v, out_v) = keepalived(&keepalived_bin, &case_dir);
        let (code_b, out_b) = keepalived(&keepalived_bin, &case_benign_dir);
        prop_assert_eq!(code_v, code_b, "keepalived -t with {:?}: {}", value, out_v);
        let out_b = out_b.replace(
            &case_benign_dir.display().to_string(),
            &case_dir.display().to_string(),
        );
        prop_assert_eq!(
            out_v.to_lowercase(),
            out_b.replace(MARK, &value).to_lowercase(),
            "keepalived -t output differs with {:?}",
            value
        );
        let script: PathBuf = file(&files, "check_haproxy.sh").path.clone().into();
        prop_assert!(
            Command::new("sh")
                .arg("-n")
                .arg(&script)
                .status()
                .unwrap()
                .success()
        );
        parser_time.set(parser_time.get() + parsers_started.elapsed());
        let _ = std::fs::remove_dir_all(&case_dir);
        let _ = std::fs::remove_dir_all(&case_benign_dir);
        Ok(())
    });
    let (accepted, refused) = (accepted.get(), refused.get());
    eprintln!(
        "{} cases in {:.1} s ({:.1} s in haproxy -c, keepalived -t and sh -n): {accepted} field values accepted (parsed, same shape), {refused} refused naming their field",
        cases.get(),
        started.elapsed().as_secs_f64(),
        parser_time.get().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        accepted > 0 && refused > 0,
        "the values exercised only one side"
    );
}
