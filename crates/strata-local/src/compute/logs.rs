//! What functions print. Every line a worker writes to stdout or stderr
//! becomes a [`LogLine`] tagged with the function and the request it was
//! serving; a [`LogSink`] decides where it goes (the CLI prints it and keeps
//! it in [`LogFiles`] for `strata logs`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Lines Strata writes about an invocation (`START`, `END`, `REPORT`,
    /// timeouts and crashes), as Lambda writes them to CloudWatch.
    Platform,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub function: String,
    /// Empty while the worker is starting (import-time output).
    pub request_id: String,
    pub stream: LogStream,
    pub text: String,
}

/// Where log lines go. Called from worker tasks: must not block for long.
pub trait LogSink: Send + Sync + std::fmt::Debug + 'static {
    fn emit(&self, line: LogLine);
}

/// The stage's function logs: one JSON-lines file per function under
/// `.strata/<stage>/logs/`, appended as lines arrive.
#[derive(Debug)]
pub struct LogFiles {
    dir: PathBuf,
    /// Each function's file, open for appending, with its length (kept here
    /// so a line costs one write, not a write and a stat).
    open: Mutex<HashMap<String, (File, u64)>>,
}

/// Files are cut back to their newer half past this size, so a chatty
/// function cannot fill the disk during a long `strata dev`.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

impl LogFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            open: Mutex::new(HashMap::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append one line; a failure to write a log is not worth stopping a
    /// function for, so it is returned for the caller to report once.
    pub fn append(&self, line: &LogLine) -> std::io::Result<()> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if !open.contains_key(&line.function) {
            std::fs::create_dir_all(&self.dir)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path(&line.function))?;
            let len = file.metadata()?.len();
            open.insert(line.function.clone(), (file, len));
        }
        let (file, len) = open
            .get_mut(&line.function)
            .expect("inserted above when missing");
        let mut json = serde_json::to_string(line).map_err(std::io::Error::other)?;
        json.push('\n');
        file.write_all(json.as_bytes())?;
        *len += json.len() as u64;
        if *len > MAX_FILE_BYTES {
            open.remove(&line.function);
            trim(&self.path(&line.function))?;
        }
        Ok(())
    }

    fn path(&self, function: &str) -> PathBuf {
        self.dir.join(format!("{function}.log"))
    }

    /// Functions with a log file, sorted.
    pub fn functions(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(function) = name.strip_suffix(".log") {
                out.push(function.to_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Lines of `function` from byte `offset` on, and the offset after them.
    /// Lines that do not parse (a torn write) are skipped.
    pub fn read_from(&self, function: &str, offset: u64) -> std::io::Result<(Vec<LogLine>, u64)> {
        let mut file = match File::open(self.path(function)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        // The file was trimmed since the last read: start over.
        let offset = if offset > len { 0 } else { offset };
        file.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::new(file);
        let mut lines = Vec::new();
        let mut consumed = offset;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf)?;
            if n == 0 || buf.last() != Some(&b'\n') {
                break; // end, or a line still being written
            }
            consumed += n as u64;
            if let Ok(line) = serde_json::from_slice::<LogLine>(&buf) {
                lines.push(line);
            }
        }
        Ok((lines, consumed))
    }
}

/// Keep the newer half of a log file.
fn trim(path: &Path) -> std::io::Result<()> {
    let bytes = std::fs::read(path)?;
    let half = bytes.len() / 2;
    let start = bytes[half..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| half + p + 1);
    let tmp = path.with_extension("log.tmp");
    std::fs::write(&tmp, &bytes[start..])?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(function: &str, text: &str) -> LogLine {
        LogLine {
            time_ms: 1,
            function: function.to_owned(),
            request_id: "r".to_owned(),
            stream: LogStream::Stdout,
            text: text.to_owned(),
        }
    }

    #[test]
    fn appended_lines_read_back_from_an_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = LogFiles::new(dir.path().join("logs"));
        logs.append(&line("a", "one")).expect("append");
        logs.append(&line("b", "other")).expect("append");
        let (first, offset) = logs.read_from("a", 0).expect("read");
        assert_eq!(first, vec![line("a", "one")]);
        logs.append(&line("a", "two")).expect("append");
        let (next, _) = logs.read_from("a", offset).expect("read");
        assert_eq!(next, vec![line("a", "two")]);
        assert_eq!(logs.functions().expect("list"), ["a", "b"]);
    }
}
