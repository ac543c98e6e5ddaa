//! Canonical unpadded base64url (RFC 4648 §5), as signatures and keys use it.

use alloc::string::String;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The value of each base64url character; 0xFF for any other byte.
const DECODE: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

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
    let mut written = 0;
    for chunk in b.chunks(4) {
        let mut acc: u32 = 0;
        for &c in chunk {
            let v = DECODE[usize::from(c)];
            if v == 0xFF {
                return Err(B64Error::Alphabet);
            }
            acc = (acc << 6) | u32::from(v);
        }
        // A chunk of k characters carries 6k bits: k − 1 whole bytes, and
        // the bits left over must be zero in canonical encoding.
        let bits = 6 * chunk.len() as u32;
        let bytes = (bits / 8) as usize;
        let spare = bits % 8;
        if acc & ((1 << spare) - 1) != 0 {
            return Err(B64Error::TrailingBits);
        }
        let acc = acc >> spare;
        for i in 0..bytes {
            out[written + i] = (acc >> (8 * (bytes - 1 - i))) as u8;
        }
        written += bytes;
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
    fn every_length() {
        fn check<const N: usize>() {
            let data: [u8; N] = core::array::from_fn(|i| (i * 91 + 7) as u8);
            let s = encode(&data);
            assert_eq!(decode::<N>(&s), Ok(data), "{s}");
            assert_eq!(decode::<N>(&s[1..]), Err(B64Error::Length));
        }
        check::<1>();
        check::<2>();
        check::<3>();
        check::<4>();
        check::<5>();
        check::<31>();
        check::<32>();
        check::<33>();
        // One byte leaves 4 spare bits: "AQ" is canonical, "AR" is not.
        assert_eq!(decode::<1>("AQ"), Ok([1]));
        assert_eq!(decode::<1>("AR"), Err(B64Error::TrailingBits));
        assert_eq!(decode::<2>("AAE"), Ok([0, 1]));
        assert_eq!(decode::<2>("AAF"), Err(B64Error::TrailingBits));
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
