//! `apply` without `--plan` on a terminal shows the plan and asks (`rackpipe_cli::prompt`):
//! driven through a pseudo-terminal (`script` from util-linux) against the RouterOS simulator.
//! Only `yes` goes on; anything else changes nothing. Without a terminal (every other test,
//! CI) nothing is asked.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD_ENV: &str = "RACKPIPE_PROMPT_TEST_PASSWORD";
const PASSWORD: &str = "prompt-test-router-secret";

fn site(dir: &std::path::Path) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(crate::support::root().join("examples/rachuna-net/site.yaml"))
            .expect("the example site");
    let from = "password: vault:pl.rachuna-net/auth/router.rachuna-net.pl#password";
    assert!(
        text.contains(from),
        "the example's router password moved; update this test"
    );
    let path = dir.join("site.yaml");
    std::fs::write(
        &path,
        text.replacen(from, &format!("password: env:{PASSWORD_ENV}"), 1),
    )
    .unwrap();
    path
}

/// Runs `ros-render apply` on a pseudo-terminal, types `answer` once the question is up (or
/// never, when none comes), and returns the exit code and what the terminal showed (stdout
/// and stderr alike).
fn apply_on_a_terminal(script: &std::path::Path, args: &str, answer: &str) -> (i32, String) {
    let command = format!(
        "{} apply {args}",
        crate::support::bin("ros-render").display()
    );
    let mut child = Command::new(script)
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env(PASSWORD_ENV, PASSWORD)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn script");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let shown = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let shown = Arc::clone(&shown);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let asked = || String::from_utf8_lossy(&shown.lock().unwrap()).contains("Enter a value: ");
    while !asked() && !reader.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if asked() {
        stdin.write_all(answer.as_bytes()).unwrap();
    }
    let status = child.wait().expect("script");
    drop(stdin);
    reader.join().unwrap();
    let shown = String::from_utf8_lossy(&shown.lock().unwrap()).replace("\r\n", "\n");
    (status.code().unwrap_or(-1), shown)
}

#[test]
fn apply_on_a_terminal_asks_and_only_yes_goes_on() {
    let Some(script) = rackpipe_testkit::require_tool("script") else {
        return;
    };
    let work = rackpipe_testkit::temp_dir();
    let site = site(work.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sim = crate::support::example_router_sim(&runtime, PASSWORD);
    let args = format!(
        "{} --url {} --insecure-http --timeout 10",
        site.display(),
        sim.base_url()
    );
    let writes = || crate::support::router_writes(&sim);

    let (code, shown) = apply_on_a_terminal(&script, &args, "no\n");
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains("ros-render: plan for site rachuna-net\n"),
        "{shown}"
    );
    assert!(shown.contains("to create, "), "{shown}");
    assert!(
        shown.contains(
            "ros-render: apply these changes to site rachuna-net? Only 'yes' goes on.\n  Enter a value: no\n"
        ),
        "{shown}"
    );
    assert!(
        shown.contains(
            "ros-render: error: apply cancelled: the answer was not 'yes'; nothing was changed"
        ),
        "{shown}"
    );
    assert!(!shown.contains(PASSWORD));
    assert_eq!(writes(), 0, "nothing written after a no");

    let (code, shown) = apply_on_a_terminal(&script, &args, "yes\n");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("Enter a value: yes\n"), "{shown}");
    assert!(shown.contains("\"kind\": \"ApplyResult\""), "{shown}");
    assert!(writes() > 0, "applied after a yes");

    // --auto-approve never asks.
    let (code, shown) = apply_on_a_terminal(&script, &format!("{args} --auto-approve"), "");
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains("Enter a value"), "{shown}");
}
