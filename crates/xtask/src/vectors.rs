//! `cargo xtask vectors [--check]`: the shared test-vector corpus in test-vectors/.
//!
//! Everything is derived from fixed labels and fixed instants: key seeds are
//! SHA-256 of a label, nothing reads a clock or a random source, so every run
//! writes the same bytes. `--check` regenerates into a temporary directory and
//! fails on any difference from the committed corpus.
//!
//! Each vector's expectation is stated by the generator from how the input was
//! built (the contract's answer), then compared with what kvitto-core says;
//! a disagreement is printed as a warning (the core's runner then fails on it).

mod canon;
mod chains;
mod keys;
mod receipts;
mod sample;
mod signatures;
mod strict;
mod structure;
mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kvitto_core::{
    Error, Hash, KeySet, Outcome, Value, export, judge, verify_chain_records, verify_export,
    verify_receipt_in,
};

use text::obj;

/// What one receipt vector expects.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    Ok { hash: Hash, kid: String },
    Err(&'static str),
}

/// The corpus being built: files by path (relative to test-vectors/) and the manifest entries.
#[derive(Debug, Default)]
pub(crate) struct Corpus {
    files: BTreeMap<String, Vec<u8>>,
    vectors: Vec<Value>,
    ids: BTreeSet<String>,
    keysets: BTreeMap<String, KeySet>,
    warnings: Vec<String>,
}

fn strs(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(*s)).collect())
}

fn code_value(code: Option<&str>) -> Value {
    code.map(Value::from).unwrap_or(Value::Null)
}

fn opt_usize(n: Option<usize>) -> Value {
    n.map(|n| Value::from(n as u64)).unwrap_or(Value::Null)
}

impl Corpus {
    /// Add a file; the same path twice must hold the same bytes.
    pub(crate) fn file(&mut self, path: &str, bytes: impl Into<Vec<u8>>) {
        let bytes = bytes.into();
        if let Some(old) = self.files.get(path) {
            assert!(
                *old == bytes,
                "file {path} written twice with different bytes"
            );
        }
        self.files.insert(path.to_owned(), bytes);
    }

    /// Add a key document that receipts are verified against (not itself a vector).
    pub(crate) fn key_document(&mut self, path: &str, bytes: Vec<u8>) {
        let set = KeySet::from_bytes(&bytes, None)
            .unwrap_or_else(|e| panic!("key document {path} is invalid: {e}"));
        self.keysets.insert(path.to_owned(), set);
        self.file(path, bytes);
    }

    fn keysets(&self, paths: &[&str]) -> Vec<KeySet> {
        paths
            .iter()
            .map(|p| {
                self.keysets
                    .get(*p)
                    .unwrap_or_else(|| panic!("unknown key document {p}"))
                    .clone()
            })
            .collect()
    }

    fn push(&mut self, id: &str, members: Vec<(&str, Value)>) {
        assert!(self.ids.insert(id.to_owned()), "duplicate vector id {id}");
        self.vectors.push(obj(members));
    }

    fn warn(&mut self, id: &str, msg: String) {
        self.warnings.push(format!("{id}: {msg}"));
    }

    /// A receipt vector: `id` is `receipt/<rest>`, the input `receipts/<rest>.json`.
    pub(crate) fn receipt(
        &mut self,
        id: &str,
        description: &str,
        bytes: Vec<u8>,
        keys: &[&str],
        expect: Expect,
    ) {
        let rest = id
            .strip_prefix("receipt/")
            .expect("receipt ids start with receipt/");
        let input = format!("receipts/{rest}.json");
        let sets = self.keysets(keys);
        let core = verify_receipt_in(&bytes, &sets);
        let verdict = |r: &Result<kvitto_core::Verified, Error>| match r {
            Ok(v) => format!("ok {} {}", v.receipt_hash, v.key.kid),
            Err(e) => e.code().to_owned(),
        };
        let expected = match &expect {
            Expect::Ok { hash, kid } => format!("ok {hash} {kid}"),
            Expect::Err(code) => (*code).to_owned(),
        };
        if verdict(&core) != expected {
            self.warn(
                id,
                format!(
                    "core says {:?}, vector expects {expected}",
                    core.as_ref().map(|_| ()).map_err(|e| e.to_string())
                ),
            );
        }
        // The CLI frames the file (section 9): list it only when that gives
        // exactly one record with the same verdict as the whole file.
        let records = export::records(&bytes);
        let framed = |o: Outcome| match o {
            Outcome::Valid(v) => format!("ok {} {}", v.receipt_hash, v.header.kid),
            Outcome::Invalid { error, .. } => error.code().to_owned(),
        };
        let cli = records.len() == 1 && framed(judge(&records[0].body, &sets)) == verdict(&core);
        let mut surfaces = vec!["core"];
        if cli {
            surfaces.push("cli");
        }
        surfaces.extend(["python", "wasm"]);
        let expect = match expect {
            Expect::Ok { hash, kid } => obj(vec![
                ("ok", Value::Bool(true)),
                ("receipt_hash", Value::from(hash.to_string())),
                ("kid", Value::from(kid)),
            ]),
            Expect::Err(code) => obj(vec![
                ("ok", Value::Bool(false)),
                ("code", Value::from(code)),
            ]),
        };
        self.file(&input, bytes);
        self.push(
            id,
            vec![
                ("id", Value::from(id)),
                ("type", Value::from("receipt")),
                ("description", Value::from(description)),
                ("input", Value::from(input.as_str())),
                ("keys", strs(keys)),
                ("expect", expect),
                ("surfaces", strs(&surfaces)),
            ],
        );
    }

