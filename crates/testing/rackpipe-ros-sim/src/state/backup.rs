//! `/system/backup`: save and load of the whole state, optionally encrypted.

use super::clock::now_unix;
use super::keys::sha256_hex;
use super::{Router, Snapshot};

/// Header of a simulated binary backup file.
const BACKUP_MAGIC: &str = "RACKPIPE-ROS-SIM-BACKUP";

/// A keystream from SHA-256(password, salt, counter), XORed over the data. The simulator
/// stands in for RouterOS's AES encryption so a saved file never holds plaintext secrets; it
/// is not a cipher to rely on outside tests.
fn keystream_xor(password: &str, salt: &str, data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let mut out = Vec::with_capacity(data.len());
    for (block, chunk) in data.chunks(32).enumerate() {
        let pad = sha2::Sha256::digest(format!("{password}\0{salt}\0{block}").as_bytes());
        out.extend(chunk.iter().zip(pad.iter()).map(|(a, b)| a ^ b));
    }
    out
}

fn backup_tag(password: &str, salt: &str, plain: &[u8]) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(format!("tag\0{password}\0{salt}\0").as_bytes());
    hasher.update(plain);
    hex::encode(hasher.finalize())
}

impl Router {
    /// `/system/backup/save`: the whole state (users with passwords and SSH keys,
    /// certificates with private keys, every sensitive value) as one file, encrypted when a
    /// `password` is given (see [`keystream_xor`]).
    pub fn backup_save(&mut self, name: &str, password: Option<&str>) {
        let name = if name.ends_with(".backup") {
            name.to_owned()
        } else {
            format!("{name}.backup")
        };
        let mut snapshot = self.state.clone();
        snapshot.tables.remove("/file");
        let plain = serde_json::to_string(&snapshot).unwrap_or_default();
        let contents = match password.filter(|p| !p.is_empty()) {
            None => format!("{BACKUP_MAGIC} plain\n{plain}"),
            Some(password) => {
                use base64::Engine as _;
                let salt = sha256_hex(format!("{}/{}", self.state.next_id, now_unix()).as_bytes())
                    [..32]
                    .to_owned();
                let tag = backup_tag(password, &salt, plain.as_bytes());
                let sealed = keystream_xor(password, &salt, plain.as_bytes());
                format!(
                    "{BACKUP_MAGIC} encrypted\n{salt}\n{tag}\n{}",
                    base64::engine::general_purpose::STANDARD.encode(sealed)
                )
            }
        };
        self.write_file(&name, &contents);
    }

    /// `/system/backup/load`: restores everything the backup holds (files stay as they are)
    /// and reboots. An encrypted backup needs its password; a wrong one changes nothing.
    pub fn backup_load(&mut self, name: &str, password: Option<&str>) -> Result<(), String> {
        let with_ext = if name.ends_with(".backup") {
            name.to_owned()
        } else {
            format!("{name}.backup")
        };
        let text = self
            .file_contents(&with_ext)
            .ok_or_else(|| format!("failure: no such file {with_ext}"))?;
        let bad = || "failure: bad backup file".to_owned();
        let (kind, rest) = text
            .strip_prefix(BACKUP_MAGIC)
            .and_then(|t| t.trim_start_matches(' ').split_once('\n'))
            .ok_or_else(bad)?;
        let plain = match kind {
            "plain" => rest.as_bytes().to_vec(),
            "encrypted" => {
                use base64::Engine as _;
                let mut lines = rest.splitn(3, '\n');
                let (salt, tag, body) = (
                    lines.next().ok_or_else(bad)?,
                    lines.next().ok_or_else(bad)?,
                    lines.next().ok_or_else(bad)?,
                );
                let password = password.unwrap_or("");
                let sealed = base64::engine::general_purpose::STANDARD
                    .decode(body.trim())
                    .map_err(|_| bad())?;
                let plain = keystream_xor(password, salt, &sealed);
                if backup_tag(password, salt, &plain) != tag {
                    return Err("failure: wrong password or damaged backup file".to_owned());
                }
                plain
            }
            _ => return Err(bad()),
        };
        let mut snapshot: Snapshot = serde_json::from_slice(&plain).map_err(|_| bad())?;
        let files = self.state.tables.get("/file").cloned().unwrap_or_default();
        snapshot.tables.insert("/file".to_owned(), files);
        snapshot.next_id = snapshot.next_id.max(self.state.next_id);
        self.reach_cache.replace(None);
        self.state = snapshot;
        self.reboot();
        Ok(())
    }
}
