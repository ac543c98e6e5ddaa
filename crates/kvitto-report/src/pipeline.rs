//! The parallel pipeline every native surface verifies with: a reader
//! thread frames the inputs (through kvitto-core's `Framer`) into batches
//! bounded by count and bytes, a verifier thread judges each batch on every
//! core (rayon), and the caller takes the judged batches in input order —
//! three stages side by side, so the cores never wait for reading or
//! reporting. Memory stays bounded: a few batches in flight.

use std::cell::Cell;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, RwLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use kvitto_core::{Body, KeySet, Outcome, Record, judge};
use rayon::prelude::*;

use crate::input::read_records;

/// Receipts judged together (in parallel)...
pub const BATCH: usize = 4096;
/// ...or fewer, when they hold this many bytes: memory stays bounded
/// whatever the receipts' size.
pub const BATCH_BYTES: usize = 4 << 20;

/// One record as read, and the index of the input it came from.
#[derive(Debug)]
pub struct Item {
    pub source: usize,
    pub record: Record,
}

fn weight(record: &Record) -> usize {
    match &record.body {
        Body::Text(t) => t.len() + 64,
        _ => 64,
    }
}

/// Receipts over this size are judged one at a time: parsing one builds a
/// tree many times its size, and memory should not grow with the cores.
const BIG: usize = 64 * 1024;

/// Judge a batch: small receipts in parallel on every core, big ones one
/// at a time; the outcomes in the batch's order.
pub fn judge_batch(items: &[Item], keysets: &[KeySet]) -> Vec<Outcome> {
    let big = |item: &Item| matches!(&item.record.body, Body::Text(t) if t.len() > BIG);
    let mut outcomes: Vec<Option<Outcome>> = items
        .par_iter()
        .map(|item| (!big(item)).then(|| judge(&item.record.body, keysets)))
        .collect();
    items
        .iter()
        .zip(&mut outcomes)
        .map(|(item, slot)| {
            slot.take()
                .unwrap_or_else(|| judge(&item.record.body, keysets))
        })
        .collect()
}

/// The key sets the verifier judges with. A caller may replace them (a key
/// document fetched again for an unknown kid); each replacement starts a
/// new generation, so the caller can tell which batches were judged with
/// which sets.
#[derive(Debug, Clone)]
pub struct SharedKeys(Arc<RwLock<(u64, Arc<Vec<KeySet>>)>>);

impl SharedKeys {
    pub fn new(sets: Vec<KeySet>) -> SharedKeys {
        SharedKeys(Arc::new(RwLock::new((0, Arc::new(sets)))))
    }

    /// The generation and the sets in use now.
    pub fn current(&self) -> (u64, Arc<Vec<KeySet>>) {
        let state = self.0.read().unwrap_or_else(|e| e.into_inner());
        (state.0, Arc::clone(&state.1))
    }

    /// Use `sets` from now on; returns them shared, under the new generation.
    pub fn replace(&self, sets: Vec<KeySet>) -> Arc<Vec<KeySet>> {
        let sets = Arc::new(sets);
        let mut state = self.0.write().unwrap_or_else(|e| e.into_inner());
        state.0 += 1;
        state.1 = Arc::clone(&sets);
        sets
    }
}

/// What the pipeline hands over, in input order.
#[derive(Debug)]
pub enum Judged {
    /// Records with their outcomes, the generation of the key sets they
    /// were judged with, and the input bytes read so far (all inputs).
    Batch {
        items: Vec<Item>,
        outcomes: Vec<Outcome>,
        generation: u64,
        bytes_read: u64,
    },
    /// Input `source` could not be read (at all, or from some point on:
    /// the records before the failure came in earlier batches). Reading
    /// goes on with the next input.
    Failed { source: usize, error: io::Error },
}

/// What [`Pipeline::next_timeout`] found.
#[derive(Debug)]
pub enum Next {
    Judged(Judged),
    /// Nothing yet (the caller may check for Ctrl-C and wait again).
    Waiting,
    /// Every input has been read and judged.
    End,
}

enum Framed {
    Batch(Vec<Item>, u64),
    Failed(usize, io::Error),
}

