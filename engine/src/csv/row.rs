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
///
/// A row made with [`CsvRow::from_text`] is known to be UTF-8, so [`CsvRow::str`] returns its
/// fields without validating them again; a row made with [`CsvRow::new`] validates each text
/// field it returns.
#[derive(Debug)]
pub struct CsvRow<'a> {
    line: &'a [u8],
    /// `line` as text, when it is known to be UTF-8.
    text: Option<&'a str>,
    pos: usize,
    /// Number of fields taken so far.
    taken: usize,
    done: bool,
}

/// Where the next field's value is.
enum Field {
    /// `line[start..end]`, as it is.
    Range(usize, usize),
    /// A quoted field with doubled quotes, undoubled.
    Owned(Vec<u8>),
}

impl<'a> CsvRow<'a> {
    /// A cursor over `line`, which holds one row without its line end.
    #[inline]
    pub fn new(line: &'a [u8]) -> Self {
        CsvRow { line, text: None, pos: 0, taken: 0, done: false }
    }

    /// A cursor over `line`, already known to be UTF-8 (one row without its line end): text
    /// fields are returned without validating them again.
    #[inline]
    pub fn from_text(line: &'a str) -> Self {
        CsvRow { line: line.as_bytes(), text: Some(line), pos: 0, taken: 0, done: false }
    }

    /// Whether the row is an empty line (which holds no field, not even an empty one).
    #[inline]
    pub(crate) fn is_empty_line(&self) -> bool {
        self.line.is_empty()
    }

    /// The column number (1-based) of the field the next getter reads.
    #[inline]
    pub fn column(&self) -> usize {
        self.taken + 1
    }

    fn err(&self, column: usize, message: impl Into<String>) -> FieldError {
        FieldError { column, message: message.into() }
    }

    /// Consumes the next field and tells where its value is.
    #[inline(always)]
    fn field(&mut self) -> Result<Field, FieldError> {
        if self.done {
            return Err(self.err(self.taken + 1, "missing field"));
        }
        self.taken += 1;
        let start = self.pos;
        let rest = &self.line[start..];
        if rest.first() == Some(&b'"') {
            return self.quoted();
        }
        match find_comma(rest) {
            Some(i) => {
                self.pos += i + 1;
                Ok(Field::Range(start, start + i))
            }
            None => {
                self.pos = self.line.len();
                self.done = true;
                Ok(Field::Range(start, self.line.len()))
            }
        }
    }

