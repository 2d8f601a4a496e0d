//! Object bytes on disk: one immutable file per object version or part,
//! `<data>/s3/blobs/<2 hex>/<32 hex>`, named by a random id, never by the
//! user's key.
//!
//! **Invariant:** a key never becomes a path. Keys are rows in SQLite; files
//! are named by ids this module makes up, so no key (unicode, `../`, 1,024
//! bytes, NUL) can name, escape or collide with anything on disk.
//!
//! A write streams into `s3/tmp/<id>` while hashing, is fsynced when the
//! durability level asks for power-loss safety, and is renamed into place;
//! only then does the caller commit the metadata row that refers to it. A
//! crash before the commit leaves an unreferenced file, which
//! [`Blobs::sweep`] removes on the next start. Blobs are never modified, so
//! a copy is a hard link and a removal is an unlink after the row is gone.

use std::collections::HashSet;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use axum::body::Body;
use http_body_util::BodyExt;
use md5::{Digest as _, Md5};
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use super::chunked::ChunkDecoder;
use super::error::S3Error;
use crate::durability::Durability;

/// A blob written and in place, not yet referenced by a row.
#[derive(Debug, Clone)]
pub struct Staged {
    pub id: String,
    pub size: u64,
    pub md5: [u8; 16],
}

/// The blob directory of one stage.
#[derive(Debug, Clone)]
pub struct Blobs {
    root: PathBuf,
    durability: Durability,
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Plain,
    /// `Content-Encoding: aws-chunked` (SigV4 streaming): chunk headers,
    /// signatures and trailers around the object's bytes.
    AwsChunked,
}

/// Hex of random bytes: blob ids, version ids, upload ids, request ids.
pub fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    // getrandom only fails when the OS has no entropy source at all; the ids
    // then fall back to the clock, which is still unique enough locally.
    if getrandom::fill(&mut raw).is_err() {
        let now = crate::sqlite::now_ms().to_le_bytes();
        for (i, b) in raw.iter_mut().enumerate() {
            *b = now[i % now.len()] ^ (i as u8);
        }
    }
    hex(&raw)
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

