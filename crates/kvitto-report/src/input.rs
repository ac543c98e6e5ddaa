//! Export inputs for native surfaces: expanding paths, opening files
//! (`.gz` decompressed on the fly), and feeding a stream to kvitto-core's
//! [`Framer`], which alone decides how it is framed.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use kvitto_core::{Framer, Record};

/// How much is read at a time.
pub const CHUNK: usize = 256 * 1024;

/// One input to read: a file or standard input, or a path that failed.
#[derive(Debug, Clone)]
pub struct Input {
    /// As reported: the path as given or found, `-` for standard input.
    pub name: String,
    /// `None` for standard input.
    pub path: Option<PathBuf>,
    /// Why it cannot be read (it is reported where it stands, in order).
    pub error: Option<String>,
}

/// Whether a file found in a directory is an export we read: `*.json`,
/// `*.jsonl`, and the same with `.gz`.
pub fn is_export_name(name: &str) -> bool {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.ends_with(".json") || name.ends_with(".jsonl")
}

/// Expand inputs as given: files as they are, directories recursively
/// (export files only, sorted by path; symlinked directories are not
/// followed), `-` for standard input. A path that cannot be read stays in
/// its place with its error.
pub fn expand(args: &[String]) -> Vec<Input> {
    let mut inputs = Vec::new();
    for arg in args {
        if arg == "-" {
            inputs.push(Input {
                name: "-".into(),
                path: None,
                error: None,
            });
            continue;
        }
        let path = PathBuf::from(arg);
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                let mut found = Vec::new();
                walk(&path, &mut found);
                found.sort_by(|a, b| a.0.cmp(&b.0));
                inputs.extend(found.into_iter().map(|(p, error)| Input {
                    name: p.display().to_string(),
                    path: Some(p),
                    error,
                }));
            }
            Ok(_) => inputs.push(Input {
                name: arg.clone(),
                path: Some(path),
                error: None,
            }),
            Err(e) => inputs.push(Input {
                name: arg.clone(),
                path: Some(path),
                error: Some(e.to_string()),
            }),
        }
    }
    inputs
}

fn walk(dir: &Path, found: &mut Vec<(PathBuf, Option<String>)>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            found.push((dir.to_path_buf(), Some(e.to_string())));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                found.push((dir.to_path_buf(), Some(e.to_string())));
                continue;
            }
        };
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&path, found);
        } else if is_export_name(&entry.file_name().to_string_lossy())
            && (kind.is_file() || fs::metadata(&path).is_ok_and(|m| m.is_file()))
        {
            found.push((path, None));
        }
    }
}

/// Open an input for reading; a name ending in `.gz` is decompressed on
/// the fly (gzip, multi-member too).
pub fn open(input: &Input) -> io::Result<Box<dyn Read + Send>> {
    if let Some(e) = &input.error {
        return Err(io::Error::other(e.clone()));
    }
    let Some(path) = &input.path else {
        return Ok(Box::new(io::stdin()));
    };
    open_path(path)
}

/// Open a file; `.gz` is decompressed on the fly.
pub fn open_path(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    let file = File::open(path)?;
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(
            BufReader::with_capacity(CHUNK, file),
        )))
    } else {
        Ok(Box::new(file))
    }
}

/// Read `reader` to its end in chunks of [`CHUNK`], pushing each into a
/// new [`Framer`] and handing every record to `each` in input order.
/// `progress` hears the bytes read so far after each chunk. Stops early,
/// returning `Ok(false)`, when `each` returns false or `stop` says so
/// (checked between chunks).
pub fn read_records(
    reader: &mut dyn Read,
    stop: &dyn Fn() -> bool,
    each: &mut dyn FnMut(Record) -> bool,
    progress: &mut dyn FnMut(u64),
) -> io::Result<bool> {
    let mut framer = Framer::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        if stop() {
            return Ok(false);
        }
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            framer.finish();
        } else {
            framer.push(&chunk[..n]);
        }
        while let Some(record) = framer.next() {
            if !each(record) {
                return Ok(false);
            }
        }
        progress(framer.bytes_in());
        if n == 0 {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_keeps_errors_in_place_and_reads_gz() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("d");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("b.jsonl"), b"{}\n").unwrap();
        fs::write(sub.join("a.json.gz"), {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, b"{}\n{}\n").unwrap();
            gz.finish().unwrap()
        })
        .unwrap();
        fs::write(sub.join("notes.txt"), b"x").unwrap();
        let missing = dir.path().join("missing.jsonl").display().to_string();
        let inputs = expand(&[sub.display().to_string(), missing.clone(), "-".into()]);
        let names: Vec<_> = inputs
            .iter()
            .map(|i| {
                (
                    i.name.rsplit('/').next().unwrap_or("").to_owned(),
                    i.error.is_some(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("a.json.gz".to_owned(), false),
                ("b.jsonl".to_owned(), false),
                ("missing.jsonl".to_owned(), true),
                ("-".to_owned(), false)
            ]
        );
        let mut lines = Vec::new();
        let mut reader = open(&inputs[0]).unwrap();
        let done = read_records(
            &mut reader,
            &|| false,
            &mut |r| {
                lines.push(r.line);
                true
            },
            &mut |_| {},
        )
        .unwrap();
        assert!(done);
        assert_eq!(lines, [1, 2]);
        assert!(open(&inputs[2]).is_err());
    }
}
