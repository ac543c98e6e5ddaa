//! The wasm-bindgen exports: bytes and strings in, JSON text or thrown
//! errors out (the JavaScript wrapper parses the JSON). Nothing here
//! judges anything: each function hands its input to kvitto-core and
//! converts what comes back.

use kvitto_core::json::{self, Profile};
use kvitto_core::{Error, Hash, Key, Verified, jcs, verify_receipt_in};
use kvitto_report::{KeyEntry, Line};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::error::{invalid_argument, js_error};
use crate::run::{self, Keys, Run, Style, push_json};

fn json<T: Serialize>(value: &T) -> String {
    let mut out = String::new();
    push_json(&mut out, value);
    out
}

/// One key document, read and checked by `kvitto_core::KeySet::from_bytes`
/// (size, then the pin over the raw bytes, then everything else).
#[wasm_bindgen]
#[derive(Debug, Clone)]
pub struct KeySet {
    inner: kvitto_core::KeySet,
    source: String,
    pinned: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyOut<'a> {
    kid: &'a str,
    status: &'static str,
    not_before: String,
    not_after: Option<String>,
    x: &'a str,
}

impl<'a> From<&'a Key> for KeyOut<'a> {
    fn from(k: &'a Key) -> KeyOut<'a> {
        KeyOut {
            kid: &k.kid,
            status: k.status.as_str(),
            not_before: k.not_before.to_string(),
            not_after: k.not_after.map(|t| t.to_string()),
            x: &k.x,
        }
    }
}

#[wasm_bindgen]
impl KeySet {
    /// Read a key document from its bytes exactly as read or fetched.
    /// `expected_sha256`: a pin, `sha256:` + 64 hex digits (any case) or
    /// bare hex. `source` names the document in reports.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(
        bytes: &[u8],
        expected_sha256: Option<String>,
        source: Option<String>,
    ) -> Result<KeySet, JsValue> {
        let pin = match expected_sha256.as_deref() {
            None => None,
            Some(p) => Some(Hash::parse_pin(p.trim()).ok_or_else(|| {
                invalid_argument(
                    "expectedSha256 must be sha256: followed by 64 hex digits (or the 64 hex digits alone)",
                )
            })?),
        };
        let inner =
            kvitto_core::KeySet::from_bytes(bytes, pin.as_ref()).map_err(|e| js_error(&e))?;
        Ok(KeySet {
            inner,
            source: source.unwrap_or_else(|| "keys".to_owned()),
            pinned: pin.is_some(),
        })
    }

    #[wasm_bindgen(getter, js_name = workspaceId)]
    pub fn workspace_id(&self) -> String {
        self.inner.workspace_id().to_owned()
    }

    /// `sha256:…` of the document's bytes: its pin.
    #[wasm_bindgen(getter)]
    pub fn sha256(&self) -> String {
        self.inner.sha256().to_string()
    }

    /// Whether it was read with a pin (which it matched).
    #[wasm_bindgen(getter)]
    pub fn pinned(&self) -> bool {
        self.pinned
    }

    #[wasm_bindgen(getter)]
    pub fn source(&self) -> String {
        self.source.clone()
    }

    /// The Ed25519 keys in document order, as a JSON array of
    /// `{kid, status, notBefore, notAfter, x}`.
    #[wasm_bindgen(js_name = keysJson)]
    pub fn keys_json(&self) -> String {
        let keys: Vec<KeyOut<'_>> = self.inner.keys().iter().map(KeyOut::from).collect();
        json(&keys)
    }

    fn entry(&self) -> KeyEntry {
        KeyEntry {
            workspace_id: self.inner.workspace_id().to_owned(),
            sha256: self.inner.sha256().to_string(),
            source: self.source.clone(),
            pinned: self.pinned,
            cache_age_s: None,
        }
    }
}

/// The key documents of one call: at most one per workspace (each receipt
/// is verified against the document of its own `workspace_id`).
#[wasm_bindgen]
#[derive(Debug, Clone, Default)]
pub struct KeyList {
    keys: Keys,
}

#[wasm_bindgen]
impl KeyList {
    #[wasm_bindgen(constructor)]
    pub fn new() -> KeyList {
        KeyList::default()
    }

