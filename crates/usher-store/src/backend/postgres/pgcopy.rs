//! PostgreSQL's binary `COPY` format, for the types the staging table uses. Binary needs no
//! escaping (every field is length-prefixed) and saves the server parsing text instants.
//! <https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4>

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix microseconds.
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// A field too large for the format (over 1 GiB), or an instant beyond its range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {0} for COPY")]
pub(crate) struct EncodeError(&'static str);

impl EncodeError {
    /// What could not be encoded.
    pub(crate) fn new(what: &'static str) -> Self {
        Self(what)
    }
}

/// A buffer of binary COPY data: the header, rows, then the trailer.
#[derive(Debug)]
pub(crate) struct CopyBuf {
    buf: Vec<u8>,
}

impl CopyBuf {
    /// A buffer holding the header.
    pub(crate) fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Self { buf }
    }

    /// Starts a row of `fields` fields.
    pub(crate) fn row(&mut self, fields: i16) {
        self.buf.extend_from_slice(&fields.to_be_bytes());
    }

    /// A NULL field.
    pub(crate) fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn field(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let len = i32::try_from(bytes.len()).map_err(|_| EncodeError("a field over 1 GiB"))?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// A `text` field (UTF-8 bytes as they are).
    pub(crate) fn text(&mut self, s: &str) -> Result<(), EncodeError> {
        self.field(s.as_bytes())
    }

    /// A nullable `text` field.
    pub(crate) fn opt_text(&mut self, s: Option<&str>) -> Result<(), EncodeError> {
        match s {
            Some(s) => self.text(s),
            None => {
                self.null();
                Ok(())
            }
        }
    }

    /// A `boolean`.
    pub(crate) fn bool(&mut self, b: bool) {
        self.buf.extend_from_slice(&1i32.to_be_bytes());
        self.buf.push(u8::from(b));
    }

    /// An `integer`.
    pub(crate) fn int4(&mut self, v: i32) {
        self.buf.extend_from_slice(&4i32.to_be_bytes());
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A `uuid`.
    pub(crate) fn uuid(&mut self, id: &Uuid) {
        self.buf.extend_from_slice(&16i32.to_be_bytes());
        self.buf.extend_from_slice(id.as_bytes());
    }

    /// A `timestamptz`: microseconds since 2000-01-01 UTC.
    pub(crate) fn timestamptz(&mut self, t: DateTime<Utc>) -> Result<(), EncodeError> {
        let micros = t
            .timestamp_micros()
            .checked_sub(PG_EPOCH_UNIX_MICROS)
            .ok_or(EncodeError("an instant out of range"))?;
        self.buf.extend_from_slice(&8i32.to_be_bytes());
        self.buf.extend_from_slice(&micros.to_be_bytes());
        Ok(())
    }

    /// A nullable `timestamptz`.
    pub(crate) fn opt_timestamptz(&mut self, t: Option<DateTime<Utc>>) -> Result<(), EncodeError> {
        match t {
            Some(t) => self.timestamptz(t),
            None => {
                self.null();
                Ok(())
            }
        }
    }

    /// A nullable `date`: days since 2000-01-01.
    pub(crate) fn opt_date(&mut self, d: Option<NaiveDate>) -> Result<(), EncodeError> {
        let Some(d) = d else {
            self.null();
            return Ok(());
        };
        let epoch = NaiveDate::from_ymd_opt(2000, 1, 1).ok_or(EncodeError("the date epoch"))?;
        let days = i32::try_from(d.signed_duration_since(epoch).num_days())
            .map_err(|_| EncodeError("a date out of range"))?;
        self.int4(days);
        Ok(())
    }

    /// A `jsonb` field from JSON text: format version 1, then the text.
    pub(crate) fn jsonb(&mut self, json: &str) -> Result<(), EncodeError> {
        let len = json
            .len()
            .checked_add(1)
            .and_then(|n| i32::try_from(n).ok())
            .ok_or(EncodeError("a JSON value over 1 GiB"))?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.push(1);
        self.buf.extend_from_slice(json.as_bytes());
        Ok(())
    }

    /// A nullable `jsonb` field.
    pub(crate) fn opt_jsonb(&mut self, json: Option<&str>) -> Result<(), EncodeError> {
        match json {
            Some(j) => self.jsonb(j),
            None => {
                self.null();
                Ok(())
            }
        }
    }

    /// The data with the trailer, ready to send.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_and_trailer_frame_the_rows() {
        let mut b = CopyBuf::new(64);
        b.row(2);
        b.text("a\tb\\c\n").unwrap();
        b.null();
        let bytes = b.finish();
        assert_eq!(&bytes[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&bytes[11..19], &[0u8; 8]);
        assert_eq!(&bytes[19..21], &2i16.to_be_bytes());
        assert_eq!(&bytes[21..25], &6i32.to_be_bytes());
        assert_eq!(&bytes[25..31], b"a\tb\\c\n");
        assert_eq!(&bytes[31..35], &(-1i32).to_be_bytes());
        assert_eq!(&bytes[35..], &(-1i16).to_be_bytes());
    }

    #[test]
    fn instants_count_microseconds_from_2000() {
        let mut b = CopyBuf::new(0);
        let t = DateTime::from_timestamp(946_684_801, 500_000_000).unwrap();
        b.timestamptz(t).unwrap();
        let bytes = b.finish();
        assert_eq!(&bytes[19..23], &8i32.to_be_bytes());
        assert_eq!(&bytes[23..31], &1_500_000i64.to_be_bytes());
    }

    #[test]
    fn dates_count_days_from_2000_and_jsonb_carries_its_version() {
        let mut b = CopyBuf::new(0);
        b.opt_date(NaiveDate::from_ymd_opt(1999, 12, 31)).unwrap();
        b.jsonb("{}").unwrap();
        let bytes = b.finish();
        assert_eq!(&bytes[19..23], &4i32.to_be_bytes());
        assert_eq!(&bytes[23..27], &(-1i32).to_be_bytes());
        assert_eq!(&bytes[27..31], &3i32.to_be_bytes());
        assert_eq!(&bytes[31..34], b"\x01{}");
    }
}