    /// A key-document vector; `expect` is the kids on success or the code.
    pub(crate) fn keys(
        &mut self,
        id: &str,
        description: &str,
        input: &str,
        bytes: Vec<u8>,
        pin: Option<&str>,
        expect: Result<(&str, Vec<&str>), &'static str>,
    ) {
        let pin_hash = pin.map(|p| Hash::parse_pin(p).expect("vector pins parse"));
        let core = KeySet::from_bytes(&bytes, pin_hash.as_ref());
        let sha = Hash::of(&bytes).to_string();
        let (expect_value, expected) = match &expect {
            Ok((ws, kids)) => (
                obj(vec![
                    ("ok", Value::Bool(true)),
                    ("workspace_id", Value::from(*ws)),
                    ("kids", strs(kids)),
                    ("sha256", Value::from(sha.as_str())),
                ]),
                format!("ok {ws} {kids:?}"),
            ),
            Err(code) => (
                obj(vec![
                    ("ok", Value::Bool(false)),
                    ("code", Value::from(*code)),
                ]),
                (*code).to_owned(),
            ),
        };
        let got = match &core {
            Ok(set) => format!(
                "ok {} {:?}",
                set.workspace_id(),
                set.keys()
                    .iter()
                    .map(|k| k.kid.as_str())
                    .collect::<Vec<_>>()
            ),
            Err(e) => e.code().to_owned(),
        };
        if got != expected {
            self.warn(
                id,
                format!("core says {got} ({core:?}), vector expects {expected}"),
            );
        }
        self.file(input, bytes);
        let mut members = vec![
            ("id", Value::from(id)),
            ("type", Value::from("keys")),
            ("description", Value::from(description)),
            ("input", Value::from(input)),
        ];
        if let Some(p) = pin {
            members.push(("pin", Value::from(p)));
        }
        members.push(("expect", expect_value));
        members.push(("surfaces", strs(&["core", "cli", "python", "wasm"])));
        self.push(id, members);
    }

