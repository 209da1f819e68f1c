//! The byte encodings legacy hashes use, decoded as leniently as the systems that wrote them.
//!
//! Decoders accept what the originating implementation accepted: base64 with or without
//! padding and with non-zero trailing bits, and hex in either case. Checksums in the crypt(3)
//! family are compared as encoded strings, so their encoders live here too.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64ct::{Base64ShaCrypt, Encoding as _};
use subtle::ConstantTimeEq as _;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);

const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const STANDARD_NO_PAD: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, LENIENT.with_encode_padding(false));
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);
const BCRYPT: GeneralPurpose =
    GeneralPurpose::new(&alphabet::BCRYPT, LENIENT.with_encode_padding(false));

/// Standard base64 (RFC 4648), padding optional.
pub(crate) fn b64(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// Standard or URL-safe base64, padding optional (Auth0 accepts either alphabet).
pub(crate) fn b64_any(s: &str) -> Option<Vec<u8>> {
    b64(s).or_else(|| URL_SAFE.decode(s).ok())
}

/// passlib's "adapted" base64: standard alphabet with `.` for `+`, no padding.
pub(crate) fn ab64(s: &str) -> Option<Vec<u8>> {
    if s.contains('+') {
        return None;
    }
    b64(&s.replace('.', "+"))
}

/// bcrypt's base64 alphabet (`./A-Za-z0-9`), no padding.
pub(crate) fn bcrypt64(s: &str) -> Option<Vec<u8>> {
    BCRYPT.decode(s).ok()
}

/// Cisco's base64 (IOS type 8 and 9 secrets): standard base64's bit order over the crypt
/// alphabet `./0-9A-Za-z`, unpadded.
pub(crate) fn cisco64(s: &str) -> Option<Vec<u8>> {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let translated = s
        .bytes()
        .map(|c| {
            let i = usize::try_from(itoa64_index(c)?).ok()?;
            STD.get(i).copied().map(char::from)
        })
        .collect::<Option<String>>()?;
    b64(&translated)
}

/// Standard base64 with padding.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard base64 without padding (the PHC string format's "B64").
pub(crate) fn b64_encode_unpadded(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// URL-safe base64 with padding (Google's "web-safe" base64).
pub(crate) fn b64_url_encode(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}

/// passlib's "adapted" base64: standard alphabet with `.` for `+`, no padding.
pub(crate) fn ab64_encode(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes).replace('+', ".")
}

/// crypt(3)'s little-endian base64 over `./0-9A-Za-z` ("h64"), as phpass, MD5-crypt,
/// SHA-crypt and `$7$` write their checksums.
pub(crate) fn h64_encode(bytes: &[u8]) -> String {
    Base64ShaCrypt::encode_string(bytes)
}

/// The crypt(3) alphabet, for single-character parameters (phpass counts, `$7$` N).
pub(crate) const ITOA64: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The index of `c` in [`ITOA64`].
pub(crate) fn itoa64_index(c: u8) -> Option<u32> {
    ITOA64
        .iter()
        .position(|&x| x == c)
        .and_then(|i| u32::try_from(i).ok())
}

/// Whether every byte of `s` is in the crypt(3) alphabet.
pub(crate) fn is_h64(s: &str) -> bool {
    s.bytes().all(|c| ITOA64.contains(&c))
}

/// Hex in either case.
pub(crate) fn hex(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some((hex_val(*hi)? << 4) | hex_val(*lo)?),
            _ => None,
        })
        .collect()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c.wrapping_sub(b'0')),
        b'a'..=b'f' => Some(c.wrapping_sub(b'a').wrapping_add(10)),
        b'A'..=b'F' => Some(c.wrapping_sub(b'A').wrapping_add(10)),
        _ => None,
    }
}

/// Lower-case hex.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    out
}

/// Whether `s` is non-empty and all hex digits.
pub(crate) fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// Whether `s` is non-empty and all ASCII digits.
pub(crate) fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// Constant-time equality. Lengths are not secret; contents are.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_accepts_missing_padding_and_trailing_bits() {
        assert_eq!(b64("aGk=").unwrap(), b"hi");
        assert_eq!(b64("aGk").unwrap(), b"hi");
        // 'l' instead of 'k' sets a trailing bit, which Python and Go accept.
        assert_eq!(b64("aGl").unwrap(), b"hi");
        assert!(b64("a$k=").is_none());
    }

    #[test]
    fn adapted_base64_swaps_dot_for_plus() {
        assert_eq!(ab64("..8").unwrap(), b64("++8").unwrap());
        assert!(ab64("+x").is_none());
    }

    #[test]
    fn hex_decodes_both_cases_and_refuses_odd_lengths() {
        assert_eq!(hex("00aBff").unwrap(), vec![0, 0xab, 0xff]);
        assert!(hex("abc").is_none());
        assert!(hex("zz").is_none());
        assert_eq!(hex_encode(&[0, 0xab, 0xff]), "00abff");
    }

    #[test]
    fn h64_is_little_endian_over_the_crypt_alphabet() {
        // phpass encode64 of 0x00 0x00 0x00 is "....", and of 0xff in the low byte is "z1..".
        assert_eq!(h64_encode(&[0, 0, 0]), "....");
        assert_eq!(h64_encode(&[0xff, 0, 0]), "z1..");
    }

    #[test]
    fn ct_eq_compares_contents_and_lengths() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
