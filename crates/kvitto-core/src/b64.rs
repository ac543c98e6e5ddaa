//! Canonical unpadded base64url (RFC 4648 §5), as signatures and keys use it.

use alloc::string::String;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn sextet(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    })
}

/// Why a string is not canonical base64url of the expected length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B64Error {
    Length,
    Alphabet,
    TrailingBits,
}

impl B64Error {
    pub fn reason(self) -> &'static str {
        match self {
            B64Error::Length => "wrong length for unpadded base64url",
            B64Error::Alphabet => {
                "character outside the base64url alphabet (A-Z a-z 0-9 - _), or padding"
            }
            B64Error::TrailingBits => "non-canonical base64url: unused trailing bits are not zero",
        }
    }
}

/// Decode exactly `N` bytes from canonical unpadded base64url.
pub fn decode<const N: usize>(s: &str) -> Result<[u8; N], B64Error> {
    let b = s.as_bytes();
    if b.len() != (N * 4).div_ceil(3) {
        return Err(B64Error::Length);
    }
    let mut out = [0u8; N];
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut n = 0;
    for &c in b {
        acc = (acc << 6) | u32::from(sextet(c).ok_or(B64Error::Alphabet)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out[n] = (acc >> bits) as u8;
            n += 1;
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return Err(B64Error::TrailingBits);
    }
    Ok(out)
}

/// Encode as unpadded base64url.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data: [u8; 64] = core::array::from_fn(|i| (i * 37 + 250) as u8);
        let s = encode(&data);
        assert_eq!(s.len(), 86);
        assert_eq!(decode::<64>(&s), Ok(data));
        let k: [u8; 32] = core::array::from_fn(|i| (255 - i) as u8);
        assert_eq!(decode::<32>(&encode(&k)), Ok(k));
    }

    #[test]
    fn rejects_non_canonical() {
        let s = encode(&[0xFFu8; 64]);
        assert_eq!(decode::<64>(&(s.clone() + "==")), Err(B64Error::Length));
        let std = s.replace('_', "/");
        assert_eq!(decode::<64>(&std), Err(B64Error::Alphabet));
        // 64 bytes leave 4 unused bits in the last character.
        let mut last_bit = String::from(&s[..85]);
        last_bit.push('_');
        assert_eq!(decode::<64>(&last_bit), Err(B64Error::TrailingBits));
    }
}