    pub fn add(&mut self, keys: &KeySet) -> Result<(), JsValue> {
        let ws = keys.inner.workspace_id();
        if let Some(first) = self.keys.entries.iter().find(|e| e.workspace_id == ws) {
            return Err(invalid_argument(&format!(
                "{} and {} are both key documents for workspace {ws}: give one per workspace",
                first.source, keys.source
            )));
        }
        self.keys.entries.push(keys.entry());
        self.keys.sets.push(keys.inner.clone());
        Ok(())
    }

    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.keys.sets.len()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DocOut<'a> {
    workspace_id: &'a str,
    sha256: &'a str,
    source: &'a str,
    pinned: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifiedOut<'a> {
    receipt_hash: String,
    kid: &'a str,
    kind: &'static str,
    seq: u64,
    prev: Option<String>,
    receipt_id: &'a str,
    workspace_id: &'a str,
    authorization_id: &'a str,
    issued_at: String,
    /// JCS(payload) as text: the wrapper parses it into `payload`.
    canonical: String,
    key: KeyOut<'a>,
    key_document: Option<DocOut<'a>>,
}

fn verified_out<'a>(v: &'a Verified, keys: &'a Keys) -> VerifiedOut<'a> {
    let h = &v.header;
    VerifiedOut {
        receipt_hash: v.receipt_hash.to_string(),
        kid: &h.kid,
        kind: h.kind.as_str(),
        seq: h.seq,
        prev: h.prev.map(|p| p.to_string()),
        receipt_id: &h.receipt_id,
        workspace_id: &h.workspace_id,
        authorization_id: &h.authorization_id,
        issued_at: h.issued_at.to_string(),
        canonical: String::from_utf8_lossy(&jcs::to_vec(&v.payload)).into_owned(),
        key: KeyOut::from(&v.key),
        key_document: keys
            .entries
            .iter()
            .find(|e| e.workspace_id == h.workspace_id)
            .map(|e| DocOut {
                workspace_id: &e.workspace_id,
                sha256: &e.sha256,
                source: &e.source,
                pinned: e.pinned,
            }),
    }
}

/// Verify one receipt's text (contract section 7) against the document of
/// its workspace. Returns JSON; throws the core's error.
#[wasm_bindgen(js_name = verifyReceipt)]
pub fn verify_receipt(bytes: &[u8], keys: &KeyList) -> Result<String, JsValue> {
    let v = verify_receipt_in(bytes, &keys.keys.sets).map_err(|e| js_error(&e))?;
    Ok(json(&verified_out(&v, &keys.keys)))
}

#[derive(Serialize)]
struct ErrorOut {
    code: &'static str,
    message: String,
}

