//! Operators' PGP public keys as the `sys/init` API wants them: base64 of the binary key.

use std::path::Path;

use base64::Engine as _;

use crate::error::{Error, Result};

/// Reads a PGP public key file (binary, base64 or ASCII-armored) and returns the base64 of
/// the binary key.
///
/// # Errors
/// [`Error::File`] naming the file when it cannot be read or holds no PGP public key.
pub fn pgp_key(path: &Path) -> Result<String> {
    let file_error = |reason: String| Error::File {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| file_error(format!("cannot read PGP key: {e}")))?;
    let engine = &base64::engine::general_purpose::STANDARD;
    let text = String::from_utf8_lossy(&bytes);
    let body: String = if text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        // ASCII armor: headers, a blank line, base64 lines, `=CRC`, the end line.
        text.lines()
            .skip_while(|l| !l.starts_with("-----BEGIN"))
            .skip(1)
            .skip_while(|l| !l.trim().is_empty())
            .take_while(|l| !l.starts_with('=') && !l.starts_with("-----END"))
            .map(str::trim)
            .collect()
    } else {
        text.split_whitespace().collect()
    };
    match engine.decode(body.as_bytes()) {
        Ok(decoded) if starts_public_key(&decoded) => Ok(engine.encode(decoded)),
        _ if starts_public_key(&bytes) => Ok(engine.encode(&bytes)),
        _ => Err(file_error(
            "not a PGP public key (binary, base64 or ASCII-armored)".to_owned(),
        )),
    }
}

/// Whether the bytes start with an OpenPGP public-key packet (tag 6, old or new format).
fn starts_public_key(bytes: &[u8]) -> bool {
    match bytes.first() {
        Some(b) if b & 0xC0 == 0xC0 => b & 0x3F == 6,
        Some(b) if b & 0x80 == 0x80 => (b >> 2) & 0x0F == 6,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgp_keys_are_read_armored_base64_or_binary() {
        let engine = &base64::engine::general_purpose::STANDARD;
        let key: Vec<u8> = [0x99, 0x01, 0x0d, 0x04].repeat(20);
        let b64 = engine.encode(&key);
        let dir = tempfile::tempdir().unwrap();
        let armored = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n{}\n{}\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n",
            &b64[..40],
            &b64[40..]
        );
        for (name, content) in [
            ("armored.asc", armored.into_bytes()),
            ("key.b64", format!("{b64}\n").into_bytes()),
            ("key.gpg", key.clone()),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            assert_eq!(pgp_key(&path).unwrap(), b64, "{name}");
        }
        let path = dir.path().join("nonsense");
        std::fs::write(&path, "not a key at all").unwrap();
        let e = pgp_key(&path).unwrap_err().to_string();
        assert!(e.contains("not a PGP public key"), "{e}");
    }
}
