//! Owned, 4 KiB-aligned byte buffers: what a chunk is built in and handed to the writer.
//!
//! Invariants: the allocation starts on a [`ALIGN`] boundary and its capacity is a whole number
//! of 4 KiB pages, so any prefix of whole pages can be written with `O_DIRECT` or registered with
//! io_uring. The bytes past [`AlignedBuf::len`] are zero (padding is written as zeros).

/// Alignment and granularity of every buffer, chunk and file offset: 4 KiB.
pub const ALIGN: usize = 4096;

/// One page: the allocation unit of an [`AlignedBuf`].
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Page([u8; ALIGN]);

const ZERO_PAGE: Page = Page([0; ALIGN]);

/// Rounds `n` up to a multiple of [`ALIGN`].
#[inline]
pub const fn align_up(n: u64) -> u64 {
    n.div_ceil(ALIGN as u64) * ALIGN as u64
}

/// A growable byte buffer whose storage is 4 KiB-aligned and a multiple of 4 KiB long.
#[derive(Clone, Default)]
pub struct AlignedBuf {
    pages: Vec<Page>,
    len: usize,
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf").field("len", &self.len).field("capacity", &self.capacity()).finish()
    }
}

impl AlignedBuf {
    /// An empty buffer.
    pub fn new() -> AlignedBuf {
        AlignedBuf::default()
    }

    /// An empty buffer with room for at least `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> AlignedBuf {
        AlignedBuf { pages: vec![ZERO_PAGE; bytes.div_ceil(ALIGN)], len: 0 }
    }

    /// A buffer of `len` zero bytes.
    pub fn zeroed(len: usize) -> AlignedBuf {
        let mut buf = AlignedBuf::with_capacity(len);
        buf.len = len;
        buf
    }

    /// Number of bytes written into the buffer.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte has been written.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Allocated bytes: a multiple of [`ALIGN`], at least [`len`](Self::len).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.pages.len() * ALIGN
    }

    /// The written bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.all()[..self.len]
    }

    /// The written bytes, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.all_mut()[..len]
    }

    /// The written bytes followed by zero padding up to the next 4 KiB boundary: what goes to
    /// disk.
    #[inline]
    pub fn padded(&self) -> &[u8] {
        &self.all()[..align_up(self.len as u64) as usize]
    }

    /// Appends `data`, growing by whole pages.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        let end = self.len + data.len();
        self.reserve_total(end);
        let start = self.len;
        self.all_mut()[start..end].copy_from_slice(data);
        self.len = end;
    }

    /// Shortens the buffer to `len` bytes, zeroing what is cut off (padding stays zero).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            let old = self.len;
            self.all_mut()[len..old].fill(0);
            self.len = len;
        }
    }

    /// Makes room for `total` bytes in all.
    fn reserve_total(&mut self, total: usize) {
        let pages = total.div_ceil(ALIGN);
        if pages > self.pages.len() {
            let grown = pages.max(self.pages.len() * 2);
            self.pages.resize(grown, ZERO_PAGE);
        }
    }

    /// The whole allocation as bytes.
    #[inline]
    fn all(&self) -> &[u8] {
        self.pages.as_slice().as_flattened_pages()
    }

    /// The whole allocation as mutable bytes.
    #[inline]
    fn all_mut(&mut self) -> &mut [u8] {
        self.pages.as_mut_slice().as_flattened_pages_mut()
    }

    /// Pointer to the first byte, for I/O submission.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.pages.as_ptr().cast()
    }
}

/// Views a page slice as bytes.
trait FlattenPages {
    fn as_flattened_pages(&self) -> &[u8];
    fn as_flattened_pages_mut(&mut self) -> &mut [u8];
}

impl FlattenPages for [Page] {
    fn as_flattened_pages(&self) -> &[u8] {
        // SAFETY: `Page` is `repr(C)` around `[u8; ALIGN]`: size `ALIGN`, no padding, every byte
        // initialised. A slice of `n` pages is `n * ALIGN` contiguous initialised bytes, valid for
        // the lifetime of the borrow of `self`.
        unsafe { std::slice::from_raw_parts(self.as_ptr().cast::<u8>(), self.len() * ALIGN) }
    }

    fn as_flattened_pages_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; the exclusive borrow of `self` makes the byte view exclusive, and any
        // byte pattern is a valid `Page`.
        unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr().cast::<u8>(), self.len() * ALIGN) }
    }
}

impl std::io::Write for AlignedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_padded_with_zeros() {
        let mut buf = AlignedBuf::new();
        assert_eq!(buf.padded().len(), 0);
        buf.extend_from_slice(&[7u8; 5000]);
        assert_eq!(buf.as_ptr() as usize % ALIGN, 0);
        assert_eq!(buf.len(), 5000);
        assert_eq!(buf.padded().len(), 8192);
        assert!(buf.padded()[5000..].iter().all(|&b| b == 0));
        buf.truncate(10);
        assert_eq!(buf.padded().len(), 4096);
        assert!(buf.padded()[10..].iter().all(|&b| b == 0));
        assert_eq!(align_up(0), 0);
        assert_eq!(align_up(1), 4096);
        assert_eq!(align_up(4096), 4096);
    }
}
