#![allow(clippy::print_stderr)]
//! `sync` against a real nfs-ganesha on loopback (a free port): push uploads what the NAS
//! lacks (data before manifests) into the site's `backups.etcd.destination`, a second push
//! copies nothing, `--delete` mirrors local pruning, `pull` restores a fresh directory, and
//! an empty sending side never deletes. ganesha is killed when the test ends.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rackpipe_nfs_export::Error;
use rackpipe_nfs_export::sync::{BackupKind, Destination, Direction, SyncOptions, sync};
use rackpipe_testkit::{ChildGuard, free_port, require_tool, temp_dir, wait_until};

struct Ganesha {
    child: ChildGuard,
    port: u16,
    bin: PathBuf,
    conf: PathBuf,
    work: PathBuf,
}

impl Ganesha {
    fn spawn(&mut self) {
        let child = Command::new(&self.bin)
            .arg("-F")
            .arg("-f")
            .arg(&self.conf)
            .arg("-L")
            .arg(self.work.join("ganesha.log"))
            .arg("-p")
            .arg(self.work.join("ganesha.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ganesha.nfsd");
        self.child = ChildGuard::new("ganesha", child);
        let port = self.port;
        let up = wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "ganesha did not listen on 127.0.0.1:{port}");
    }

    /// Kills the server (SIGKILL: no clean shutdown) and starts it again on the same port.
    fn restart(&mut self) {
        self.child.kill();
        self.spawn();
    }
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
    let sleeper = Command::new("true").spawn().expect("spawn true");
    let mut ganesha = Ganesha {
        child: ChildGuard::new("placeholder", sleeper),
        port,
        bin,
        conf,
        work: work.to_path_buf(),
    };
    ganesha.spawn();
    Some(ganesha)
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

fn names(copied: &[rackpipe_nfs_export::sync::Copied]) -> Vec<&str> {
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
    // The document `nfs-export sync` prints matches its committed schema (RACKPIPE_BLESS=1
    // regenerates it).
    let schema = rackpipe_nfs_export::sync::sync_schema();
    rackpipe_model::schema::check_committed(rackpipe_nfs_export::sync::SYNC_SCHEMA, &schema)
        .unwrap();
    let doc = serde_json::to_value(first.clone().document("lab")).unwrap();
    assert_eq!(doc["kind"], "NfsSync");
    assert_eq!(
        rackpipe_model::schema::check_against(&schema, &doc),
        Ok(Vec::new())
    );
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

/// Writes `mib` MiB of non-repeating bytes to `path`.
fn big_file(path: &Path, mib: usize) {
    use std::io::Write as _;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        file.write_all(&block).unwrap();
    }
    file.flush().unwrap();
}

/// Whether two files hold the same bytes.
fn same_content(a: &Path, b: &Path) -> bool {
    use std::io::Read as _;
    let (mut a, mut b) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = a.read(&mut x).unwrap();
        let mut filled = 0;
        while filled < n {
            match b.read(&mut y[filled..n]).unwrap() {
                0 => return false,
                m => filled += m,
            }
        }
        if x[..n] != y[..n] {
            return false;
        }
        if n == 0 {
            return b.read(&mut y).unwrap() == 0;
        }
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A destination on `ganesha` for the test site's `backups.etcd` (subdir `etcd/lab`).
fn destination(root: &Path, ganesha: &Ganesha) -> Destination {
    let site = site(&root.display().to_string(), "etcd/lab");
    let mut dest = Destination::from_site(&site, BackupKind::Etcd).unwrap();
    dest.host = "127.0.0.1".into();
    dest.port = ganesha.port;
    dest
}

/// A 256 MiB snapshot goes up and comes back byte for byte: on the NAS only the final names
/// (0600), no temporary file; pulled into a fresh directory it is 0600 in a 0700 directory
/// (before: the umask's 0644 in 0755). Prints the push and pull times.
#[test]
fn a_large_backup_is_copied_verified_and_pulled_back_private() {
    let work = temp_dir();
    let root = work.path().join("nas");
    let Some(ganesha) = start_ganesha(work.path(), &root.join("pve")) else {
        return;
    };
    let dest = destination(&root, &ganesha);
    let local = work.path().join("runner");
    std::fs::create_dir_all(&local).unwrap();
    big_file(&local.join("big.db"), 256);
    std::fs::write(local.join("big.db.json"), b"{}").unwrap();

    let t = std::time::Instant::now();
    let pushed = sync(&dest, &local, &options(Direction::Push, false)).unwrap();
    let push_s = t.elapsed().as_secs_f64();
    assert_eq!(names(&pushed.copied), ["big.db", "big.db.json"]);
    let on_nas = root.join("pve/etcd/lab");
    assert_eq!(
        file_names(&on_nas),
        ["big.db", "big.db.json"],
        "no temp left"
    );
    assert!(same_content(&on_nas.join("big.db"), &local.join("big.db")));
    assert_eq!(mode(&on_nas.join("big.db")), 0o600);

    let fresh = work.path().join("fresh/etcd");
    let t = std::time::Instant::now();
    let pulled = sync(&dest, &fresh, &options(Direction::Pull, false)).unwrap();
    let pull_s = t.elapsed().as_secs_f64();
    assert_eq!(names(&pulled.copied), ["big.db", "big.db.json"]);
    assert!(same_content(&fresh.join("big.db"), &local.join("big.db")));
    assert_eq!(
        [
            mode(&fresh),
            mode(&fresh.join("big.db")),
            mode(&fresh.join("big.db.json"))
        ],
        [0o700, 0o600, 0o600]
    );
    eprintln!(
        "256 MiB through ganesha: push (write, commit, read back, rename) {push_s:.1} s, pull {pull_s:.1} s"
    );
}

/// The NAS dies half-way through a 256 MiB upload (SIGKILL once a quarter is on its disk):
/// push fails naming the file, transient (exit 75), and neither the snapshot nor its
/// manifest exists under a final name. After the server restarts, a pull sees no backup (the
/// half-written temporary file is not one) and the next push completes.
#[test]
fn the_server_killed_mid_copy_leaves_no_final_file() {
    let work = temp_dir();
    let root = work.path().join("nas");
    let Some(mut ganesha) = start_ganesha(work.path(), &root.join("pve")) else {
        return;
    };
    let dest = destination(&root, &ganesha);
    let local = work.path().join("runner");
    std::fs::create_dir_all(&local).unwrap();
    big_file(&local.join("big.db"), 256);
    std::fs::write(local.join("big.db.json"), b"{}").unwrap();
    let on_nas = root.join("pve/etcd/lab");

    let push = {
        let (dest, local) = (dest.clone(), local.clone());
        std::thread::spawn(move || sync(&dest, &local, &options(Direction::Push, false)))
    };
    let quarter = wait_until(Duration::from_secs(60), || {
        std::fs::read_dir(&on_nas).is_ok_and(|rd| {
            rd.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with(".big.db.sync-")
                    && e.metadata().is_ok_and(|m| m.len() >= 64 << 20)
            })
        })
    });
    assert!(
        quarter,
        "the upload did not reach 64 MiB: {:?}",
        file_names(&on_nas)
    );
    ganesha.child.kill();
    let err = push.join().unwrap().unwrap_err();
    eprintln!("killed mid-copy: {err}");
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("big.db"), "{err}");
    let left = file_names(&on_nas);
    assert!(
        !left.contains(&"big.db".to_owned()) && !left.contains(&"big.db.json".to_owned()),
        "a final name after a failed upload: {left:?}"
    );

    ganesha.restart();
    let fresh = work.path().join("fresh");
    let pulled = sync(&dest, &fresh, &options(Direction::Pull, false)).unwrap();
    assert!(
        pulled.copied.is_empty(),
        "a temp file is no backup: {pulled:?}"
    );
    assert_eq!(file_names(&fresh), Vec::<String>::new());

    let again = sync(&dest, &local, &options(Direction::Push, false)).unwrap();
    assert_eq!(names(&again.copied), ["big.db", "big.db.json"]);
    assert!(same_content(&on_nas.join("big.db"), &local.join("big.db")));
}

