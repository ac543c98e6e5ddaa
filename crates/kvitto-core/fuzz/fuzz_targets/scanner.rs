//! The incremental grammar scanner and the streaming framer: any split of
//! the input into chunks gives the same answer as one feed; framing and
//! lenient reading never panic.
//!
//! Input layout: first byte = number of cuts (mod 8), then one byte per cut
//! (its position as a fraction of the rest), then the text scanned.

#![no_main]

use kvitto_core::export::{self, Body, Framer, LenientReader, Scan, Scanner};
use libfuzzer_sys::fuzz_target;

fn whole(input: &[u8]) -> Scan {
    let mut s = Scanner::new();
    match s.feed(input) {
        Scan::NeedMore => s.finish(),
        other => other,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 8).min(rest.len());
    let (cuts, input) = rest.split_at(n);
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) * input.len() / 255)
        .collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();

    let mut s = Scanner::new();
    let mut chunked = Scan::NeedMore;
    for w in points.windows(2) {
        chunked = s.feed(&input[w[0]..w[1]]);
        if chunked != Scan::NeedMore {
            break;
        }
    }
    if chunked == Scan::NeedMore {
        chunked = s.finish();
    }
    let one = whole(input);
    assert_eq!(chunked, one);

    match one {
        Scan::Done { start, end } => {
            assert!(start < end && end <= input.len());
            // The value's own span scans as exactly one value.
            assert_eq!(
                whole(&input[start..end]),
                Scan::Done {
                    start: 0,
                    end: end - start
                }
            );
        }
        Scan::Invalid { at } => assert!(at <= input.len()),
        Scan::NeedMore => panic!("finish never needs more"),
    }
    let whole_records = export::records(input);
    for r in &whole_records {
        let Body::Text(text) = &r.body else {
            panic!("a fuzz input is under 1 MiB")
        };
        let at = r.offset as usize;
        assert!(at + text.len() <= input.len());
        assert_eq!(&input[at..at + text.len()], &text[..]);
        let _ = export::lenient_ids(text);
    }
    // The framer and the lenient reader, fed in the same pieces.
    let mut framer = Framer::new();
    let mut lenient = LenientReader::new();
    let mut chunked_records = Vec::new();
    for w in points.windows(2) {
        framer.push(&input[w[0]..w[1]]);
        lenient.feed(&input[w[0]..w[1]]);
        chunked_records.extend(std::iter::from_fn(|| framer.next()));
    }
    framer.finish();
    chunked_records.extend(std::iter::from_fn(|| framer.next()));
    assert_eq!(chunked_records, whole_records);
    assert_eq!(lenient.finish(), export::lenient_ids(input));
});