    /// The next field's raw bytes, unquoted (quotes doubled inside are undoubled).
    #[inline]
    pub fn bytes(&mut self) -> Result<Cow<'a, [u8]>, FieldError> {
        Ok(match self.field()? {
            Field::Range(a, b) => Cow::Borrowed(&self.line[a..b]),
            Field::Owned(v) => Cow::Owned(v),
        })
    }

    /// Consumes the next field without reading its value: the field is still checked to be
    /// well-formed (a quoted field must be closed and followed by a comma or the line's end),
    /// and a missing field is an error, so a row read with `skip` for some columns is held to
    /// the same column count as one read in full. Neither copies nor checks UTF-8.
    #[inline(always)]
    pub fn skip(&mut self) -> Result<(), FieldError> {
        if self.done {
            return Err(self.err(self.taken + 1, "missing field"));
        }
        let rest = &self.line[self.pos..];
        if rest.first() == Some(&b'"') {
            self.taken += 1;
            return self.skip_quoted();
        }
        self.taken += 1;
        match find_comma(rest) {
            Some(i) => self.pos += i + 1,
            None => {
                self.pos = self.line.len();
                self.done = true;
            }
        }
        Ok(())
    }

    /// [`skip`](Self::skip) of a quoted field (the cursor is on its opening quote): finds the
    /// closing quote, stepping over doubled quotes, without copying.
    #[cold]
    fn skip_quoted(&mut self) -> Result<(), FieldError> {
        let col = self.taken;
        let mut i = self.pos + 1;
        loop {
            let Some(q) = memchr::memchr(b'"', &self.line[i..]) else {
                return Err(self.err(col, "unterminated quoted field"));
            };
            let q = i + q;
            match self.line.get(q + 1) {
                Some(b'"') => i = q + 2,
                None => {
                    self.pos = self.line.len();
                    self.done = true;
                    return Ok(());
                }
                Some(b',') => {
                    self.pos = q + 2;
                    return Ok(());
                }
                Some(_) => return Err(self.err(col, "text after closing quote")),
            }
        }
    }

    #[cold]
    fn quoted(&mut self) -> Result<Field, FieldError> {
        let col = self.taken;
        let start = self.pos + 1;
        let mut i = start;
        let mut out: Option<Vec<u8>> = None;
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
                    Field::Owned(v)
                }
                None => Field::Range(start, q),
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
    #[inline(always)]
    pub fn str(&mut self) -> Result<Cow<'a, str>, FieldError> {
        let col = self.column();
        match self.field()? {
            Field::Range(a, b) => {
                // Fields end at ASCII bytes (comma, quote, line end), so a known-UTF-8 line
                // always splits there on character boundaries.
                if let Some(s) = self.text.and_then(|t| t.get(a..b)) {
                    return Ok(Cow::Borrowed(s));
                }
                std::str::from_utf8(&self.line[a..b]).map(Cow::Borrowed).map_err(|_| self.err(col, "not UTF-8"))
            }
            Field::Owned(v) => String::from_utf8(v).map(Cow::Owned).map_err(|_| self.err(col, "not UTF-8")),
        }
    }

    /// Fast path of the numeric getters: if the field ends `len` bytes after the cursor (at a
    /// comma or the line's end), consumes it and returns true.
    #[inline(always)]
    fn end_field_at(&mut self, len: usize) -> bool {
        let end = self.pos + len;
        match self.line.get(end) {
            None => self.done = true,
            Some(b',') => {}
            Some(_) => return false,
        }
        self.pos = (end + 1).min(self.line.len());
        self.taken += 1;
        true
    }

    /// The next field as an unsigned integer.
    #[inline(always)]
    pub fn u64(&mut self) -> Result<u64, FieldError> {
        // Fast path: plain digits parsed in the one pass that finds the field's end.
        if !self.done {
            let (v, n) = leading_digits(&self.line[self.pos..], 19);
            if n > 0 && self.end_field_at(n) {
                return Ok(v);
            }
        }
        self.u64_slow()
    }

    #[cold]
    fn u64_slow(&mut self) -> Result<u64, FieldError> {
        let col = self.column();
        let b = self.bytes()?;
        parse_u64(&b).ok_or_else(|| self.err(col, format!("expected an unsigned integer, found `{}`", show(&b))))
    }

    /// The next field as a `u32`.
    #[inline(always)]
    pub fn u32(&mut self) -> Result<u32, FieldError> {
        if !self.done {
            let (v, n) = leading_digits(&self.line[self.pos..], 10);
            if n > 0 && v <= u64::from(u32::MAX) && self.end_field_at(n) {
                return Ok(v as u32);
            }
        }
        self.u32_slow()
    }

    #[cold]
    fn u32_slow(&mut self) -> Result<u32, FieldError> {
        let col = self.column();
        let v = self.u64()?;
        u32::try_from(v).map_err(|_| self.err(col, format!("{v} does not fit in 32 bits")))
    }

    /// The next field as a signed integer.
    #[inline(always)]
    pub fn i64(&mut self) -> Result<i64, FieldError> {
        if !self.done {
            let rest = &self.line[self.pos..];
            let neg = rest.first() == Some(&b'-');
            let sign = usize::from(neg);
            // 18 digits always fit in an i64.
            let (v, n) = leading_digits(&rest[sign..], 18);
            if n > 0 && self.end_field_at(sign + n) {
                let v = v as i64;
                return Ok(if neg { -v } else { v });
            }
        }
        self.i64_slow()
    }

    #[cold]
    fn i64_slow(&mut self) -> Result<i64, FieldError> {
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
    #[inline(always)]
    pub fn fixed(&mut self, scale: u32) -> Result<i64, FieldError> {
        let scale_digits = scale as usize;
        if !self.done && scale_digits < POW10.len() {
            let rest = &self.line[self.pos..];
            let neg = rest.first() == Some(&b'-');
            let mut i = usize::from(neg);
            // At most 18 digits in all: the scaled value fits in an i64.
            let (int_v, int_n) = leading_digits(&rest[i..], 18 - scale_digits);
            i += int_n;
            let (mut frac_v, mut frac_n) = (0, 0);
            if rest.get(i) == Some(&b'.') {
                (frac_v, frac_n) = leading_digits(&rest[i + 1..], scale_digits);
                i += 1 + frac_n;
            }
            if (int_n > 0 || frac_n > 0) && self.end_field_at(i) {
                let v = (int_v * POW10[scale_digits] + frac_v * POW10[scale_digits - frac_n]) as i64;
                return Ok(if neg { -v } else { v });
            }
        }
        self.fixed_slow(scale)
    }

    #[cold]
    fn fixed_slow(&mut self, scale: u32) -> Result<i64, FieldError> {
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

/// Powers of ten that fit in 18 digits.
const POW10: [u64; 19] = {
    let mut p = [1u64; 19];
    let mut i = 1;
    while i < p.len() {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

/// Parses the ASCII digits at the start of `b`, at most `max` (at most 19, so that the value
/// cannot overflow): returns the value and the number of digits.
#[inline(always)]
fn leading_digits(b: &[u8], max: usize) -> (u64, usize) {
    let mut v = 0u64;
    let mut i = 0;
    // Eight bytes at a time while eight remain: the run of digits in the word is found and
    // parsed without a branch per digit.
    while let Some(eight) = b.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let word = u64::from_le_bytes(*eight);
        let n = digit_run(word).min(max - i);
        if n == 0 {
            return (v, i);
        }
        v = v * POW10[n] + parse_digits(word, n);
        i += n;
        if n < 8 || i == max {
            return (v, i);
        }
    }
    let n = b.len().min(max);
    while i < n {
        let d = b[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v * 10 + u64::from(d);
        i += 1;
    }
    (v, i)
}

/// `0x01` in every byte of a word.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each zero byte of `x` set, and maybe of bytes after one (a borrow only
/// passes a zero byte): nonzero iff some byte is zero, and the lowest set bit is exact.
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGH
}

/// The index of the first comma in `b`, eight bytes at a time: fields are short, and a
/// word-at-a-time scan inline beats a call into a vectorized search.
#[inline(always)]
fn find_comma(b: &[u8]) -> Option<usize> {
    let (words, tail) = b.as_chunks::<8>();
    for (k, w) in words.iter().enumerate() {
        let z = zero_bytes(u64::from_le_bytes(*w) ^ (ONES * u64::from(b',')));
        if z != 0 {
            return Some(k * 8 + (z.trailing_zeros() / 8) as usize);
        }
    }
    tail.iter().position(|&c| c == b',').map(|i| words.len() * 8 + i)
}

/// The number of ASCII digits (0 to 8) at the start of the eight bytes of `word` (loaded
/// little-endian: first byte in the low byte).
#[inline(always)]
fn digit_run(word: u64) -> usize {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Digits become 0..=9; a byte is a digit iff it is then below 10. Adding 0x76 to its low
    // seven bits (no carry out of the byte) sets the high bit iff they are at least 10.
    let x = word ^ 0x3030_3030_3030_3030;
    let not_digit = (((x & LOW7) + 0x7676_7676_7676_7676) | x) & HIGH;
    (not_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `n` (1 to 8) ASCII digits of `word` (loaded little-endian).
#[inline(always)]
fn parse_digits(word: u64, n: usize) -> u64 {
    // Move the digits to the high bytes and fill the low ones with `0` digits: leading zeros.
    let shift = 8 * (8 - n as u32);
    let zeros = 0x3030_3030_3030_3030 & (1u64 << shift).wrapping_sub(1);
    parse_eight_digits((word << shift) | zeros)
}

/// The value of eight ASCII digits loaded little-endian (first digit in the low byte), with
/// three multiplications (D. Lemire's method).
#[inline(always)]
fn parse_eight_digits(word: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let v = word.wrapping_sub(0x3030_3030_3030_3030);
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    ((v & MASK).wrapping_mul(MUL1).wrapping_add(((v >> 16) & MASK).wrapping_mul(MUL2))) >> 32
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
///
/// Eight digits at a time, each group formatted in one 64-bit word without a division loop
/// ([`eight_digits`]), and stored with fixed-size copies into 24 bytes appended to `out`
/// (then cut to the number's length): a copy of a variable length would be a call to
/// `memcpy`, which costs more than formatting a number of a few digits.
#[inline]
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    const E8: u64 = 100_000_000;
    let at = out.len();
    out.extend_from_slice(&[0u8; 24]);
    let room = &mut out[at..at + 24];
    let len = if v < E8 {
        head_digits(room, v)
    } else if v < E8 * E8 {
        let n = head_digits(room, v / E8);
        room[n..n + 8].copy_from_slice(&eight_digits(v % E8).to_le_bytes());
        n + 8
    } else {
        let n = head_digits(room, v / (E8 * E8));
        let rest = v % (E8 * E8);
        room[n..n + 8].copy_from_slice(&eight_digits(rest / E8).to_le_bytes());
        room[n + 8..n + 16].copy_from_slice(&eight_digits(rest % E8).to_le_bytes());
        n + 16
    };
    out.truncate(at + len);
}

/// Writes `v` (below 10^8) without leading zeros at the start of `room` (at least 8 bytes)
/// and returns its number of digits.
#[inline(always)]
fn head_digits(room: &mut [u8], v: u64) -> usize {
    let word = eight_digits(v);
    // Leading zeros are the low bytes that are `0`; a zero keeps its last digit.
    let zeros = (((word ^ (ONES * u64::from(b'0'))).trailing_zeros() / 8) as usize).min(7);
    room[..8].copy_from_slice(&(word >> (8 * zeros)).to_le_bytes());
    8 - zeros
}

/// The eight ASCII digits of `v` (below 10^8, with leading zeros) as a little-endian word
/// (first digit in the low byte). The word is split into lanes, halved twice: two lanes of
/// four digits, four of two, eight of one; each split is a multiply-shift that divides every
/// lane at once (`x * 10486 >> 20` is `x / 100` below 10^4, `x * 103 >> 10` is `x / 10`
/// below 100), so there is no chain of dependent divisions.
#[inline(always)]
fn eight_digits(v: u64) -> u64 {
    let x = (v / 10_000) | ((v % 10_000) << 32);
    let hundreds = ((x * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let x = hundreds | ((x - hundreds * 100) << 16);
    let tens = ((x * 103) >> 10) & 0x000F_000F_000F_000F;
    let x = tens | ((x - tens * 10) << 8);
    x | (ONES * u64::from(b'0'))
}

/// Appends `v` in decimal.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// Appends the fixed-point integer `v` as a decimal with `scale` fractional digits: `215` with
/// `scale = 1` is `21.5`, `-5` is `-0.5`. The inverse of [`CsvRow::fixed`]; exact.
pub fn write_fixed(out: &mut Vec<u8>, v: i64, scale: u32) {
    if v < 0 {
        out.push(b'-');
    }
    let a = v.unsigned_abs();
    if scale == 0 {
        write_u64(out, a);
        return;
    }
    let unit = 10u64.pow(scale);
    write_u64(out, a / unit);
    out.push(b'.');
    let mut frac = a % unit;
    let at = out.len();
    for _ in 0..scale {
        out.push(b'0' + (frac % 10) as u8);
        frac /= 10;
    }
    out[at..].reverse();
}

/// Appends `v` with exactly `decimals` fractional digits, rounded half away from zero.
pub fn write_f64_fixed(out: &mut Vec<u8>, v: f64, decimals: usize) {
    use std::io::Write;
    let _ = write!(out, "{v:.decimals$}");
}

/// Appends `s` as one field, quoted (RFC 4180) only if it holds a comma, quote or line end.
#[inline]
pub fn write_escaped(out: &mut Vec<u8>, s: &str) {
    if needs_quotes(s.as_bytes()) {
        write_quoted(out, s.as_bytes());
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Whether `b` holds a comma, quote, `\n` or `\r`: eight bytes at a time, with a cheap test
/// (any byte below `-`, which all four are) before the exact one.
#[inline]
fn needs_quotes(b: &[u8]) -> bool {
    let has_zero = |x: u64| zero_bytes(x) != 0;
    let (words, tail) = b.as_chunks::<8>();
    for w in words {
        let x = u64::from_le_bytes(*w);
        // Some byte below 0x2D, exact for thresholds up to 0x80.
        if x.wrapping_sub(ONES * 0x2D) & !x & HIGH != 0
            && (has_zero(x ^ (ONES * u64::from(b',')))
                | has_zero(x ^ (ONES * u64::from(b'"')))
                | has_zero(x ^ (ONES * u64::from(b'\n')))
                | has_zero(x ^ (ONES * u64::from(b'\r'))))
        {
            return true;
        }
    }
    tail.iter().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r'))
}

/// Appends `b` quoted, its quotes doubled.
#[cold]
fn write_quoted(out: &mut Vec<u8>, mut b: &[u8]) {
    out.push(b'"');
    while let Some(q) = memchr::memchr(b'"', b) {
        out.extend_from_slice(&b[..=q]);
        out.push(b'"');
        b = &b[q + 1..];
    }
    out.extend_from_slice(b);
    out.push(b'"');
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

    /// Reads every field of `line` with `str`, or skips the ones `skipped` marks, and returns
    /// the values read and how the row ended (`finish` or the first error).
    fn read_or_skip(line: &[u8], skipped: &[bool]) -> (Vec<String>, Result<(), FieldError>) {
        let mut r = CsvRow::new(line);
        let mut values = Vec::new();
        for &skip in skipped {
            let got = if skip { r.skip().map(|()| None) } else { r.str().map(|s| Some(s.into_owned())) };
            match got {
                Ok(v) => values.extend(v),
                Err(e) => return (values, Err(e)),
            }
        }
        (values, r.finish())
    }

    proptest::proptest! {
        #[test]
        fn skipping_a_field_reads_like_reading_it(
            line in "[ab,\"\u{e9}]{0,24}",
            skipped in proptest::collection::vec(proptest::prelude::any::<bool>(), 0..8),
        ) {
            // Skipping validates like reading, except that it never checks UTF-8 (every line
            // here is UTF-8): the same errors at the same columns, the same other values.
            let read_all = vec![false; skipped.len()];
            let (all, all_end) = read_or_skip(line.as_bytes(), &read_all);
            let (some, some_end) = read_or_skip(line.as_bytes(), &skipped);
            proptest::prop_assert_eq!(&some_end, &all_end);
            let kept: Vec<String> = all.iter().zip(&skipped).filter(|(_, s)| !**s).map(|(v, _)| v.clone()).collect();
            proptest::prop_assert_eq!(some, kept);
        }
    }

    #[test]
    fn skip_checks_the_field_is_well_formed() {
        let mut r = CsvRow::new(br#""a,""b""",x,"c""#);
        r.skip().unwrap();
        assert_eq!(r.str().unwrap(), "x");
        r.skip().unwrap();
        r.finish().unwrap();
        assert_eq!(r.skip().unwrap_err(), FieldError { column: 4, message: "missing field".into() });
        let mut r = CsvRow::new(br#"1,"abc"#);
        r.skip().unwrap();
        assert_eq!(r.skip().unwrap_err(), FieldError { column: 2, message: "unterminated quoted field".into() });
        let mut r = CsvRow::new(br#""a"b,c"#);
        assert_eq!(r.skip().unwrap_err(), FieldError { column: 1, message: "text after closing quote".into() });
        // A skipped field is not read: bytes that are not UTF-8 pass.
        let mut r = CsvRow::new(b"\xff\xfe,1");
        r.skip().unwrap();
        assert_eq!(r.u64().unwrap(), 1);
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

    /// Runs `fast` and `slow` on cursors over `line` and checks they agree, including on
    /// where the cursor stands afterwards.
    fn agree<T: PartialEq + std::fmt::Debug>(
        line: &[u8],
        fast: impl Fn(&mut CsvRow<'_>) -> Result<T, FieldError>,
        slow: impl Fn(&mut CsvRow<'_>) -> Result<T, FieldError>,
    ) {
        let (mut a, mut b) = (CsvRow::new(line), CsvRow::new(line));
        assert_eq!(fast(&mut a), slow(&mut b), "{:?}", String::from_utf8_lossy(line));
        assert_eq!(a.column(), b.column());
        if a.done == b.done && !a.done {
            assert_eq!(a.bytes(), b.bytes());
        }
        assert_eq!(a.finish(), b.finish());
    }

    proptest::proptest! {
        #[test]
        fn fast_number_paths_match_the_reference(line in "[-0-9.,\"a]{0,24}", scale in 0u32..5) {
            let line = line.as_bytes();
            agree(line, |r| r.u64(), |r| r.u64_slow());
            agree(line, |r| r.u32(), |r| r.u32_slow());
            agree(line, |r| r.i64(), |r| r.i64_slow());
            agree(line, |r| r.fixed(scale), |r| r.fixed_slow(scale));
            agree(line, |r| r.fixed(18), |r| r.fixed_slow(18));
        }

        #[test]
        fn numbers_round_trip_at_their_limits(v in proptest::prelude::any::<u64>(), w in proptest::prelude::any::<i64>()) {
            let text = format!("{v},{w},{}", w / 10);
            let mut r = CsvRow::new(text.as_bytes());
            proptest::prop_assert_eq!(r.u64().unwrap(), v);
            proptest::prop_assert_eq!(r.i64().ok(), if w == i64::MIN { None } else { Some(w) });
        }
    }

    #[test]
    fn eight_digit_words() {
        assert_eq!(parse_eight_digits(u64::from_le_bytes(*b"12345678")), 12_345_678);
        assert_eq!(parse_eight_digits(u64::from_le_bytes(*b"00000009")), 9);
        assert_eq!(digit_run(u64::from_le_bytes(*b"99999999")), 8);
        for bad in [
            *b"1234567a",
            *b"/2345678",
            *b"1234:678",
            *b"12345 78",
            *b"\xb02345678",
            *b"\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            assert!(digit_run(u64::from_le_bytes(bad)) < 8, "{bad:?}");
        }
        for pos in 0..8 {
            for byte in 0..=255u8 {
                let mut word = *b"01234567";
                word[pos] = byte;
                let run = if byte.is_ascii_digit() { 8 } else { pos };
                assert_eq!(digit_run(u64::from_le_bytes(word)), run, "{word:?}");
            }
        }
        for n in 1..=8 {
            let word = u64::from_le_bytes(*b"98765432");
            let want: u64 = std::str::from_utf8(&b"98765432"[..n]).unwrap().parse().unwrap();
            assert_eq!(parse_digits(word, n), want, "{n} digits");
        }
        for text in
            ["1700000000123", "12345678", "123456789012345678", "00000000000000000001", "4294967295", "4294967296"]
        {
            let mut r = CsvRow::new(text.as_bytes());
            assert_eq!(r.u64().ok(), text.parse::<u64>().ok(), "{text}");
            let mut r = CsvRow::new(text.as_bytes());
            assert_eq!(r.u32().ok(), text.parse::<u32>().ok(), "{text}");
        }
    }

    /// RFC 4180 escaping, written the obvious way.
    fn escaped_reference(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
    }

    proptest::proptest! {
        #[test]
        fn escaping_matches_the_reference(s in "[a-z&+ ,\"\r\n\u{e9}]{0,40}") {
            let mut out = b"x".to_vec();
            write_escaped(&mut out, &s);
            let want = escaped_reference(&s);
            proptest::prop_assert_eq!(&out[1..], want.as_bytes());
            let mut r = CsvRow::new(&out[1..]);
            proptest::prop_assert_eq!(r.str().unwrap(), s.as_str());
        }

        #[test]
        fn u64_writes_like_format(v in proptest::prelude::any::<u64>(), digits in 0u32..20) {
            let v = v % 10u64.saturating_pow(digits).max(1);
            let mut out = Vec::new();
            write_u64(&mut out, v);
            proptest::prop_assert_eq!(out, v.to_string().into_bytes());
        }

        #[test]
        fn text_rows_read_like_byte_rows(line in "[a-c0-9,\"\u{e9}]{0,30}") {
            let (mut a, mut b) = (CsvRow::from_text(&line), CsvRow::new(line.as_bytes()));
            loop {
                let (x, y) = (a.str(), b.str());
                proptest::prop_assert_eq!(&x, &y);
                if x.is_err() || a.finish().is_ok() {
                    break;
                }
            }
        }
    }

    #[test]
    fn every_special_byte_is_found_at_every_position() {
        for len in 1..40 {
            for at in 0..len {
                for special in [',', '"', '\n', '\r'] {
                    let mut s: String = "a&+-".chars().cycle().take(len).collect();
                    s.replace_range(at..=at, &special.to_string());
                    let mut out = Vec::new();
                    write_escaped(&mut out, &s);
                    assert_eq!(out, escaped_reference(&s).as_bytes(), "{s:?}");
                }
            }
            let plain: String = "a&+-~ ".chars().cycle().take(len).collect();
            let mut out = Vec::new();
            write_escaped(&mut out, &plain);
            assert_eq!(out, plain.as_bytes());
        }
    }

    #[test]
    fn comma_search_finds_the_first_comma() {
        for len in 0..40 {
            for at in 0..=len {
                let mut line = vec![b'x'; len];
                if at < len {
                    line[at] = b',';
                    // A later comma must not hide the first one.
                    line[(at + 1..len).last().unwrap_or(at)] = b',';
                    line.iter_mut().take(at).for_each(|c| *c = b'+');
                }
                assert_eq!(find_comma(&line), line.iter().position(|&c| c == b','), "{line:?}");
            }
        }
    }

    #[test]
    fn u64_writer_edges() {
        let mut edges = vec![0, 9, 10, 99, 100, 101, 999, 1000, 1_436_918_400_000, u64::MAX, u64::MAX - 1];
        for p in 1..20 {
            let t = 10u64.pow(p);
            edges.extend([t - 1, t, t + 1]);
        }
        // Every value of the lanes eight_digits splits a number into (four digits twice), and
        // the numbers around each eight-digit group boundary.
        edges.extend(0..100_000);
        edges.extend((0..10_000).map(|x| x * 10_000 + 9_999));
        for v in edges {
            let mut out = b"x".to_vec();
            write_u64(&mut out, v);
            assert_eq!(out[1..], *v.to_string().as_bytes());
        }
    }

    #[test]
    fn fixed_fast_path_edges() {
        for (text, scale, want) in [
            ("21.5", 1, Some(215)),
            ("-0.5", 1, Some(-5)),
            (".5", 1, Some(5)),
            ("5.", 2, Some(500)),
            ("-.25", 2, Some(-25)),
            (".", 1, None),
            ("-", 1, None),
            ("1.23", 1, None),
            ("999999999999999999", 0, Some(999_999_999_999_999_999)),
            ("9223372036854775807", 0, Some(i64::MAX)),
            ("9223372036854775808", 0, None),
        ] {
            assert_eq!(CsvRow::new(text.as_bytes()).fixed(scale).ok(), want, "{text} scale {scale}");
        }
    }

    #[test]
    fn fixed_point_writes_and_parses_back() {
        for (v, scale, text) in
            [(215, 1, "21.5"), (-5, 1, "-0.5"), (0, 3, "0.000"), (-1_234_567, 3, "-1234.567"), (42, 0, "42")]
        {
            let mut out = Vec::new();
            write_fixed(&mut out, v, scale);
            assert_eq!(std::str::from_utf8(&out).unwrap(), text);
            assert_eq!(CsvRow::new(&out).fixed(scale).unwrap(), v);
        }
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
