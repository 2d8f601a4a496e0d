//! Encryption of SecureString values at rest, with the stage's own key.
//!
//! The key is 32 random bytes in `<data>/ssm.key`, created once with mode
//! 0600 (created exclusively, so two starts can never race to two keys).
//! Values are sealed with XChaCha20-Poly1305 (`chacha20poly1305`, RustCrypto):
//! its 24-byte nonces are safe to draw at random for every write, so no
//! counter has to survive restarts. The parameter name and version are the
//! associated data, so a sealed value copied to another parameter or
//! version fails to open instead of decrypting as the wrong secret.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// The key file inside the data directory.
pub const KEY_FILE: &str = "ssm.key";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or create the parameter key {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the parameter key {path} holds {len} bytes, expected {KEY_LEN}")]
    Length { path: PathBuf, len: usize },
    #[error("the system random source failed")]
    Random,
}

/// The stage's SecureString key.
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A sealed value could not be opened (wrong key, altered file).
#[derive(Debug, thiserror::Error)]
#[error("a stored secure value could not be decrypted")]
pub struct OpenFailed;

impl SecretKey {
    /// Read `<dir>/ssm.key`, creating it (0600) with fresh random bytes if missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(KEY_FILE);
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&path) {
            Ok(mut file) => {
                let mut key = [0u8; KEY_LEN];
                getrandom::fill(&mut key).map_err(|_| KeyError::Random)?;
                // Written and synced before first use: a key lost after a
                // crash would make every stored secret unreadable.
                file.write_all(&key)
                    .and_then(|()| file.sync_all())
                    .map_err(io)?;
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        let mut bytes = Vec::new();
        fs::File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io)?;
        if bytes.len() != KEY_LEN {
            return Err(KeyError::Length {
                path,
                len: bytes.len(),
            });
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| KeyError::Length {
            path: path.clone(),
            len: bytes.len(),
        })?;
        Ok(Self { cipher })
    }

    fn aad(name: &str, version: i64) -> Vec<u8> {
        format!("{name}\u{0}{version}").into_bytes()
    }

    /// `nonce || ciphertext-with-tag`.
    pub fn seal(&self, name: &str, version: i64, plaintext: &str) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| KeyError::Random)?;
        let aad = Self::aad(name, version);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            // Encryption fails only for inputs over ~256 GiB.
            .map_err(|_| KeyError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, name: &str, version: i64, sealed: &[u8]) -> Result<String, OpenFailed> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenFailed);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let aad = Self::aad(name, version);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenFailed)?;
        String::from_utf8(plain).map_err(|_| OpenFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_private_and_reused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let key = SecretKey::load_or_create(tmp.path()).expect("create");
        let sealed = key.seal("/a", 1, "secret").expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(tmp.path().join(KEY_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = SecretKey::load_or_create(tmp.path()).expect("reload");
        assert_eq!(again.open("/a", 1, &sealed).expect("open"), "secret");
        // Bound to name and version.
        assert!(again.open("/b", 1, &sealed).is_err());
        assert!(again.open("/a", 2, &sealed).is_err());
    }

    #[test]
    fn a_truncated_key_file_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::write(tmp.path().join(KEY_FILE), b"short").expect("write");
        assert!(matches!(
            SecretKey::load_or_create(tmp.path()),
            Err(KeyError::Length { len: 5, .. })
        ));
    }
}
