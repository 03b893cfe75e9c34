//! What an etcd v3 snapshot stream looks like, checked in one pass.
//!
//! `Maintenance.Snapshot` sends the member's bbolt database followed by 32 bytes: the SHA-256 of
//! the database. A bbolt file starts with a meta page: a 16-byte page header, then the magic
//! `0xED0CDAED`, the format version and the page size (little-endian `u32`s), and its length is
//! a whole number of pages. [`StreamCheck`] hashes everything but the last 32 bytes while the
//! bytes go by, and (by cloning the hash state) also yields the SHA-256 of the whole stream,
//! so one pass gives both checksums.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Length of etcd's integrity trailer.
pub const TRAILER_LEN: usize = 32;
/// bbolt's magic number.
pub const BOLT_MAGIC: u32 = 0xED0C_DAED;
/// Offset of the magic in the first meta page.
const MAGIC_OFFSET: usize = 16;
/// Bytes of the file head kept for the format check.
const HEAD_LEN: usize = 32;

/// Incremental checker for a snapshot stream.
#[derive(Debug, Clone, Default)]
pub struct StreamCheck {
    body: Sha256,
    tail: Vec<u8>,
    head: Vec<u8>,
    total: u64,
}

/// What [`StreamCheck::finish`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    /// Bytes seen, trailer included.
    pub total_len: u64,
    /// SHA-256 of all bytes but the last 32.
    pub body_sha256: [u8; 32],
    /// The last 32 bytes (shorter only when the stream was shorter).
    pub trailer: Vec<u8>,
    /// SHA-256 of every byte.
    pub stream_sha256: [u8; 32],
    /// The first bytes, for the bbolt header check.
    pub head: Vec<u8>,
}

impl StreamCheck {
    /// A fresh checker.
    #[must_use]
    pub fn new() -> Self {
        Self {
            tail: Vec::with_capacity(2 * TRAILER_LEN),
            ..Self::default()
        }
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
        }
        if data.len() >= TRAILER_LEN {
            self.body.update(&self.tail);
            let split = data.len() - TRAILER_LEN;
            self.body.update(&data[..split]);
            self.tail.clear();
            self.tail.extend_from_slice(&data[split..]);
        } else {
            self.tail.extend_from_slice(data);
            if self.tail.len() > TRAILER_LEN {
                let excess = self.tail.len() - TRAILER_LEN;
                self.body.update(&self.tail[..excess]);
                self.tail.drain(..excess);
            }
        }
    }

    /// Bytes seen so far.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Both digests, the trailer and the head.
    #[must_use]
    pub fn finish(self) -> StreamSummary {
        let body_sha256: [u8; 32] = self.body.clone().finalize().into();
        let mut whole = self.body;
        whole.update(&self.tail);
        StreamSummary {
            total_len: self.total,
            body_sha256,
            trailer: self.tail,
            stream_sha256: whole.finalize().into(),
            head: self.head,
        }
    }
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}

impl StreamSummary {
    /// Checks the stream is a whole etcd snapshot: bbolt header, whole pages, matching trailer.
    /// `path` (or an endpoint) names the source in errors.
    ///
    /// # Errors
    /// [`Error::NotASnapshot`], [`Error::Truncated`] or [`Error::Corrupt`].
    pub fn check(&self, path: &Path) -> Result<()> {
        let not = |reason: String| Error::NotASnapshot {
            path: path.to_path_buf(),
            reason,
        };
        if self.total_len == 0 {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                reason: "file is empty".into(),
            });
        }
        match le_u32(&self.head, MAGIC_OFFSET) {
            Some(BOLT_MAGIC) => {}
            Some(other) => {
                return Err(not(format!(
                    "no bbolt magic at offset {MAGIC_OFFSET} (found {other:#010x})"
                )));
            }
            None => {
                return Err(Error::Truncated {
                    path: path.to_path_buf(),
                    reason: format!("only {} bytes", self.total_len),
                });
            }
        }
        let page = u64::from(le_u32(&self.head, MAGIC_OFFSET + 8).unwrap_or(0));
        if !(512..=65536).contains(&page) || !page.is_power_of_two() {
            return Err(not(format!("implausible bbolt page size {page}")));
        }
        let len = self.total_len;
        if len.is_multiple_of(page) {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                reason: format!(
                    "{len} bytes is whole {page}-byte pages with no 32-byte integrity hash (a raw copy of member/snap/db, or cut at a page boundary)"
                ),
            });
        }
        if len < page + TRAILER_LEN as u64 || !(len - TRAILER_LEN as u64).is_multiple_of(page) {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                reason: format!(
                    "{len} bytes is not whole {page}-byte pages plus the 32-byte integrity hash"
                ),
            });
        }
        if self.trailer != self.body_sha256 {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "etcd integrity hash mismatch: trailer {} but content hashes to {}",
                    hex::encode(&self.trailer),
                    hex::encode(self.body_sha256)
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A fake but well-formed snapshot: `pages` bbolt-looking pages plus the trailer.
    pub(crate) fn fake_snapshot(pages: usize, seed: u8) -> Vec<u8> {
        let page = 4096usize;
        let mut body: Vec<u8> = (0..pages * page)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect();
        body[16..20].copy_from_slice(&BOLT_MAGIC.to_le_bytes());
        body[20..24].copy_from_slice(&2u32.to_le_bytes());
        body[24..28].copy_from_slice(&(page as u32).to_le_bytes());
        let digest: [u8; 32] = Sha256::digest(&body).into();
        body.extend_from_slice(&digest);
        body
    }

    fn summarize(bytes: &[u8], chunk: usize) -> StreamSummary {
        let mut check = StreamCheck::new();
        for c in bytes.chunks(chunk.max(1)) {
            check.update(c);
        }
        check.finish()
    }

    #[test]
    fn good_snapshot_passes_and_whole_hash_matches() {
        let snap = fake_snapshot(3, 7);
        let s = summarize(&snap, 1000);
        s.check(Path::new("x.db")).unwrap();
        assert_eq!(s.stream_sha256, <[u8; 32]>::from(Sha256::digest(&snap)));
    }

    #[test]
    fn flipped_byte_and_truncation_are_caught() {
        let mut snap = fake_snapshot(3, 1);
        snap[5000] ^= 0x40;
        let err = summarize(&snap, 333).check(Path::new("x.db")).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        let snap = fake_snapshot(3, 1);
        let err = summarize(&snap[..snap.len() - 100], 333)
            .check(Path::new("x.db"))
            .unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");
        let err = summarize(&snap[..4096], 333)
            .check(Path::new("x.db"))
            .unwrap_err();
        assert!(err.to_string().contains("raw copy"), "{err}");
        let err = summarize(b"hello world, this is not a database at all!", 5)
            .check(Path::new("x.db"))
            .unwrap_err();
        assert!(matches!(err, Error::NotASnapshot { .. }), "{err}");
    }

    proptest! {
        #[test]
        fn chunking_does_not_matter(chunk in 1usize..5000, seed in any::<u8>()) {
            let snap = fake_snapshot(2, seed);
            let a = summarize(&snap, chunk);
            let b = summarize(&snap, snap.len());
            prop_assert_eq!(a, b);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..9000), chunk in 1usize..700) {
            let s = summarize(&bytes, chunk);
            let _ = s.check(Path::new("random"));
        }
    }
}