/// Unmounts a test filesystem when dropped (after the server that exports it).
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A full export (ganesha exporting a 64 MiB tmpfs, a 96 MiB snapshot): push fails naming
/// the file, the temporary file is removed (the server still answers), no final name exists;
/// the space is free again for the next, smaller backup.
#[test]
fn a_full_export_fails_and_leaves_no_final_file() {
    if rackpipe_testkit::require_root("mounting a small tmpfs for ganesha to export").is_none() {
        return;
    }
    if require_tool("ganesha.nfsd").is_none() {
        return;
    }
    let work = temp_dir();
    let export = work.path().join("full");
    std::fs::create_dir_all(&export).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs"])
        .arg(&export)
        .status()
        .unwrap();
    assert!(status.success(), "mount a tmpfs on {}", export.display());
    let _mounted = Mounted(export.clone());
    let Some(ganesha) = start_ganesha(work.path(), &export) else {
        return;
    };
    let site = site(&work.path().display().to_string(), "etcd/lab");
    let mut dest = Destination::from_site(&site, BackupKind::Etcd).unwrap();
    // The test site's export `pve` is ROOT/pve; this server exports the tmpfs itself.
    dest.path = format!("{}/etcd/lab", export.display());
    dest.host = "127.0.0.1".into();
    dest.port = ganesha.port;

    let local = work.path().join("runner");
    std::fs::create_dir_all(&local).unwrap();
    big_file(&local.join("big.db"), 96);
    std::fs::write(local.join("big.db.json"), b"{}").unwrap();
    let err = sync(&dest, &local, &options(Direction::Push, false)).unwrap_err();
    let line = err.to_string();
    eprintln!("full export: {line}");
    assert!(!line.contains('\n') && line.contains("big.db"), "{line}");
    let on_nas = export.join("etcd/lab");
    assert_eq!(
        file_names(&on_nas),
        Vec::<String>::new(),
        "no final name, and the temporary file removed: {line}"
    );

    std::fs::remove_file(local.join("big.db")).unwrap();
    std::fs::remove_file(local.join("big.db.json")).unwrap();
    big_file(&local.join("small.db"), 8);
    let pushed = sync(&dest, &local, &options(Direction::Push, false)).unwrap();
    assert_eq!(names(&pushed.copied), ["small.db"]);
    assert!(same_content(
        &on_nas.join("small.db"),
        &local.join("small.db")
    ));
}

/// A NAS listing with odd names: a pull copies the plain backup only; a name with a newline
/// (it would forge a log line), a hidden file and a temporary upload are never backups.
#[test]
fn a_pull_skips_odd_names_on_the_nas() {
    let work = temp_dir();
    let root = work.path().join("nas");
    let Some(ganesha) = start_ganesha(work.path(), &root.join("pve")) else {
        return;
    };
    let dest = destination(&root, &ganesha);
    let on_nas = root.join("pve/etcd/lab");
    std::fs::create_dir_all(&on_nas).unwrap();
    for name in [
        "ok.db",
        "evil\nrackpipe: error: forged.db",
        ".hidden.db",
        ".ok.db.sync-1-2.partial",
    ] {
        std::fs::write(on_nas.join(name), b"x").unwrap();
    }
    let fresh = work.path().join("fresh");
    let pulled = sync(&dest, &fresh, &options(Direction::Pull, false)).unwrap();
    assert_eq!(names(&pulled.copied), ["ok.db"]);
    assert_eq!(file_names(&fresh), ["ok.db"]);
}
