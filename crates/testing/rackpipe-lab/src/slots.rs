//! Address slots: each lab takes its own block of 198.18.0.0/15, so labs running at the same
//! time (parallel tests) never have overlapping routes in the root namespace.
//!
//! A claim is one directory per /24 under `/run/rackpipe-lab/slots/` (`mkdir` is atomic),
//! each holding an `owner` file with the lab id. A claim whose owner has no namespace left
//! and is older than a minute is stale (a lab killed before `down`) and is taken over.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::error::LabError;
use crate::labsite::LAB_SPACE;

/// Where claims live.
pub const SLOT_DIR: &str = "/run/rackpipe-lab/slots";

fn claim_path(net24: Ipv4Addr) -> PathBuf {
    Path::new(SLOT_DIR).join(net24.to_string())
}

fn owner_alive(dir: &Path) -> bool {
    let Ok(owner) = std::fs::read_to_string(dir.join("owner")) else {
        // Being written right now, or a crash between mkdir and write: young means alive.
        return young(dir);
    };
    let owner = owner.trim();
    let has_netns = std::fs::read_dir("/run/netns").is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("rp{owner}-"))
        })
    });
    has_netns || young(dir)
}

fn young(dir: &Path) -> bool {
    std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age < Duration::from_secs(60))
}

fn routes_in_use(block: Ipv4Net) -> bool {
    let Ok(out) = std::process::Command::new("ip")
        .args(["-4", "route", "show"])
        .output()
    else {
        return false;
    };
    String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        l.split_whitespace()
            .next()
            .and_then(|dst| {
                dst.parse::<Ipv4Net>()
                    .ok()
                    .or_else(|| dst.parse::<Ipv4Addr>().ok().map(Ipv4Net::from))
            })
            .is_some_and(|n| block.contains(&n.network()) || n.contains(&block.network()))
    })
}

/// Claims a free block of prefix length `len` for lab `id`.
///
/// # Errors
/// Every block is taken, or `/run/rackpipe-lab` cannot be written.
pub fn claim(id: &str, len: u8) -> Result<Ipv4Net, LabError> {
    let space: Ipv4Net = LAB_SPACE
        .parse()
        .map_err(|_| LabError::State("lab space".into()))?;
    let len = len.clamp(space.prefix_len(), 24);
    let dir = Path::new(SLOT_DIR);
    std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, &e))?;
    let slots = 1u32 << (len - space.prefix_len());
    let size = 1u32 << (32 - u32::from(len));
    let start = u32::from_str_radix(id, 16).unwrap_or(0) % slots;
    for probe in 0..slots {
        let k = (start + probe) % slots;
        let base = Ipv4Addr::from(u32::from(space.network()) + k * size);
        let block = Ipv4Net::new(base, len).map_err(|_| LabError::State("slot".into()))?;
        if routes_in_use(block) {
            continue;
        }
        let mut claimed = Vec::new();
        let mut ok = true;
        for i in 0..(size / 256) {
            let net24 = Ipv4Addr::from(u32::from(base) + i * 256);
            let p = claim_path(net24);
            if std::fs::create_dir(&p).is_err() {
                if p.is_dir() && !owner_alive(&p) {
                    let _ = std::fs::remove_dir_all(&p);
                    if std::fs::create_dir(&p).is_ok() {
                        let _ = std::fs::write(p.join("owner"), id);
                        claimed.push(p);
                        continue;
                    }
                }
                ok = false;
                break;
            }
            let _ = std::fs::write(p.join("owner"), id);
            claimed.push(p);
        }
        if ok {
            return Ok(block);
        }
        for p in claimed {
            let _ = std::fs::remove_dir_all(p);
        }
    }
    Err(LabError::State(format!(
        "no free /{len} left in {LAB_SPACE} (see {SLOT_DIR})"
    )))
}

/// Releases lab `id`'s claim on `block` (only the /24s it owns).
pub fn release(id: &str, block: Ipv4Net) {
    let count = (1u64 << (32 - u32::from(block.prefix_len().min(24)))) / 256;
    for i in 0..u32::try_from(count).unwrap_or(0) {
        let p = claim_path(Ipv4Addr::from(u32::from(block.network()) + i * 256));
        if std::fs::read_to_string(p.join("owner")).is_ok_and(|o| o.trim() == id) {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}