impl Blobs {
    pub fn open(data_dir: &Path, durability: Durability) -> std::io::Result<Self> {
        let root = data_dir.join("s3");
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("tmp"))?;
        Ok(Self { root, durability })
    }

    fn path(&self, id: &str) -> PathBuf {
        let fan = id.get(..2).unwrap_or("00");
        self.root.join("blobs").join(fan).join(id)
    }

    fn tmp(&self, id: &str) -> PathBuf {
        self.root.join("tmp").join(id)
    }

    /// Stream `body` into a new blob, refusing more than `limit` bytes and
    /// (when given) a body shorter or longer than `expected`.
    pub async fn receive(
        &self,
        mut body: Body,
        framing: Framing,
        expected: Option<u64>,
        limit: u64,
    ) -> Result<Staged, S3Error> {
        let id = random_hex(16);
        let tmp = self.tmp(&id);
        let result = async {
            let file = tokio::fs::File::create(&tmp).await?;
            let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
            let mut md5 = Md5::new();
            let mut size: u64 = 0;
            let mut decoder = (framing == Framing::AwsChunked).then(ChunkDecoder::default);
            let mut decoded = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|_| S3Error::IncompleteBody)?;
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let data: &[u8] = match decoder.as_mut() {
                    Some(decoder) => {
                        decoded.clear();
                        decoder.feed(&data, &mut decoded)?;
                        &decoded
                    }
                    None => &data,
                };
                size += data.len() as u64;
                if size > limit {
                    return Err(S3Error::EntityTooLarge);
                }
                md5.update(data);
                out.write_all(data).await?;
            }
            if decoder.is_some_and(|d| !d.finished()) {
                return Err(S3Error::IncompleteBody);
            }
            if expected.is_some_and(|n| n != size) {
                return Err(S3Error::IncompleteBody);
            }
            out.flush().await?;
            let file = out.into_inner();
            if self.durability == Durability::Power {
                file.sync_all().await?;
            }
            drop(file);
            Ok(Staged {
                id: id.clone(),
                size,
                md5: md5.finalize().into(),
            })
        }
        .await;
        match result {
            Ok(staged) => {
                self.place(&staged.id).await?;
                Ok(staged)
            }
            Err(error) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(error)
            }
        }
    }

    /// A blob from bytes already in memory.
    #[cfg(test)]
    pub async fn store_bytes(&self, bytes: bytes::Bytes) -> Result<Staged, S3Error> {
        let len = bytes.len() as u64;
        self.receive(Body::from(bytes), Framing::Plain, Some(len), u64::MAX)
            .await
    }

    /// Move a finished temporary file into place (with the folder fsync that
    /// makes the rename itself durable at the power level).
    async fn place(&self, id: &str) -> Result<(), S3Error> {
        let target = self.path(id);
        let parent = target.parent().map(Path::to_owned);
        if let Some(parent) = &parent {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(self.tmp(id), &target).await?;
        if self.durability == Durability::Power
            && let Some(parent) = parent
        {
            tokio::task::spawn_blocking(move || std::fs::File::open(parent)?.sync_all())
                .await
                .map_err(|_| S3Error::Internal)??;
        }
        Ok(())
    }

    /// A new blob with the same bytes: a hard link (blobs never change), or
    /// a copy where links are not possible.
    pub async fn duplicate(&self, id: &str) -> Result<String, S3Error> {
        let new = random_hex(16);
        let source = self.path(id);
        let tmp = self.tmp(&new);
        if tokio::fs::hard_link(&source, &tmp).await.is_err() {
            tokio::fs::copy(&source, &tmp).await?;
        }
        self.place(&new).await?;
        Ok(new)
    }

    /// One blob made of `parts` in order (CompleteMultipartUpload), copied
    /// on the blocking pool a buffer at a time.
    pub async fn concat(&self, parts: Vec<String>) -> Result<Staged, S3Error> {
        let id = random_hex(16);
        let tmp = self.tmp(&id);
        let sources: Vec<PathBuf> = parts.iter().map(|p| self.path(p)).collect();
        let power = self.durability == Durability::Power;
        let written = tokio::task::spawn_blocking({
            let tmp = tmp.clone();
            move || -> std::io::Result<u64> {
                let mut out = std::fs::File::create(&tmp)?;
                let mut size = 0;
                let mut buffer = vec![0u8; 1024 * 1024];
                for source in sources {
                    let mut input = std::fs::File::open(source)?;
                    loop {
                        let n = input.read(&mut buffer)?;
                        if n == 0 {
                            break;
                        }
                        out.write_all(&buffer[..n])?;
                        size += n as u64;
                    }
                }
                if power {
                    out.sync_all()?;
                }
                Ok(size)
            }
        })
        .await
        .map_err(|_| S3Error::Internal)?;
        match written {
            Ok(size) => {
                self.place(&id).await?;
                Ok(Staged {
                    id,
                    size,
                    md5: [0; 16],
                })
            }
            Err(error) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(error.into())
            }
        }
    }

    /// A streaming body of `len` bytes of blob `id` from `start`: read a
    /// buffer at a time, never the whole object.
    pub async fn read(&self, id: &str, start: u64, len: u64) -> Result<Body, S3Error> {
        use tokio::io::AsyncReadExt as _;
        let mut file = tokio::fs::File::open(self.path(id)).await?;
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await?;
        }
        let stream = tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 * 1024);
        Ok(Body::from_stream(stream))
    }

    /// Forget blobs whose rows are gone. Missing files are fine: a crash
    /// between the commit and the unlink is swept on start, and a second
    /// removal finds nothing.
    pub async fn remove(&self, ids: Vec<String>) {
        for id in ids {
            let _ = tokio::fs::remove_file(self.path(&id)).await;
        }
    }

    pub fn remove_blocking(&self, ids: &[String]) {
        for id in ids {
            let _ = std::fs::remove_file(self.path(id));
        }
    }

    /// On start: delete temporary files and blobs no row refers to (a write
    /// killed before its commit, an unlink killed after it).
    pub fn sweep(&self, referenced: &HashSet<String>) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.root.join("tmp"))? {
            std::fs::remove_file(entry?.path())?;
            removed += 1;
        }
        for fan in std::fs::read_dir(self.root.join("blobs"))? {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(fan.path())? {
                let entry = entry?;
                let name = entry.file_name();
                if !name.to_str().is_some_and(|n| referenced.contains(n)) {
                    std::fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0, 15, 16, 255]), "000f10ff");
        assert_eq!(random_hex(16).len(), 32);
    }

    #[tokio::test]
    async fn blobs_stream_in_and_out_and_unreferenced_ones_are_swept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::open(tmp.path(), Durability::Process).expect("open");
        let staged = blobs
            .store_bytes(Bytes::from_static(b"hello world"))
            .await
            .expect("store");
        assert_eq!(staged.size, 11);
        assert_eq!(hex(&staged.md5), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        let body = blobs.read(&staged.id, 6, 5).await.expect("read");
        let bytes = body.collect().await.expect("collect").to_bytes();
        assert_eq!(&bytes[..], b"world");
        let copy = blobs.duplicate(&staged.id).await.expect("dup");
        let joined = blobs
            .concat(vec![staged.id.clone(), copy.clone()])
            .await
            .expect("concat");
        assert_eq!(joined.size, 22);
        let keep = HashSet::from([joined.id.clone()]);
        assert_eq!(blobs.sweep(&keep).expect("sweep"), 2);
        assert!(blobs.read(&staged.id, 0, 1).await.is_err());
        assert!(blobs.read(&joined.id, 0, 1).await.is_ok());
    }

    #[tokio::test]
    async fn a_body_of_the_wrong_length_leaves_no_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::open(tmp.path(), Durability::Process).expect("open");
        let short = blobs
            .receive(Body::from("abc"), Framing::Plain, Some(5), u64::MAX)
            .await;
        assert!(matches!(short, Err(S3Error::IncompleteBody)));
        assert_eq!(blobs.sweep(&HashSet::new()).expect("sweep"), 0);
    }
}
