//! nfs-ganesha on a NAS namespace serves a lab export over NFSv4 on its 198.18 address; a
//! client namespace lists it with libnfs's `nfs-ls`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use crate::daemons_support;

use std::time::{Duration, Instant};

use daemons_support::{NetLab, tools};
use rackpipe_lab::daemons::{self, ganesha};

#[test]
fn ganesha_serves_a_lab_export_to_another_namespace() {
    if !tools(&["ganesha.nfsd", "nfs-ls", "timeout", "bash"]) {
        return;
    }
    let Some(lab) = NetLab::new(&["nas", "client"], |_, _| Vec::new()) else {
        return;
    };
    let (nas, client) = (&lab.hosts[0], &lab.hosts[1]);
    let export = ganesha::Export::lab(nas, 1, "data", vec!["198.18.0.0/24".to_owned()]);
    std::fs::create_dir_all(&export.path).unwrap();
    std::fs::write(export.path.join("hello.txt"), "hello from the lab NAS\n").unwrap();
    let t0 = Instant::now();
    let g = ganesha::start(
        nas,
        &ganesha::Options {
            exports: vec![export.clone()],
            includes: Vec::new(),
        },
    )
    .unwrap();
    let took = ganesha::wait_serving(nas, &g, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.logs()));
    eprintln!("FIGURE ganesha: port 2049 open {took:.2?} after start");
    assert_eq!(g.url(&export), "nfs://198.18.0.11/data?version=4");
    assert_eq!(daemons::read_pid(&g.daemon.pid_file), Some(g.daemon.pid));

    // The first NFS request may still race the export setup: retry briefly.
    let mut listed = Err(String::new());
    let ok = daemons::wait_for(Duration::from_secs(10), Duration::from_millis(200), || {
        listed = ganesha::list(client, &g.url(&export)).map_err(|e| e.to_string());
        listed.is_ok()
    });
    assert!(ok, "nfs-ls failed: {listed:?}\n{}", lab.logs());
    eprintln!(
        "FIGURE ganesha: export listed by a client {:.2?} after start",
        t0.elapsed()
    );
    let names = listed.unwrap();
    assert!(names.iter().any(|n| n == "hello.txt"), "{names:?}");

    // A pseudo path nobody exports fails.
    let more_url = "nfs://198.18.0.11/more?version=4";
    assert!(ganesha::list(client, more_url).is_err());

    // SIGHUP reloads the exports: a second export appears.
    let more = ganesha::Export::lab(nas, 2, "more", vec!["198.18.0.12".to_owned()]);
    std::fs::create_dir_all(&more.path).unwrap();
    std::fs::write(more.path.join("second.txt"), "2\n").unwrap();
    let text = ganesha::render_config(
        nas,
        &nas.path("ganesha/recovery"),
        &ganesha::Options {
            exports: vec![export.clone(), more],
            includes: Vec::new(),
        },
    );
    std::fs::write(&g.config, text).unwrap();
    let t1 = Instant::now();
    ganesha::reload(nas).unwrap();
    let ok = daemons::wait_for(Duration::from_secs(10), Duration::from_millis(200), || {
        ganesha::list(client, more_url).is_ok_and(|n| n.iter().any(|f| f == "second.txt"))
    });
    assert!(
        ok,
        "the added export is not served after SIGHUP\n{}",
        lab.logs()
    );
    eprintln!(
        "FIGURE ganesha: added export served {:.2?} after SIGHUP",
        t1.elapsed()
    );

    assert_eq!(
        g.daemon.stop(Duration::from_secs(10)).unwrap(),
        daemons::Stopped::Terminated
    );
    assert!(!daemons::tcp_open(nas, g.address, ganesha::NFS_PORT));
}