    /// An export vector: `records` are the expected codes in input order,
    /// `chains` the expected (authorization_id, code) in order of first appearance.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn export(
        &mut self,
        id: &str,
        description: &str,
        input: &str,
        bytes: Vec<u8>,
        keys: &[&str],
        with_chains: bool,
        records: &[Option<&str>],
        chains: &[(&str, Option<&str>)],
    ) {
        let sets = self.keysets(keys);
        let report = verify_export(&bytes, &sets, with_chains);
        let got: Vec<Option<&str>> = report
            .records
            .iter()
            .map(|r| r.outcome.error().map(Error::code))
            .collect();
        if got != records {
            self.warn(
                id,
                format!("core's record codes {got:?}, vector expects {records:?}"),
            );
        }
        let got_chains: Vec<(&str, Option<&str>)> = report
            .chains
            .iter()
            .map(|c| {
                (
                    c.authorization_id.as_str(),
                    c.result.as_ref().err().map(Error::code),
                )
            })
            .collect();
        if got_chains != chains {
            self.warn(
                id,
                format!("core's chains {got_chains:?}, vector expects {chains:?}"),
            );
        }
        let record_values: Vec<Value> = report
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                obj(vec![
                    ("line", Value::from(r.line)),
                    ("index", opt_usize(r.index.map(|i| i as usize))),
                    ("code", code_value(records.get(i).copied().flatten())),
                ])
            })
            .collect();
        let chain_values: Vec<Value> = report
            .chains
            .iter()
            .enumerate()
            .map(|(i, c)| chain_value(c, chains.get(i).and_then(|(_, code)| *code)))
            .collect();
        self.file(input, bytes);
        self.push(
            id,
            vec![
                ("id", Value::from(id)),
                ("type", Value::from("export")),
                ("description", Value::from(description)),
                ("input", Value::from(input)),
                ("keys", strs(keys)),
                ("chains", Value::Bool(with_chains)),
                (
                    "expect",
                    obj(vec![
                        ("records", Value::Array(record_values)),
                        ("chains", Value::Array(chain_values)),
                    ]),
                ),
                ("surfaces", strs(&["core", "cli", "python", "wasm"])),
            ],
        );
    }

    /// An explicit chain vector: every record of `input` checked as one chain.
    pub(crate) fn chain(
        &mut self,
        id: &str,
        description: &str,
        input: &str,
        bytes: Vec<u8>,
        keys: &[&str],
        code: Option<&str>,
    ) {
        let sets = self.keysets(keys);
        let records = export::records(&bytes);
        let report = verify_chain_records(&records, &sets);
        let got = report.result.as_ref().err().map(Error::code);
        if got != code {
            self.warn(id, format!("core says {got:?}, vector expects {code:?}"));
        }
        let expect = chain_value(&report, code);
        self.file(input, bytes);
        self.push(
            id,
            vec![
                ("id", Value::from(id)),
                ("type", Value::from("chain")),
                ("description", Value::from(description)),
                ("input", Value::from(input)),
                ("keys", strs(keys)),
                ("expect", expect),
                ("surfaces", strs(&["core", "python", "wasm"])),
            ],
        );
    }

    /// A canonicalization vector: `id` is `canon/<name>`; input `canon/<name>.json`.
    pub(crate) fn canon(
        &mut self,
        id: &str,
        description: &str,
        input: &[u8],
        expect: Result<&[u8], &'static str>,
    ) {
        let name = id
            .strip_prefix("canon/")
            .expect("canon ids start with canon/");
        let input_path = format!("canon/{name}.json");
        let core = kvitto_core::canonicalize(input);
        let same = match (&core, &expect) {
            (Ok(a), Ok(b)) => a.as_slice() == *b,
            (Err(e), Err(code)) => e.code() == *code,
            _ => false,
        };
        if !same {
            let shown = core
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .map_err(|e| e.code());
            self.warn(id, format!("core says {shown:?}"));
        }
        self.file(&input_path, input.to_vec());
        let mut members = vec![
            ("id", Value::from(id)),
            ("type", Value::from("canon")),
            ("description", Value::from(description)),
            ("input", Value::from(input_path.as_str())),
        ];
        match expect {
            Ok(out) => {
                let out_path = format!("canon/{name}.out");
                self.file(&out_path, out.to_vec());
                members.push(("output", Value::from(out_path.as_str())));
            }
            Err(code) => {
                members.push((
                    "expect",
                    obj(vec![
                        ("ok", Value::Bool(false)),
                        ("code", Value::from(code)),
                    ]),
                ));
            }
        }
        members.push(("surfaces", strs(&["core", "cli", "python", "wasm"])));
        self.push(id, members);
    }
}

fn chain_value(c: &kvitto_core::ChainReport, code: Option<&str>) -> Value {
    obj(vec![
        ("authorization_id", Value::from(c.authorization_id.as_str())),
        ("code", code_value(code)),
        ("closed", Value::Bool(c.closed)),
        (
            "head_seq",
            c.head.map(|(s, _)| Value::from(s)).unwrap_or(Value::Null),
        ),
        (
            "head_hash",
            c.head
                .map(|(_, h)| Value::from(h.to_string()))
                .unwrap_or(Value::Null),
        ),
        ("receipts", Value::from(c.receipts)),
        ("duplicates", Value::from(c.duplicates)),
    ])
}

/// Build the whole corpus in memory: path -> bytes, manifest and README included.
pub(crate) fn build() -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let mut c = Corpus::default();
    let k = keys::Issuers::new();
    keys::documents(&mut c, &k);
    receipts::all(&mut c, &k);
    keys::vectors(&mut c, &k);
    chains::all(&mut c, &k);
    canon::all(&mut c);
    let manifest = obj(vec![
        ("schema", Value::from(1u64)),
        ("vectors", Value::Array(c.vectors.clone())),
    ]);
    let mut manifest_text = text::pretty(&manifest);
    manifest_text.push('\n');
    c.file("manifest.json", manifest_text);
    c.file("README.md", readme(&c));
    (c.files, c.warnings)
}