/// A running pipeline; dropping it stops the reader at its next chunk.
#[derive(Debug)]
pub struct Pipeline {
    judged: Receiver<Judged>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Pipeline {
    /// Start reading `inputs` in order, each opened by `open` (with its
    /// index), and judging them with `keys`.
    pub fn start<S, F>(inputs: Vec<S>, mut open: F, keys: SharedKeys) -> Pipeline
    where
        S: Send + 'static,
        F: FnMut(usize, S) -> io::Result<Box<dyn Read + Send>> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::sync_channel::<Framed>(2);
        let (judged_tx, judged) = mpsc::sync_channel::<Judged>(1);
        let reader = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let stopped = || stop.load(Ordering::Relaxed);
                read_all(inputs, &mut open, &tx, &stopped);
            })
        };
        thread::spawn(move || {
            for msg in rx {
                let out = match msg {
                    Framed::Batch(items, bytes_read) => {
                        let (generation, sets) = keys.current();
                        let outcomes = judge_batch(&items, &sets);
                        Judged::Batch {
                            items,
                            outcomes,
                            generation,
                            bytes_read,
                        }
                    }
                    Framed::Failed(source, error) => Judged::Failed { source, error },
                };
                if judged_tx.send(out).is_err() {
                    return;
                }
            }
        });
        Pipeline {
            judged,
            stop,
            reader: Some(reader),
        }
    }

    /// The next judged batch, waiting as long as it takes; `None` at the end.
    pub fn next(&self) -> Option<Judged> {
        self.judged.recv().ok()
    }

    /// The next judged batch, waiting at most `timeout`.
    pub fn next_timeout(&self, timeout: Duration) -> Next {
        match self.judged.recv_timeout(timeout) {
            Ok(j) => Next::Judged(j),
            Err(RecvTimeoutError::Timeout) => Next::Waiting,
            Err(RecvTimeoutError::Disconnected) => Next::End,
        }
    }

    /// Stop reading (at the reader's next chunk). With `join`, wait for the
    /// reader thread to end; without, leave it behind (one blocked on a
    /// quiet standard input ends with the process).
    pub fn stop(mut self, join: bool) {
        self.stop.store(true, Ordering::Relaxed);
        let reader = self.reader.take();
        drop(self);
        if join && let Some(reader) = reader {
            let _ = reader.join();
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The reader thread: frame every input into batches, in order; an input
/// that cannot be read is reported in its place.
fn read_all<S>(
    inputs: Vec<S>,
    open: &mut dyn FnMut(usize, S) -> io::Result<Box<dyn Read + Send>>,
    tx: &SyncSender<Framed>,
    stop: &dyn Fn() -> bool,
) {
    let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
    let mut bytes = 0usize;
    let mut read_before = 0u64;
    for (source, input) in inputs.into_iter().enumerate() {
        if stop() {
            return;
        }
        let read_here = Cell::new(0u64);
        let result = open(source, input).and_then(|mut reader| {
            let mut each = |record: Record| {
                bytes += weight(&record);
                batch.push(Item { source, record });
                if batch.len() >= BATCH || bytes >= BATCH_BYTES {
                    bytes = 0;
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    return tx
                        .send(Framed::Batch(full, read_before + read_here.get()))
                        .is_ok();
                }
                true
            };
            read_records(&mut *reader, stop, &mut each, &mut |n| read_here.set(n))
        });
        read_before += read_here.get();
        match result {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                bytes = 0;
                let full = std::mem::take(&mut batch);
                if !full.is_empty() && tx.send(Framed::Batch(full, read_before)).is_err() {
                    return;
                }
                if tx.send(Framed::Failed(source, e)).is_err() {
                    return;
                }
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Framed::Batch(batch, read_before));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_in_input_order_with_failures_in_place() {
        let inputs: Vec<Result<Vec<u8>, &str>> = vec![
            Ok("{}\n".repeat(5000).into_bytes()),
            Err("gone"),
            Ok(b"[1, 2]".to_vec()),
        ];
        let p = Pipeline::start(
            inputs,
            |_, input| match input {
                Ok(bytes) => Ok(Box::new(io::Cursor::new(bytes)) as Box<dyn Read + Send>),
                Err(why) => Err(io::Error::other(why)),
            },
            SharedKeys::new(Vec::new()),
        );
        let mut seen = Vec::new();
        while let Some(j) = p.next() {
            match j {
                Judged::Batch {
                    items, outcomes, ..
                } => {
                    assert_eq!(items.len(), outcomes.len());
                    seen.extend(items.iter().map(|i| (i.source, i.record.line)));
                }
                Judged::Failed { source, error } => {
                    assert_eq!(error.to_string(), "gone");
                    seen.push((source, 0));
                }
            }
        }
        assert_eq!(seen.len(), 5000 + 1 + 2);
        assert_eq!(seen[0], (0, 1));
        assert_eq!(seen[4999], (0, 5000));
        assert_eq!(seen[5000], (1, 0));
        assert_eq!(&seen[5001..], [(2, 1), (2, 1)]);
        p.stop(true);
    }
}
