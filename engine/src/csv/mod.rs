//! CSV records: RFC 4180 fields, parsed without allocation, written without formatting
//! machinery.
//!
//! A type that flows in or out of CSV implements [`CsvRecord`]: its column names (the header)
//! and how to parse one row from a [`CsvRow`] cursor and write one row into a byte buffer.
//! Fields may be quoted (`"a, ""b"""`); a field cannot span lines (the file reader splits a
//! file across workers at line ends). Errors name the column; the reader adds file and line.

mod reader;
mod row;

pub use reader::{BUF_SIZE, CHUNK_SIZE, CsvFileReader};
pub use row::{CsvRow, FieldError, write_escaped, write_f64_fixed, write_fixed, write_i64, write_u64};

/// A record that can be read from and written to one CSV row.
pub trait CsvRecord: Sized {
    /// Column names in order; the header line is these joined by commas.
    const COLUMNS: &'static [&'static str];

    /// Whether [`parse_csv`](Self::parse_csv) reads text fields. If so (the default), the
    /// file reader checks each block of rows for UTF-8 in one pass, so that text fields are
    /// not checked again one by one; a record that reads only numbers and skipped fields
    /// sets it to `false` to spare that pass. Either way every text field read is UTF-8.
    const READS_TEXT: bool = true;

    /// Parses one row. Call the cursor's typed getters once per column, then
    /// [`CsvRow::finish`].
    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError>;

    /// Appends this record as one row (without the line end) to `out`.
    fn write_csv(&self, out: &mut Vec<u8>);

    /// The header line (without the line end).
    fn header() -> String {
        Self::COLUMNS.join(",")
    }
}
