//! The zero-allocation row cursor and the number writers.

use std::borrow::Cow;

/// What is wrong with a field, and which one (1-based column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// 1-based column number.
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

/// A cursor over the fields of one CSV row.
#[derive(Debug)]
pub struct CsvRow<'a> {
    line: &'a [u8],
    pos: usize,
    /// Number of fields taken so far.
    taken: usize,
    done: bool,
}

impl<'a> CsvRow<'a> {
    /// A cursor over `line`, which holds one row without its line end.
    #[inline]
    pub fn new(line: &'a [u8]) -> Self {
        CsvRow { line, pos: 0, taken: 0, done: false }
    }

    /// The column number (1-based) of the field the next getter reads.
    #[inline]
    pub fn column(&self) -> usize {
        self.taken + 1
    }

    fn err(&self, column: usize, message: impl Into<String>) -> FieldError {
        FieldError { column, message: message.into() }
    }

    /// The next field's raw bytes, unquoted (quotes doubled inside are undoubled).
    #[inline]
    pub fn bytes(&mut self) -> Result<Cow<'a, [u8]>, FieldError> {
        if self.done {
            return Err(self.err(self.taken + 1, "missing field"));
        }
        self.taken += 1;
        let rest = &self.line[self.pos..];
        if rest.first() == Some(&b'"') {
            return self.quoted();
        }
        match memchr::memchr(b',', rest) {
            Some(i) => {
                self.pos += i + 1;
                Ok(Cow::Borrowed(&rest[..i]))
            }
            None => {
                self.pos = self.line.len();
                self.done = true;
                Ok(Cow::Borrowed(rest))
            }
        }
    }

    #[cold]
    fn quoted(&mut self) -> Result<Cow<'a, [u8]>, FieldError> {
        let col = self.taken;
        let mut i = self.pos + 1;
        let mut out: Option<Vec<u8>> = None;
        let start = i;
        loop {
            let Some(q) = memchr::memchr(b'"', &self.line[i..]) else {
                return Err(self.err(col, "unterminated quoted field"));
            };
            let q = i + q;
            if self.line.get(q + 1) == Some(&b'"') {
                out.get_or_insert_with(Vec::new).extend_from_slice(&self.line[i..=q]);
                i = q + 2;
                continue;
            }
            let value = match out {
                Some(mut v) => {
                    v.extend_from_slice(&self.line[i..q]);
                    Cow::Owned(v)
                }
                None => Cow::Borrowed(&self.line[start..q]),
            };
            match self.line.get(q + 1) {
                None => {
                    self.pos = self.line.len();
                    self.done = true;
                }
                Some(b',') => self.pos = q + 2,
                Some(_) => return Err(self.err(col, "text after closing quote")),
            }
            return Ok(value);
        }
    }

    /// The next field as UTF-8 text.
    pub fn str(&mut self) -> Result<Cow<'a, str>, FieldError> {
        let col = self.column();
        match self.bytes()? {
            Cow::Borrowed(b) => std::str::from_utf8(b).map(Cow::Borrowed).map_err(|_| self.err(col, "not UTF-8")),
            Cow::Owned(v) => String::from_utf8(v).map(Cow::Owned).map_err(|_| self.err(col, "not UTF-8")),
        }
    }

    /// The next field as an unsigned integer.
    #[inline]
    pub fn u64(&mut self) -> Result<u64, FieldError> {
        let col = self.column();
        let b = self.bytes()?;
        parse_u64(&b).ok_or_else(|| self.err(col, format!("expected an unsigned integer, found `{}`", show(&b))))
    }

    /// The next field as a `u32`.
    #[inline]
    pub fn u32(&mut self) -> Result<u32, FieldError> {
        let col = self.column();
        let v = self.u64()?;
        u32::try_from(v).map_err(|_| self.err(col, format!("{v} does not fit in 32 bits")))
    }

    /// The next field as a signed integer.
    #[inline]
    pub fn i64(&mut self) -> Result<i64, FieldError> {
        let col = self.column();
        let b = self.bytes()?;
        let (neg, digits) = match b.first() {
            Some(b'-') => (true, &b[1..]),
            _ => (false, &b[..]),
        };
        let v = parse_u64(digits)
            .and_then(|v| i64::try_from(v).ok())
            .ok_or_else(|| self.err(col, format!("expected an integer, found `{}`", show(&b))))?;
        Ok(if neg { -v } else { v })
    }

    /// The next field as a decimal with at most `scale` fractional digits, scaled to an
    /// integer: `"21.5"` with `scale = 1` is `215`. Exact, unlike parsing a float.
    #[inline]
    pub fn fixed(&mut self, scale: u32) -> Result<i64, FieldError> {
        let col = self.column();
        let b = self.bytes()?;
        parse_fixed(&b, scale).ok_or_else(|| {
            self.err(col, format!("expected a decimal with at most {scale} fractional digits, found `{}`", show(&b)))
        })
    }

    /// The next field as a float.
    pub fn f64(&mut self) -> Result<f64, FieldError> {
        let col = self.column();
        let s = self.str()?;
        s.trim().parse::<f64>().map_err(|_| self.err(col, format!("expected a number, found `{s}`")))
    }

    /// Checks that the row has no fields left.
    #[inline]
    pub fn finish(&mut self) -> Result<(), FieldError> {
        if self.done { Ok(()) } else { Err(self.err(self.taken + 1, "unexpected extra field")) }
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[inline]
fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

#[inline]
fn parse_fixed(b: &[u8], scale: u32) -> Option<i64> {
    let (neg, b) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let (int, frac) = match memchr::memchr(b'.', b) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b[..0]),
    };
    if frac.len() > scale as usize || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let int_v = if int.is_empty() { 0 } else { parse_u64(int)? };
    let frac_v = if frac.is_empty() { 0 } else { parse_u64(frac)? };
    let pad = 10u64.pow(scale - frac.len() as u32);
    let v = int_v.checked_mul(10u64.pow(scale))?.checked_add(frac_v * pad)?;
    let v = i64::try_from(v).ok()?;
    Some(if neg { -v } else { v })
}