impl From<&Error> for ErrorOut {
    fn from(e: &Error) -> ErrorOut {
        ErrorOut {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Inspection<'a> {
    /// The strict parse (step 1) succeeded.
    parses: bool,
    parse_error: Option<ErrorOut>,
    /// JCS(payload) when the receipt parses and holds a payload member.
    canonical: Option<String>,
    /// SHA-256 of those bytes, computed whatever the verdict.
    receipt_hash: Option<String>,
    ok: bool,
    error: Option<ErrorOut>,
    verified: Option<VerifiedOut<'a>>,
}

/// One receipt's text for people, as `kvitto inspect` shows it: whether it
/// parses strictly, its payload's canonical bytes and hash (computed even
/// when it is invalid), and the verdict. Never throws.
#[wasm_bindgen(js_name = inspectReceipt)]
pub fn inspect_receipt(bytes: &[u8], keys: &KeyList) -> String {
    let parsed = json::parse(bytes, Profile::Receipt);
    let canonical = parsed
        .as_ref()
        .ok()
        .and_then(|v| v.get("payload"))
        .map(jcs::to_vec);
    let verdict = verify_receipt_in(bytes, &keys.keys.sets);
    let out = Inspection {
        parses: parsed.is_ok(),
        parse_error: parsed.as_ref().err().map(ErrorOut::from),
        receipt_hash: canonical.as_deref().map(|c| Hash::of(c).to_string()),
        canonical: canonical.map(|c| String::from_utf8_lossy(&c).into_owned()),
        ok: verdict.is_ok(),
        error: verdict.as_ref().err().map(ErrorOut::from),
        verified: verdict.as_ref().ok().map(|v| verified_out(v, &keys.keys)),
    };
    json(&out)
}

/// Frame `bytes` (section 9) and check every record as one explicit chain
/// (section 8, chain_mixed included). Returns the `chain` line as JSON.
#[wasm_bindgen(js_name = verifyChain)]
pub fn verify_chain(bytes: &[u8], keys: &KeyList, source: Option<String>) -> String {
    let records = kvitto_core::records(bytes);
    let report = kvitto_core::verify_chain_records(&records, &keys.keys.sets);
    let source = source.unwrap_or_else(|| "input".to_owned());
    json(&Line::Chain(run::chain_line(&report, &source)))
}

/// RFC 8785 canonical text of any JSON value (the full binary64 range).
#[wasm_bindgen]
pub fn canonicalize(bytes: &[u8]) -> Result<String, JsValue> {
    let c = kvitto_core::canonicalize(bytes).map_err(|e| js_error(&e))?;
    // JCS output of strictly parsed input is UTF-8.
    String::from_utf8(c).map_err(|_| invalid_argument("canonical output is not UTF-8"))
}

/// `s` with control, bidi and line-separator characters written as
/// `\u{..}` (kvitto-report's `escape`), so receipt text cannot reorder or
/// forge what a page or report shows.
#[wasm_bindgen(js_name = escapeText)]
pub fn escape_text(s: &str) -> String {
    kvitto_report::escape(s).into_owned()
}

/// The error for a key document that could not be fetched, as the core
/// words it (`keys_fetch_failed`).
#[wasm_bindgen(js_name = fetchError)]
pub fn fetch_error(reason: &str) -> JsValue {
    js_error(&Error::KeysFetchFailed {
        reason: reason.to_owned(),
    })
}

/// Every code of the contract, in its order (section 10), as JSON.
#[wasm_bindgen(js_name = errorCodes)]
pub fn error_codes() -> String {
    json(&Error::CODES)
}

/// A verify worker's job: judge a packed batch of receipt texts (made by
/// [`ExportRun::take_batch`]) and return the packed verdicts for
/// [`ExportRun::apply`].
#[wasm_bindgen(js_name = verifyBatch)]
pub fn verify_batch(packed: &[u8], keys: &KeyList) -> Vec<u8> {
    crate::transfer::verify_packed(packed, &keys.keys.sets)
}

/// One verification run over one or more inputs: see `run.rs`. With
/// `rows`, receipt lines carry the page's display members and the report
/// is kept as JSON Lines; with `batches`, records wait in batches for
/// verify workers instead of being judged as they are framed.
#[wasm_bindgen]
#[derive(Debug)]
pub struct ExportRun {
    run: Run,
}

#[wasm_bindgen]
impl ExportRun {
    #[wasm_bindgen(constructor)]
    pub fn new(keys: &KeyList, chains: bool, rows: bool, batches: bool) -> ExportRun {
        let style = if rows { Style::Rows } else { Style::Lines };
        ExportRun {
            run: Run::new(keys.keys.clone(), chains, style, batches),
        }
    }

    /// Start the next input; returns its index.
    pub fn begin(&mut self, name: &str) -> usize {
        self.run.begin(name)
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.run.push(chunk);
    }

    pub fn end(&mut self) {
        self.run.end();
    }

    /// The current input broke off (a read or decompression error).
    #[wasm_bindgen(js_name = inputError)]
    pub fn input_error(&mut self, message: &str) {
        self.run.input_error(message);
    }

    /// Receipt lines (or rows) since the last call, as a JSON array.
    #[wasm_bindgen(js_name = takeLines)]
    pub fn take_lines(&mut self) -> String {
        self.run.take_lines()
    }

    /// Report lines (JSON Lines) since the last call.
    #[wasm_bindgen(js_name = takeReport)]
    pub fn take_report(&mut self) -> String {
        self.run.take_report()
    }

    #[wasm_bindgen(js_name = takeBatch)]
    pub fn take_batch(&mut self) -> Option<Vec<u8>> {
        self.run.take_batch()
    }

    /// A verify worker's answer; returns how many receipts it reported.
    pub fn apply(&mut self, results: &[u8]) -> f64 {
        self.run.apply(results) as f64
    }

    /// Judge here what was never handed out.
    #[wasm_bindgen(js_name = judgeUnsent)]
    pub fn judge_unsent(&mut self) -> f64 {
        self.run.judge_unsent() as f64
    }

    /// `[handed out, sealed not handed out, framed not sealed]`.
    pub fn backlog(&self) -> Vec<u32> {
        let (a, b, c) = self.run.backlog();
        [a, b, c].iter().map(|&n| n as u32).collect()
    }

    /// `[receipts, invalid]` reported so far.
    pub fn counts(&self) -> Vec<f64> {
        let (n, invalid) = self.run.counts();
        vec![n as f64, invalid as f64]
    }

    /// Bytes pushed into the current input.
    #[wasm_bindgen(js_name = bytesIn)]
    pub fn bytes_in(&self) -> f64 {
        self.run.bytes_in() as f64
    }

    /// Chains and summary, as JSON `{chains, errors, summary, ok}`.
    pub fn finish(&mut self) -> String {
        json(&self.run.finish())
    }

    /// Stop early: an incomplete summary, chains not checked.
    pub fn stop(&mut self) -> String {
        json(&self.run.stop())
    }
}