fn readme(c: &Corpus) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for v in &c.vectors {
        let t = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        *counts.entry(t).or_default() += 1;
    }
    let count_lines: String = counts
        .iter()
        .map(|(t, n)| format!("- {t}: {n}\n"))
        .collect();
    let label_lines: String = keys::LABELS
        .iter()
        .map(|(kid, label)| {
            format!(
                "- `{kid}`: seed = SHA-256(`{}{label}`)\n",
                keys::SEED_PREFIX
            )
        })
        .collect();
    include_str!("vectors/README.template.md")
        .replace("{{COUNTS}}", &count_lines)
        .replace("{{TOTAL}}", &c.vectors.len().to_string())
        .replace("{{LABELS}}", &label_lines)
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => bail!("usage: cargo xtask vectors [--check]"),
    };
    let (files, warnings) = build();
    for w in &warnings {
        eprintln!("warning: core disagrees with vector {w}");
    }
    let target = crate::root().join("test-vectors");
    if check {
        let tmp = std::env::temp_dir().join(format!("kvitto-vectors-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp)?;
        }
        write_tree(&tmp, &files)?;
        let result = compare(&tmp, &target);
        fs::remove_dir_all(&tmp).ok();
        let drift = result?;
        if !drift.is_empty() {
            for d in &drift {
                eprintln!("{d}");
            }
            bail!(
                "test-vectors/ differs from `cargo xtask vectors` in {} file(s); regenerate it",
                drift.len()
            );
        }
        println!("test-vectors/ is up to date ({} files)", files.len());
    } else {
        write_tree(&target, &files)?;
        // Remove what the generator no longer writes.
        for extra in list_files(&target)?.difference(&files.keys().cloned().collect()) {
            fs::remove_file(target.join(extra))?;
        }
        remove_empty_dirs(&target)?;
        println!("wrote {} files to {}", files.len(), target.display());
    }
    Ok(())
}

fn write_tree(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> anyhow::Result<()> {
    for (path, bytes) in files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent)?;
        }
        if fs::read(&full).ok().as_deref() != Some(bytes.as_slice()) {
            fs::write(&full, bytes).with_context(|| format!("writing {}", full.display()))?;
        }
    }
    Ok(())
}

fn list_files(dir: &Path) -> anyhow::Result<BTreeSet<String>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) -> anyhow::Result<()> {
        if !dir.exists() {
            return Ok(());
        }
        for entry in fs::read_dir(dir)? {
            let path: PathBuf = entry?.path();
            if path.is_dir() {
                walk(base, &path, out)?;
            } else {
                let rel = path
                    .strip_prefix(base)?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel);
            }
        }
        Ok(())
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

fn remove_empty_dirs(dir: &Path) -> anyhow::Result<bool> {
    let mut empty = true;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() && remove_empty_dirs(&path)? {
            fs::remove_dir(&path)?;
        } else {
            empty = false;
        }
    }
    Ok(empty)
}

/// Differences between the fresh tree and the committed one, one line each.
fn compare(fresh: &Path, committed: &Path) -> anyhow::Result<Vec<String>> {
    let a = list_files(fresh)?;
    let b = list_files(committed)?;
    let mut out = Vec::new();
    for path in a.union(&b) {
        match (a.contains(path), b.contains(path)) {
            (true, false) => out.push(format!("missing: test-vectors/{path}")),
            (false, true) => out.push(format!("extra: test-vectors/{path}")),
            _ => {
                if fs::read(fresh.join(path))? != fs::read(committed.join(path))? {
                    out.push(format!("differs: test-vectors/{path}"));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_is_deterministic() {
        let (a, _) = build();
        let (b, _) = build();
        assert_eq!(a.len(), b.len());
        assert!(a == b, "two builds differ");
        assert!(a.contains_key("manifest.json") && a.contains_key("README.md"));
    }

    #[test]
    fn a_wrong_expectation_is_reported() {
        let k = keys::Issuers::new();
        let mut c = Corpus::default();
        keys::documents(&mut c, &k);
        let p = receipts::base(
            kvitto_core::Kind::AuthorizationCreated,
            k.active.kid(),
            receipts::AT,
        );
        let s = k.active.sign_payload(&p);
        c.receipt(
            "receipt/valid/x",
            "d",
            s.json.clone().into_bytes(),
            &[keys::DEMO],
            Expect::Err("signature_invalid"),
        );
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        c.receipt(
            "receipt/valid/y",
            "d",
            s.json.into_bytes(),
            &[keys::DEMO],
            Expect::Ok {
                hash: s.receipt_hash,
                kid: k.active.kid().to_owned(),
            },
        );
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    }
}