/// Appends `v` in decimal.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `v` in decimal.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// Appends `v` with exactly `decimals` fractional digits, rounded half away from zero.
pub fn write_f64_fixed(out: &mut Vec<u8>, v: f64, decimals: usize) {
    use std::io::Write;
    let _ = write!(out, "{v:.decimals$}");
}

/// Appends `s` as one field, quoted (RFC 4180) only if it holds a comma, quote or line end.
pub fn write_escaped(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for c in s.bytes() {
            if c == b'"' {
                out.push(b'"');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_quoted_fields() {
        let mut r = CsvRow::new(br#"12,"a, ""b""",-7,21.5,"#);
        assert_eq!(r.u64().unwrap(), 12);
        assert_eq!(r.str().unwrap(), "a, \"b\"");
        assert_eq!(r.i64().unwrap(), -7);
        assert_eq!(r.fixed(1).unwrap(), 215);
        assert_eq!(r.str().unwrap(), "");
        r.finish().unwrap();
    }

    #[test]
    fn errors_name_the_column() {
        let mut r = CsvRow::new(b"1,x2");
        r.u64().unwrap();
        let e = r.u64().unwrap_err();
        assert_eq!(e.column, 2);
        assert!(e.message.contains("x2"), "{}", e.message);
        let mut r = CsvRow::new(b"1");
        r.u64().unwrap();
        assert_eq!(r.u64().unwrap_err(), FieldError { column: 2, message: "missing field".into() });
        let mut r = CsvRow::new(b"1,2");
        r.u64().unwrap();
        assert_eq!(r.finish().unwrap_err().column, 2);
        let mut r = CsvRow::new(br#""abc"#);
        assert!(r.str().unwrap_err().message.contains("unterminated"));
    }

    #[test]
    fn fixed_point_rejects_too_many_decimals_and_overflow() {
        assert_eq!(parse_fixed(b"-0.5", 1), Some(-5));
        assert_eq!(parse_fixed(b"3", 2), Some(300));
        assert_eq!(parse_fixed(b".25", 2), Some(25));
        assert_eq!(parse_fixed(b"1.234", 2), None);
        assert_eq!(parse_fixed(b"", 2), None);
        assert_eq!(parse_fixed(b"99999999999999999999", 2), None);
    }

    #[test]
    fn writers_round_trip() {
        let mut out = Vec::new();
        write_u64(&mut out, 0);
        out.push(b',');
        write_i64(&mut out, -120);
        out.push(b',');
        write_escaped(&mut out, "a,\"b\"");
        out.push(b',');
        write_f64_fixed(&mut out, 2.0 / 3.0, 3);
        assert_eq!(out, b"0,-120,\"a,\"\"b\"\"\",0.667");
        let mut r = CsvRow::new(&out);
        assert_eq!(r.u64().unwrap(), 0);
        assert_eq!(r.i64().unwrap(), -120);
        assert_eq!(r.str().unwrap(), "a,\"b\"");
    }
}
