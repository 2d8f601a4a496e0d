//! The `aws-chunked` content encoding of SigV4 streaming uploads: the
//! object's bytes cut into chunks, each preceded by
//! `<hex size>[;chunk-signature=<sig>]\r\n` and followed by `\r\n`, ended by
//! a zero-size chunk and optional trailers (`x-amz-checksum-crc32:...`) and
//! a blank line. The AWS SDKs for JS and Rust send PutObject and UploadPart
//! this way when they add checksums; botocore does over TLS.
//!
//! The decoder is a state machine fed whatever pieces the socket delivers,
//! so a chunk header split across two reads is fine and nothing is buffered
//! beyond one header line. Signatures are not verified (see `sigv4`).

use super::error::S3Error;

/// A chunk header line longer than this is not aws-chunked framing.
const MAX_LINE: usize = 4096;

#[derive(Debug, Default)]
enum State {
    /// Reading a chunk header line.
    #[default]
    Header,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// The `\r\n` after a chunk's data; how many of its bytes were seen.
    DataEnd(u8),
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
    Done,
}

/// Decodes one aws-chunked body.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    state: State,
    line: Vec<u8>,
}

impl ChunkDecoder {
    /// Decode `input`, appending the object's bytes to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), S3Error> {
        while !input.is_empty() {
            match &mut self.state {
                State::Header | State::Trailer => {
                    let Some(at) = input.iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(input);
                        if self.line.len() > MAX_LINE {
                            return Err(S3Error::IncompleteBody);
                        }
                        return Ok(());
                    };
                    self.line.extend_from_slice(&input[..at]);
                    input = &input[at + 1..];
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = match self.state {
                        State::Header => {
                            let size = parse_size(line)?;
                            if size == 0 {
                                State::Trailer
                            } else {
                                State::Data(size)
                            }
                        }
                        _ if line.is_empty() => State::Done,
                        _ => State::Trailer,
                    };
                }
                State::Data(left) => {
                    let take = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    out.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    *left -= take as u64;
                    if *left == 0 {
                        self.state = State::DataEnd(0);
                    }
                }
                State::DataEnd(seen) => {
                    let expected = if *seen == 0 { b'\r' } else { b'\n' };
                    if input[0] != expected {
                        return Err(S3Error::IncompleteBody);
                    }
                    input = &input[1..];
                    *seen += 1;
                    if *seen == 2 {
                        self.state = State::Header;
                    }
                }
                // Bytes after the end are not part of the object.
                State::Done => return Ok(()),
            }
        }
        Ok(())
    }

    /// Whether the final chunk was seen. A body that ends in the trailer
    /// section without its closing blank line is accepted: some clients
    /// stop right after the last trailer.
    pub fn finished(&self) -> bool {
        matches!(self.state, State::Done | State::Trailer)
    }
}

fn parse_size(line: &[u8]) -> Result<u64, S3Error> {
    let hex = line.split(|&b| b == b';').next().unwrap_or_default();
    let text = std::str::from_utf8(hex).map_err(|_| S3Error::IncompleteBody)?;
    u64::from_str_radix(text.trim(), 16).map_err(|_| S3Error::IncompleteBody)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(body: &[u8], piece: usize) -> Result<(Vec<u8>, bool), S3Error> {
        let mut decoder = ChunkDecoder::default();
        let mut out = Vec::new();
        for chunk in body.chunks(piece) {
            decoder.feed(chunk, &mut out)?;
        }
        Ok((out, decoder.finished()))
    }

    #[test]
    fn decodes_signed_and_unsigned_chunks_split_anywhere() {
        let signed = b"5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=000\r\n\r\n";
        let unsigned = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for body in [&signed[..], &unsigned[..]] {
            for piece in [1, 2, 3, 7, 1000] {
                let (out, finished) = decode_in_pieces(body, piece).expect("valid");
                assert_eq!(out, b"hello world", "piece {piece}");
                assert!(finished);
            }
        }
    }

    #[test]
    fn refuses_broken_framing() {
        assert!(decode_in_pieces(b"zz\r\nhello\r\n", 4).is_err());
        assert!(decode_in_pieces(b"2\r\nhiXX0\r\n\r\n", 4).is_err());
        let (_, finished) = decode_in_pieces(b"5\r\nhel", 4).expect("so far valid");
        assert!(!finished);
    }
}
