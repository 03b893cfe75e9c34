//! Verifying a snapshot file: our SHA-256 and size from the manifest, and etcd's own
//! integrity trailer (after decompression), in one streaming pass with bounded memory.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::format::StreamCheck;
use crate::manifest::{Compression, Manifest};

const READ_CHUNK: usize = 1024 * 1024;
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// A snapshot that passed verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Verified {
    /// The snapshot file.
    pub path: PathBuf,
    /// Whether a manifest was found and matched.
    pub manifest_checked: bool,
    /// SHA-256 (hex) of the file as stored.
    pub sha256: String,
    /// Bytes of the raw etcd snapshot (after decompression).
    pub snapshot_size: u64,
}

/// Resolves a path given on the command line: a snapshot or its `.json` manifest.
#[must_use]
pub fn snapshot_path(path: &Path) -> PathBuf {
    match path.to_str().and_then(|s| s.strip_suffix(".json")) {
        Some(stem) => PathBuf::from(stem),
        None => path.to_path_buf(),
    }
}

/// Verifies `path` (a snapshot, or its manifest). With a manifest beside it, its size and
/// SHA-256 must match; in every case the content must be a whole bbolt database whose SHA-256
/// equals etcd's 32-byte trailer.
///
/// # Errors
/// [`Error::Truncated`], [`Error::Corrupt`], [`Error::NotASnapshot`], [`Error::Manifest`] or
/// an I/O error, each naming the file.
pub fn verify(path: &Path) -> Result<Verified> {
    let path = snapshot_path(path);
    let manifest_path = Manifest::path_for(&path);
    let manifest = if manifest_path.exists() {
        Some(Manifest::read(&manifest_path)?)
    } else {
        None
    };
    verify_with(&path, manifest.as_ref())
}

/// Like [`verify`] with the manifest already read (or none).
///
/// # Errors
/// As [`verify`].
pub fn verify_with(path: &Path, manifest: Option<&Manifest>) -> Result<Verified> {
    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(path, "stat", e))?
        .len();
    if let Some(m) = manifest {
        if len < m.file_size {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                reason: format!("{len} bytes but the manifest says {}", m.file_size),
            });
        }
        if len > m.file_size {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!("{len} bytes but the manifest says {}", m.file_size),
            });
        }
    }
    let mut reader = HashingReader {
        inner: file,
        hash: Sha256::new(),
    };
    let mut magic = [0u8; 4];
    let got = read_full(&mut reader, &mut magic).map_err(|e| Error::io(path, "read", e))?;
    let compressed = match manifest {
        Some(m) => m.compression == Compression::Zstd,
        None => got == 4 && magic == ZSTD_MAGIC,
    };
    let mut check = StreamCheck::new();
    let mut buf = vec![0u8; READ_CHUNK];
    if compressed {
        let prefix = std::io::Cursor::new(magic[..got].to_vec());
        let mut decoder = zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(
            READ_CHUNK,
            prefix.chain(&mut reader),
        ))
        .map_err(|e| Error::io(path, "decompress", e))?;
        loop {
            match decoder.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => check.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(Error::Truncated {
                        path: path.to_path_buf(),
                        reason: format!("zstd stream ends early: {e}"),
                    });
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::Other
                        || e.kind() == std::io::ErrorKind::InvalidData =>
                {
                    return Err(Error::Corrupt {
                        path: path.to_path_buf(),
                        reason: format!("zstd: {e}"),
                    });
                }
                Err(e) => return Err(Error::io(path, "read", e)),
            }
        }
        drop(decoder);
        // Hash whatever follows the frame too, so the file hash covers every byte.
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| Error::io(path, "read", e))?;
    } else {
        check.update(&magic[..got]);
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| Error::io(path, "read", e))?;
            if n == 0 {
                break;
            }
            check.update(&buf[..n]);
        }
    }
    let summary = check.finish();
    let sha256 = hex::encode(reader.hash.finalize());
    summary.check(path)?;
    if let Some(m) = manifest {
        if !sha256.eq_ignore_ascii_case(&m.sha256) {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!("sha256 {sha256} differs from the manifest's {}", m.sha256),
            });
        }
        if summary.total_len != m.snapshot_size {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "snapshot is {} bytes, the manifest says {}",
                    summary.total_len, m.snapshot_size
                ),
            });
        }
    }
    Ok(Verified {
        path: path.to_path_buf(),
        manifest_checked: manifest.is_some(),
        sha256,
        snapshot_size: summary.total_len,
    })
}

struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Writes the raw snapshot (decompressed when needed) of a verified file to `out`, for tools
/// that want the plain `.db` (e.g. `etcdctl snapshot restore`).
pub(crate) fn decompress_to(path: &Path, compression: Compression, out: &Path) -> Result<()> {
    let input = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut output = {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let mode = rackpipe_model::files::PRIVATE_FILE;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(out)
            .and_then(|f| {
                f.set_permissions(std::fs::Permissions::from_mode(mode))
                    .map(|()| f)
            })
            .map_err(|e| Error::io(out, "create", e))?
    };
    match compression {
        Compression::Zstd => {
            let mut dec = zstd::stream::read::Decoder::new(input)
                .map_err(|e| Error::io(path, "decompress", e))?;
            std::io::copy(&mut dec, &mut output).map_err(|e| Error::io(out, "write", e))?;
        }
        Compression::None => {
            let mut input = input;
            std::io::copy(&mut input, &mut output).map_err(|e| Error::io(out, "write", e))?;
        }
    }
    output.sync_all().map_err(|e| Error::io(out, "fsync", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::fake_snapshot;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_files_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..20_000), zstd in any::<bool>()) {
            if zstd {
                bytes.splice(0..0, ZSTD_MAGIC);
            }
            let dir = rackpipe_testkit::temp_dir();
            let p = dir.path().join("r.db");
            std::fs::write(&p, &bytes).unwrap();
            prop_assert!(verify(&p).is_err());
        }
    }

    #[test]
    fn raw_and_compressed_files_verify_and_damage_is_named() {
        let dir = rackpipe_testkit::temp_dir();
        let snap = fake_snapshot(5, 9);
        let raw = dir.path().join("a.db");
        std::fs::write(&raw, &snap).unwrap();
        let v = verify(&raw).unwrap();
        assert!(!v.manifest_checked);
        assert_eq!(v.snapshot_size, snap.len() as u64);

        let z = dir.path().join("b.db.zst");
        std::fs::write(&z, zstd::encode_all(snap.as_slice(), 3).unwrap()).unwrap();
        verify(&z).unwrap();

        let mut bytes = std::fs::read(&z).unwrap();
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&z, &bytes).unwrap();
        let err = verify(&z).unwrap_err();
        assert!(
            matches!(err, Error::Truncated { .. } | Error::Corrupt { .. }),
            "{err}"
        );
        assert!(
            err.to_string().starts_with(&z.display().to_string()),
            "{err}"
        );

        let other = dir.path().join("c.db");
        std::fs::write(&other, b"PK\x03\x04 a zip file, not a snapshot").unwrap();
        let err = verify(&other).unwrap_err();
        assert!(matches!(err, Error::NotASnapshot { .. }), "{err}");

        let err = verify(&dir.path().join("missing.db")).unwrap_err();
        assert!(err.to_string().contains("missing.db"), "{err}");
    }

    /// The decompressed copy restore and the drill hand to etcdctl is 0600 (it was created
    /// with the umask's mode, 0644 under 022).
    #[test]
    fn the_decompressed_copy_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = rackpipe_testkit::temp_dir();
        let snap = fake_snapshot(2, 3);
        let z = dir.path().join("a.db.zst");
        std::fs::write(&z, zstd::encode_all(snap.as_slice(), 3).unwrap()).unwrap();
        let out = dir.path().join("copy.db");
        decompress_to(&z, Compression::Zstd, &out).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), snap);
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
