//! Key documents on the command line: loading them through kvitto-keys, and
//! the `kvitto keys` commands (fetch, pin, show).

use std::io::{self, Write};
use std::time::Duration;

use kvitto_core::{Error, Hash};
use kvitto_keys::{KeyLoader, Loaded, Options};

use crate::cli::{FetchArgs, KeysCommand};
use crate::report::{eprint_error, escape};
use crate::{EXIT_KEYS, EXIT_OK, EXIT_USAGE};

/// A key document in use, with the loader that can fetch it again.
#[derive(Debug)]
pub(crate) struct Doc {
    pub(crate) source: String,
    pub(crate) loader: KeyLoader,
    pub(crate) loaded: Loaded,
}

/// The loader options for these flags and pin.
pub(crate) fn options(fetch: &FetchArgs, pin: Option<Hash>) -> Options {
    Options {
        pin,
        allow_insecure_localhost: fetch.allow_insecure_localhost,
        ca_certs: fetch.ca_certs.clone(),
        cache_ttl: Duration::from_secs(fetch.cache_ttl),
        offline: fetch.offline,
        ..Options::default()
    }
}

/// Parse a `--pin` value; `Err` is a usage message.
pub(crate) fn parse_pin(s: &str) -> Result<Hash, String> {
    Hash::parse_pin(s)
        .ok_or_else(|| format!("--pin {s:?} is not sha256: followed by 64 hex digits"))
}

/// Load one document.
pub(crate) fn load(source: &str, fetch: &FetchArgs, pin: Option<Hash>) -> Result<Doc, Error> {
    let loader = KeyLoader::new(options(fetch, pin))?;
    let loaded = loader.load(source)?;
    Ok(Doc {
        source: source.to_string(),
        loader,
        loaded,
    })
}

/// `kvitto keys ...`.
pub(crate) fn run(cmd: KeysCommand) -> io::Result<u8> {
    let (source, pin, fetch) = match &cmd {
        KeysCommand::Fetch { url, pin, fetch } => (url, pin.as_deref(), fetch),
        KeysCommand::Pin { source, fetch } => (source, None, fetch),
        KeysCommand::Show { source, pin, fetch } => (source, pin.as_deref(), fetch),
    };
    let pin = match pin.map(parse_pin).transpose() {
        Ok(pin) => pin,
        Err(msg) => {
            let _ = writeln!(io::stderr(), "kvitto: error: {msg}");
            return Ok(EXIT_USAGE);
        }
    };
    let loaded = KeyLoader::new(options(fetch, pin)).and_then(|loader| match &cmd {
        // `fetch` fetches whatever the cache holds (and refills it); only
        // with --offline does it serve the cached copy, and then says so.
        KeysCommand::Fetch { .. } => loader.fetch(source),
        KeysCommand::Pin { .. } | KeysCommand::Show { .. } => loader.load(source),
    });
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprint_error(e.code(), &e.to_string());
            return Ok(EXIT_KEYS);
        }
    };
    if let (KeysCommand::Fetch { .. }, Some(age)) = (&cmd, loaded.cache_age) {
        let _ = writeln!(
            io::stderr(),
            "kvitto: note: --offline: nothing fetched; served the cached copy of {}, {} s old",
            escape(source),
            age.as_secs()
        );
    }
    let mut out = io::stdout().lock();
    match cmd {
        KeysCommand::Fetch { .. } => out.write_all(&loaded.bytes)?,
        KeysCommand::Pin { .. } => writeln!(out, "{}", loaded.sha256)?,
        KeysCommand::Show { .. } => show(&mut out, &loaded)?,
    }
    out.flush()?;
    Ok(EXIT_OK)
}

fn show(out: &mut impl Write, l: &Loaded) -> io::Result<()> {
    writeln!(out, "workspace  {}", escape(l.keys.workspace_id()))?;
    writeln!(out, "sha256     {}", l.sha256)?;
    write!(out, "source     {}", escape(&l.source))?;
    write!(out, " ({})", if l.pinned { "pinned" } else { "not pinned" })?;
    if let Some(age) = l.cache_age {
        write!(out, ", from the cache, {} s old", age.as_secs())?;
    }
    writeln!(out)?;
    let rows: Vec<[String; 4]> = l
        .keys
        .keys()
        .iter()
        .map(|k| {
            [
                escape(&k.kid).into_owned(),
                k.status.as_str().to_string(),
                k.not_before.to_string(),
                k.not_after
                    .map_or_else(|| "-".to_string(), |t| t.to_string()),
            ]
        })
        .collect();
    let head = ["KID", "STATUS", "NOT_BEFORE", "NOT_AFTER"];
    let mut width = head.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    writeln!(out)?;
    let line = |out: &mut dyn Write, cells: [&str; 4]| -> io::Result<()> {
        writeln!(
            out,
            "{:w0$}  {:w1$}  {:w2$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2]
        )
    };
    line(out, head)?;
    for row in &rows {
        line(out, [&row[0], &row[1], &row[2], &row[3]])?;
    }
    if rows.is_empty() {
        writeln!(out, "(no Ed25519 keys)")?;
    }
    Ok(())
}
