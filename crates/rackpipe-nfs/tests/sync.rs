//! `sync` against a real nfs-ganesha on loopback (a free port): push uploads what the NAS
//! lacks (data before manifests) into the site's `backups.etcd.destination`, a second push
//! copies nothing, `--delete` mirrors local pruning, `pull` restores a fresh directory, and
//! an empty sending side never deletes. ganesha is killed when the test ends.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rackpipe_nfs::Error;
use rackpipe_nfs::sync::{BackupKind, Destination, Direction, SyncOptions, sync};
use rackpipe_testkit::{ChildGuard, free_port, require_tool, temp_dir, wait_until};

struct Ganesha {
    _child: ChildGuard,
    port: u16,
}

/// ganesha serving `export` (pseudo path = its path, as for the site's default) on 127.0.0.1.
fn start_ganesha(work: &Path, export: &Path) -> Option<Ganesha> {
    let bin = require_tool("ganesha.nfsd")?;
    let port = free_port();
    let recovery = work.join("recovery");
    std::fs::create_dir_all(&recovery).unwrap();
    std::fs::create_dir_all(export).unwrap();
    let conf = work.join("ganesha.conf");
    std::fs::write(
        &conf,
        format!(
            "NFS_CORE_PARAM {{ Bind_addr = 127.0.0.1; NFS_Port = {port}; Protocols = 4; \
             Enable_NLM = false; Enable_RQUOTA = false; }}\n\
             NFSv4 {{ Graceless = true; RecoveryBackend = fs; RecoveryRoot = \"{rec}\"; }}\n\
             NFS_KRB5 {{ Active_krb5 = false; }}\n\
             EXPORT {{ Export_Id = 1; Path = \"{p}\"; Pseudo = \"{p}\"; Access_Type = RW; \
             Squash = No_Root_Squash; SecType = sys; Protocols = 4; Transports = TCP; \
             CLIENT {{ Clients = 127.0.0.1; Access_Type = RW; }} FSAL {{ Name = VFS; }} }}\n",
            rec = recovery.display(),
            p = export.display()
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("-F")
        .arg("-f")
        .arg(&conf)
        .arg("-L")
        .arg(work.join("ganesha.log"))
        .arg("-p")
        .arg(work.join("ganesha.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ganesha.nfsd");
    let child = ChildGuard::new("ganesha", child);
    let up = wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "ganesha did not listen on 127.0.0.1:{port}");
    Some(Ganesha {
        _child: child,
        port,
    })
}

fn site(root: &str, subdir: &str) -> rackpipe_model::Site {
    common::load(&format!(
        "{}\nbackups:\n  etcd:\n    schedule: \"0 2 * * *\"\n    destination: {{export: pve, subdir: {subdir}}}\n    retention: {{keep_last: 3}}\n",
        common::site_yaml(root, "{kind: ganesha, ssh_user: root}")
    ))
}

fn options(direction: Direction, delete: bool) -> SyncOptions {
    SyncOptions {
        direction,
        delete,
        timeout: Duration::from_secs(10),
    }
}

fn names(copied: &[rackpipe_nfs::sync::Copied]) -> Vec<&str> {
    copied.iter().map(|c| c.name.as_str()).collect()
}

#[test]
fn push_prune_and_pull_through_ganesha() {
    let work = temp_dir();
    let root = work.path().join("nas");
    let Some(ganesha) = start_ganesha(work.path(), &root.join("pve")) else {
        return;
    };
    let site = site(&root.display().to_string(), "etcd/lab");
    let mut dest = Destination::from_site(&site, BackupKind::Etcd).unwrap();
    assert_eq!(dest.host, "198.18.10.11", "the NAS's site address");
    assert_eq!(dest.path, format!("{}/pve/etcd/lab", root.display()));
    dest.host = "127.0.0.1".into();
    dest.port = ganesha.port;

    let local = work.path().join("runner");
    std::fs::create_dir_all(&local).unwrap();
    for (name, body) in [
        ("a.db", vec![1u8; 300_000]),
        ("a.json", b"{\"a\":1}".to_vec()),
        ("b.db", vec![2u8; 5]),
        ("b.json", b"{\"b\":2}".to_vec()),
        (".b.db.partial", b"half".to_vec()),
    ] {
        std::fs::write(local.join(name), body).unwrap();
    }

    let first = sync(&dest, &local, &options(Direction::Push, true)).unwrap();
    assert_eq!(names(&first.copied), ["a.db", "b.db", "a.json", "b.json"]);
    assert_eq!(first.bytes, 300_000 + 7 + 5 + 7);
    let on_nas = root.join("pve/etcd/lab");
    assert_eq!(
        std::fs::read(on_nas.join("a.db")).unwrap(),
        vec![1u8; 300_000]
    );
    assert!(
        !on_nas.join(".b.db.partial").exists(),
        "temp files stay local"
    );

    let again = sync(&dest, &local, &options(Direction::Push, true)).unwrap();
    assert!(again.copied.is_empty() && again.deleted.is_empty());
    assert_eq!(again.unchanged, 4);

    // A file rewritten in place (same size, ros-render's SHA256SUMS could be) is copied again.
    std::fs::write(local.join("b.json"), b"{\"b\":3}").unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(local.join("b.json"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let rewritten = sync(&dest, &local, &options(Direction::Push, true)).unwrap();
    assert_eq!(names(&rewritten.copied), ["b.json"]);
    assert_eq!(std::fs::read(on_nas.join("b.json")).unwrap(), b"{\"b\":3}");

    // Retention pruned `a` locally: the NAS follows, manifest first.
    std::fs::remove_file(local.join("a.db")).unwrap();
    std::fs::remove_file(local.join("a.json")).unwrap();
    let pruned = sync(&dest, &local, &options(Direction::Push, true)).unwrap();
    assert_eq!(pruned.deleted, ["a.json", "a.db"]);
    assert!(!on_nas.join("a.db").exists());

    // A fresh runner pulls the NAS's copy before it prunes and pushes.
    let fresh = work.path().join("fresh");
    let pulled = sync(&dest, &fresh, &options(Direction::Pull, false)).unwrap();
    assert_eq!(names(&pulled.copied), ["b.db", "b.json"]);
    assert_eq!(std::fs::read(fresh.join("b.json")).unwrap(), b"{\"b\":3}");
    let again = sync(&dest, &fresh, &options(Direction::Pull, false)).unwrap();
    assert!(
        again.copied.is_empty(),
        "pulled copies keep the NAS's times"
    );
    let left: Vec<_> = std::fs::read_dir(&fresh).unwrap().collect();
    assert_eq!(left.len(), 2, "no temp files left behind");

    // An empty directory never wipes the NAS.
    let empty = work.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = sync(&dest, &empty, &options(Direction::Push, true)).unwrap_err();
    assert!(
        err.to_string().contains("refusing to delete 2 file(s)"),
        "{err}"
    );
    assert!(on_nas.join("b.db").exists());
}

#[test]
fn a_closed_port_is_a_transient_error_naming_the_destination() {
    let work = temp_dir();
    let site = site("/srv/nfs", "etcd");
    let mut dest = Destination::from_site(&site, BackupKind::Etcd).unwrap();
    dest.host = "127.0.0.1".into();
    dest.port = free_port();
    let err = sync(&dest, work.path(), &options(Direction::Push, false)).unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("nfs://127.0.0.1:{}/srv/nfs/pve/etcd: ", dest.port)),
        "{err}"
    );
}

#[test]
fn destinations_come_from_the_site_and_stay_inside_the_export() {
    let ok = Destination::from_site(&site("/srv/nfs", "etcd//lab/"), BackupKind::Etcd).unwrap();
    assert_eq!(ok.url(), "nfs://198.18.10.11:2049/srv/nfs/pve/etcd/lab");
    assert_eq!(
        (ok.export.as_str(), ok.subdir.as_str()),
        ("pve", "etcd/lab")
    );

    let err = Destination::from_site(&site("/srv/nfs", "../etc"), BackupKind::Etcd).unwrap_err();
    assert_eq!(
        err.to_string(),
        "backups.etcd.destination.subdir: \"../etc\" must be a relative path inside the export without '..'"
    );
    let err = Destination::from_site(&site("/srv/nfs", "x"), BackupKind::Router).unwrap_err();
    assert_eq!(err.to_string(), "backups.router: not set in the site");
    let yaml = common::site_yaml("/srv/nfs", "{kind: ganesha, ssh_user: root}")
        + "\nbackups:\n  etcd:\n    schedule: \"0 2 * * *\"\n    destination: {export: nope}\n    retention: {keep_last: 3}\n";
    let err = Destination::from_site(&common::load(&yaml), BackupKind::Etcd).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("backups.etcd.destination.export: export \"nope\" is needed here"),
        "{err}"
    );
    assert!(matches!(err, Error::Invalid { .. }));
}
