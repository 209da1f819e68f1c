//! The plaintext password, kept in memory that is wiped on drop.

use std::fmt;

use zeroize::Zeroizing;

/// A plaintext password.
///
/// The bytes live in a [`Zeroizing`] buffer, so they are overwritten when the value is dropped,
/// and `Debug` never prints them. Passwords are bytes, not strings: legacy systems hashed
/// whatever bytes the user typed, and a hash written by a Latin-1 system must still verify.
#[derive(Clone)]
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// Wraps the given bytes. The caller's buffer is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The password bytes. Keep the borrow short and never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The password as UTF-8, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the password is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The password with PHP's `trim()` applied (spaces, `\t\n\r\0\x0B` at both ends), which
    /// WordPress applies before hashing.
    pub(crate) fn php_trimmed(&self) -> Password {
        let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0 | 0x0b);
        let bytes: &[u8] = &self.0;
        let start = bytes.iter().position(|b| !is_ws(b)).unwrap_or(bytes.len());
        let end = bytes
            .iter()
            .rposition(|b| !is_ws(b))
            .map_or(start, |i| i.saturating_add(1));
        Password::new(bytes.get(start..end).unwrap_or_default().to_vec())
    }

    /// The password as UTF-16LE code units, as NT hashes and ASP.NET membership hash it.
    /// `None` when the password is not valid UTF-8, since no legacy system can have hashed it.
    pub(crate) fn utf16le(&self) -> Option<Zeroizing<Vec<u8>>> {
        let s = self.as_str()?;
        let mut out = Zeroizing::new(Vec::with_capacity(self.len().saturating_mul(2)));
        for unit in s.encode_utf16() {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        Some(out)
    }

    /// The password as Latin-1 bytes, when every character fits in one byte.
    pub(crate) fn latin1(&self) -> Option<Zeroizing<Vec<u8>>> {
        let s = self.as_str()?;
        let mut out = Zeroizing::new(Vec::with_capacity(self.len()));
        for c in s.chars() {
            out.push(u8::try_from(u32::from(c)).ok()?);
        }
        Some(out)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for Password {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl From<&[u8]> for Password {
    fn from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_password() {
        let pw = Password::from("hunter2-sentinel");
        let shown = format!("{pw:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(shown, "Password([redacted])");
    }

    #[test]
    fn php_trim_strips_the_same_bytes_as_php() {
        assert_eq!(
            Password::from(" \t\n\r\0\x0bpw \0").php_trimmed().expose(),
            b"pw"
        );
        assert_eq!(Password::from("   ").php_trimmed().expose(), b"");
        assert_eq!(Password::from("a b").php_trimmed().expose(), b"a b");
    }

    #[test]
    fn utf16le_encodes_surrogate_pairs() {
        let units = Password::from("a🔑").utf16le().unwrap();
        assert_eq!(units.as_slice(), &[0x61, 0, 0x3d, 0xd8, 0x11, 0xdd]);
        assert!(Password::new(vec![0xff]).utf16le().is_none());
    }

    #[test]
    fn latin1_refuses_characters_above_u_00ff() {
        assert_eq!(Password::from("é").latin1().unwrap().as_slice(), &[0xe9]);
        assert!(Password::from("€").latin1().is_none());
    }
}
