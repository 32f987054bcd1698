//! Snapshots of a [`PagedTable`]: the synchronous freeze, the deferred encoding, and restore.
//!
//! Payload format (native byte order; a reader of the other byte order fails on the magic):
//!
//! ```text
//! header (96 bytes, `Header`): magic "RILLPGT\0", format version, kind (0 full, 1 incremental),
//!        key size, value size, slot stride, value offset, capacity, len, slots per page,
//!        sequence number, parent sequence number, upsert count, delete count, flags
//! full:        capacity * stride bytes: the slot array as it is in memory (pages concatenated)
//! incremental: upserts * stride bytes (slots: tag, key, value), then
//!              deletes * (8 + key size) bytes (tag, key); flags bit 0 = "cleared first"
//! ```
//!
//! A chain is one full payload followed by the incrementals taken after it, each naming the
//! previous one's sequence number as its parent; [`PagedTable::restore`] checks the chain, the
//! sizes and the table's structure, so that a damaged payload is an error, never a panic or a
//! table that loops forever.
//!
//! Sync cost: a full snapshot freezes every page (one `Arc` per page, no data copied); an
//! incremental one copies its changed slots right away when they are few (at most
//! [`EAGER_ENTRIES_PER_PAGE`] per page of the table, which keeps later writes free of page
//! copies), and freezes the pages otherwise. In one development run on a 1 GiB table (25 M
//! entries, not recorded in `results/`), freezing took about 0.2 us per page (4 ms; pages are
//! now frozen without an allocation, see `PagedTable::shells`) and copying a changed slot about
//! 0.1 us (a cache miss each: 27 ms for 1 %), so the threshold keeps both sync costs of the same
//! order. Either way the change tracking is handed over, not scanned: the bitmap and the change
//! list move into the snapshot and the table continues with a spare set (`changes.rs`), so that
//! the synchronous part allocates nothing once the spares exist and costs O(pages) whatever the
//! number of changes (plus the copied slots of a small delta). The encoder picks the changed
//! slots out of the frozen pages. `rill-bench state-cost` records the sync pause of whole
//! backends.

use std::marker::PhantomData;
use std::mem::size_of;
use std::path::PathBuf;
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

use super::changes::{Buffers, Spares};
use super::{MIN_CAPACITY, Page, PageBuf, PagedTable};
use crate::error::Error;

/// Payload magic.
const MAGIC: [u8; 8] = *b"RILLPGT\0";
/// Current payload format version.
pub const FORMAT_VERSION: u32 = 1;
/// An incremental snapshot copies its changed slots synchronously while there are at most this
/// many per page of the table; beyond that it freezes the pages.
pub const EAGER_ENTRIES_PER_PAGE: usize = 2;
/// Stands for the file name in errors about a payload: the caller knows the file.
const PAYLOAD: &str = "<paged state table payload>";
const FLAG_CLEARED: u64 = 1;

/// What a snapshot holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SnapshotKind {
    /// Every entry: the slot array as it is.
    Full,
    /// The entries changed and the keys removed since the previous snapshot.
    Incremental,
}

#[derive(Copy, Clone, Pod, Zeroable)]
#[repr(C)]
struct Header {
    magic: [u8; 8],
    version: u32,
    kind: u32,
    key_size: u32,
    value_size: u32,
    stride: u32,
    value_offset: u32,
    capacity: u64,
    len: u64,
    page_slots: u64,
    seq: u64,
    parent: u64,
    upserts: u64,
    deletes: u64,
    flags: u64,
}

const HEADER_LEN: usize = size_of::<Header>();

/// What a snapshot's [`Buffers`] hold.
enum Body {
    /// Full: the frozen pages (`bufs.pages`), `page_len` bytes of each.
    Full { page_len: usize },
    /// Incremental, changed slots read from the frozen pages (`bufs.pages`) when encoding: the
    /// slots on `bufs.list` whose bit in `bufs.bits` is set.
    Frozen,
    /// Incremental, changed slots copied into `bufs.upserts` when the snapshot was taken.
    Copied,
}

/// A frozen view of a [`PagedTable`] at one snapshot, to be encoded later on any thread.
///
/// Holding it keeps the pages it froze alive; the table copies such a page on its next write
/// to it. Drop it once encoded: dropping gives its buffers back to the table for a later
/// snapshot.
pub struct TableSnapshot<K, V> {
    header: Header,
    body: Body,
    /// The removed keys, the change tracking taken from the table, the frozen pages or copied
    /// slots.
    bufs: Buffers,
    /// Where the buffers go back on drop.
    spares: Arc<Spares>,
    _m: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Drop for TableSnapshot<K, V> {
    fn drop(&mut self) {
        self.spares.put(std::mem::take(&mut self.bufs));
    }
}

impl<K, V> std::fmt::Debug for TableSnapshot<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableSnapshot")
            .field("kind", &self.kind())
            .field("seq", &self.header.seq)
            .field("len", &self.header.len)
            .field("encoded_len", &self.encoded_len())
            .finish()
    }
}

impl<K, V> TableSnapshot<K, V> {
    /// Full or incremental.
    pub fn kind(&self) -> SnapshotKind {
        if self.header.kind == 0 { SnapshotKind::Full } else { SnapshotKind::Incremental }
    }

    /// Sequence number of this snapshot in its table's history (the first is 1).
    pub fn seq(&self) -> u64 {
        self.header.seq
    }

    /// Entries in the table when the snapshot was taken.
    pub fn len(&self) -> usize {
        self.header.len as usize
    }

    /// Whether the table was empty when the snapshot was taken.
    pub fn is_empty(&self) -> bool {
        self.header.len == 0
    }

    /// Bytes that [`Self::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        let h = &self.header;
        let stride = h.stride as usize;
        match self.body {
            Body::Full { .. } => HEADER_LEN + h.capacity as usize * stride,
            _ => HEADER_LEN + h.upserts as usize * stride + h.deletes as usize * (8 + h.key_size as usize),
        }
    }

    /// Appends the payload to `out` (see the module docs for the format).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(bytemuck::bytes_of(&self.header));
        let stride = self.header.stride as usize;
        let b = &self.bufs;
        match self.body {
            Body::Full { page_len } => {
                for p in &b.pages {
                    out.extend_from_slice(&bytemuck::cast_slice::<_, u8>(p.as_ref())[..page_len]);
                }
            }
            Body::Frozen => {
                let page_slots = self.header.page_slots as usize;
                // The list may name a slot twice or a slot whose bit was cleared: emit each set
                // bit once, clearing it in a copy (this thread may allocate; the worker not).
                let mut pending = b.bits.clone();
                let start = out.len();
                for &i in &b.list {
                    let (i, w, m) = (i as usize, i as usize >> 6, 1u64 << (i & 63));
                    if pending[w] & m != 0 {
                        pending[w] &= !m;
                        let page: &[u8] = bytemuck::cast_slice(b.pages[i / page_slots].as_ref());
                        let off = (i % page_slots) * stride;
                        out.extend_from_slice(&page[off..off + stride]);
                    }
                }
                assert_eq!(
                    out.len() - start,
                    self.header.upserts as usize * stride,
                    "the change list disagrees with the dirty count"
                );
                out.extend_from_slice(&b.removed);
            }
            Body::Copied => {
                out.extend_from_slice(&b.upserts);
                out.extend_from_slice(&b.removed);
            }
        }
    }
}

fn corrupt(offset: usize, reason: impl Into<String>) -> Error {
    Error::CorruptSnapshot { path: PathBuf::from(PAYLOAD), offset: offset as u64, reason: reason.into() }
}

impl<K: Pod + Eq, V: Pod> PagedTable<K, V> {
    fn header(&self, kind: SnapshotKind, parent: u64) -> Header {
        Header {
            magic: MAGIC,
            version: FORMAT_VERSION,
            kind: u32::from(kind == SnapshotKind::Incremental),
            key_size: size_of::<K>() as u32,
            value_size: size_of::<V>() as u32,
            stride: Self::STRIDE as u32,
            value_offset: Self::VAL_OFF as u32,
            capacity: self.cap as u64,
            len: self.len as u64,
            page_slots: Self::PAGE_SLOTS as u64,
            seq: self.seq,
            parent,
            upserts: self.dirty_count as u64,
            deletes: (self.removed.len() / Self::REMOVED_RECORD) as u64,
            flags: if self.cleared { FLAG_CLEARED } else { 0 },
        }
    }

    /// Shares every page with a snapshot, into `out`: O(pages), no data copied, no allocation
    /// when `out` and the shells suffice (a resize readies both).
    fn freeze(&mut self, out: &mut Vec<Arc<PageBuf>>) {
        let shells = &mut self.shells;
        out.extend(self.pages.iter_mut().map(|p| {
            if let Page::Owned(b) = p {
                let mut shell = shells.pop().unwrap_or_default();
                *Arc::get_mut(&mut shell).expect("a spare shell is shared with no one") = std::mem::take(b);
                *p = Page::Frozen(shell);
            }
            match p {
                Page::Frozen(a) => Arc::clone(a),
                Page::Owned(_) => unreachable!("page owned right after freezing"),
            }
        }));
    }

    /// Takes a snapshot: the synchronous part, O(pages) (plus the copied slots of a small
    /// delta). Change tracking restarts empty.
    ///
    /// The change tracking moves into the snapshot and the table continues with a spare buffer
    /// set: no scan of the bitmap, and no allocation once the table has spares (its first
    /// resize readies one; a snapshot's drop gives its set back).
    ///
    /// The returned [`TableSnapshot`] sees the table as it is now, whatever happens to the
    /// table afterwards; encode it on any thread.
    pub fn snapshot(&mut self, kind: SnapshotKind) -> TableSnapshot<K, V> {
        let parent = self.seq;
        self.seq += 1;
        let mut header = self.header(kind, parent);
        let spares = Arc::clone(self.spares());
        let mut bufs = spares.take(self.dirty.len());
        std::mem::swap(&mut self.dirty, &mut bufs.bits);
        std::mem::swap(&mut self.changed, &mut bufs.list);
        std::mem::swap(&mut self.removed, &mut bufs.removed);
        let changed = std::mem::take(&mut self.dirty_count);
        self.cleared = false;
        let body = match kind {
            SnapshotKind::Full => {
                header.upserts = 0;
                header.deletes = 0;
                header.flags = 0;
                self.freeze(&mut bufs.pages);
                Body::Full { page_len: self.cap.min(Self::PAGE_SLOTS) * Self::STRIDE }
            }
            SnapshotKind::Incremental if changed <= EAGER_ENTRIES_PER_PAGE * self.pages.len().max(1) => {
                self.copy_changed(&mut bufs);
                Body::Copied
            }
            SnapshotKind::Incremental => {
                self.freeze(&mut bufs.pages);
                Body::Frozen
            }
        };
        TableSnapshot { header, body, bufs, spares, _m: PhantomData }
    }

    /// Copies the slots whose bit is set in `b.bits` into `b.upserts` (each once, in the list's
    /// order), clearing the bits and the list.
    fn copy_changed(&self, b: &mut Buffers) {
        for &i in &b.list {
            let (i, w, m) = (i as usize, i as usize >> 6, 1u64 << (i & 63));
            if b.bits[w] & m != 0 {
                b.bits[w] &= !m;
                let off = Self::offset(i);
                b.upserts.extend_from_slice(&self.page(i)[off..off + Self::STRIDE]);
            }
        }
        b.list.clear();
    }

    /// Parses and checks a payload's header against this table's layout.
    fn parse_header(payload: &[u8], want: SnapshotKind, what: &str) -> Result<Header, Error> {
        if payload.len() < HEADER_LEN {
            return Err(corrupt(0, format!("{what}: {} bytes, shorter than the header", payload.len())));
        }
        let h: Header = bytemuck::pod_read_unaligned(&payload[..HEADER_LEN]);
        if h.magic != MAGIC {
            return Err(corrupt(0, format!("{what}: not a paged table payload (bad magic)")));
        }
        if h.version != FORMAT_VERSION {
            return Err(Error::SnapshotVersion {
                path: PathBuf::from(PAYLOAD),
                found: h.version,
                supported: FORMAT_VERSION,
            });
        }
        let kind = match h.kind {
            0 => SnapshotKind::Full,
            1 => SnapshotKind::Incremental,
            k => return Err(corrupt(12, format!("{what}: unknown kind {k}"))),
        };
        if kind != want {
            return Err(corrupt(12, format!("{what}: expected a {want:?} payload, found {kind:?}")));
        }
        let (ks, vs) = (size_of::<K>(), size_of::<V>());
        if h.key_size as usize != ks
            || h.value_size as usize != vs
            || h.stride as usize != Self::STRIDE
            || h.value_offset as usize != Self::VAL_OFF
        {
            return Err(corrupt(
                16,
                format!(
                    "{what}: written for keys of {} and values of {} bytes (stride {}), this table has {ks} and {vs} (stride {})",
                    h.key_size,
                    h.value_size,
                    h.stride,
                    Self::STRIDE
                ),
            ));
        }
        let cap = usize::try_from(h.capacity).map_err(|_| corrupt(32, format!("{what}: capacity too large")))?;
        if cap != 0 && (!cap.is_power_of_two() || cap < MIN_CAPACITY || cap > (isize::MAX as usize) / Self::STRIDE) {
            return Err(corrupt(32, format!("{what}: invalid capacity {cap}")));
        }
        let len_ok = if cap == 0 { h.len == 0 } else { h.len <= Self::limit_of(cap) as u64 };
        if kind == SnapshotKind::Full && !len_ok {
            return Err(corrupt(40, format!("{what}: {} entries do not fit capacity {cap}", h.len)));
        }
        let expected = match kind {
            SnapshotKind::Full => HEADER_LEN as u128 + cap as u128 * Self::STRIDE as u128,
            SnapshotKind::Incremental => {
                HEADER_LEN as u128
                    + u128::from(h.upserts) * Self::STRIDE as u128
                    + u128::from(h.deletes) * Self::REMOVED_RECORD as u128
            }
        };
        if expected != payload.len() as u128 {
            return Err(corrupt(
                payload.len().min(HEADER_LEN),
                format!("{what}: {} bytes, the header announces {expected}", payload.len()),
            ));
        }
        Ok(h)
    }

    /// Rebuilds a table from a full payload and the incremental payloads taken after it, in
    /// order. The full payload's slots are copied back as they are (no rehash). Change tracking
    /// starts empty, and the next snapshot continues the chain.
    ///
    /// Errors: [`Error::CorruptSnapshot`] for a bad header, another key or value layout, a
    /// wrong length, a broken chain (a delta whose parent is not the previous payload) or a
    /// slot array that violates the table's invariants; [`Error::SnapshotVersion`] for a
    /// format version this build cannot read.
    pub fn restore<'a>(full: &[u8], deltas: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, Error> {
        let h = Self::parse_header(full, SnapshotKind::Full, "full payload")?;
        let cap = h.capacity as usize;
        let mut t = Self::new();
        if cap > 0 {
            t.set_capacity(cap);
            t.pages = Self::new_pages(cap);
            t.reset_changes();
            t.ready_for_snapshots();
            let mut src = &full[HEADER_LEN..];
            for p in &mut t.pages {
                let Page::Owned(b) = p else { unreachable!("fresh page not owned") };
                let dst: &mut [u8] = bytemuck::cast_slice_mut(b);
                let n = cap.min(Self::PAGE_SLOTS) * Self::STRIDE;
                dst[..n].copy_from_slice(&src[..n]);
                src = &src[n..];
            }
            t.len = h.len as usize;
            t.check_structure()?;
            t.rebuild_ctrl();
        }
        t.seq = h.seq;
        for (d, delta) in deltas.into_iter().enumerate() {
            let what = format!("delta {}", d + 1);
            let h = Self::parse_header(delta, SnapshotKind::Incremental, &what)?;
            if h.parent != t.seq {
                return Err(corrupt(
                    48,
                    format!("{what}: follows snapshot {}, but the chain so far ends at {}", h.parent, t.seq),
                ));
            }
            if h.flags & FLAG_CLEARED != 0 {
                t.clear();
            }
            let ups = h.upserts as usize * Self::STRIDE;
            let body = &delta[HEADER_LEN..];
            let (upserts, deletes) = body.split_at(ups);
            for (n, rec) in deletes.chunks_exact(Self::REMOVED_RECORD).enumerate() {
                let tag: u64 = bytemuck::pod_read_unaligned(&rec[..8]);
                if tag & 1 == 0 {
                    return Err(corrupt(HEADER_LEN + ups + n * Self::REMOVED_RECORD, format!("{what}: bad tag")));
                }
                let key: K = bytemuck::pod_read_unaligned(&rec[8..]);
                t.remove_tagged(tag, &key);
            }
            for (n, slot) in upserts.chunks_exact(Self::STRIDE).enumerate() {
                let tag: u64 = bytemuck::pod_read_unaligned(&slot[..8]);
                if tag & 1 == 0 {
                    return Err(corrupt(HEADER_LEN + n * Self::STRIDE, format!("{what}: bad tag")));
                }
                let key: K = bytemuck::pod_read_unaligned(&slot[Self::KEY_OFF..Self::KEY_OFF + size_of::<K>()]);
                let value: V = bytemuck::pod_read_unaligned(&slot[Self::VAL_OFF..Self::VAL_OFF + size_of::<V>()]);
                t.insert_tagged(tag, &key, value);
            }
            if t.len as u64 != h.len {
                return Err(corrupt(
                    40,
                    format!("{what}: {} entries after applying it, the header says {}", t.len, h.len),
                ));
            }
            t.seq = h.seq;
        }
        t.reset_changes();
        t.removed = Vec::new();
        t.cleared = false;
        Ok(t)
    }

    /// Checks a restored slot array: tags, entry count, and that every entry is reachable from
    /// its home slot (no empty slot in between). O(capacity).
    fn check_structure(&self) -> Result<(), Error> {
        let bad =
            |i: usize, why: &str| corrupt(HEADER_LEN + i * Self::STRIDE, format!("full payload: slot {i}: {why}"));
        let mask = self.mask();
        let Some(empty) = (0..self.cap).find(|&i| self.tag_at(i) == 0) else {
            return Err(corrupt(HEADER_LEN, "full payload: no empty slot"));
        };
        let mut occupied = 0;
        let mut run_start = (empty + 1) & mask;
        for step in 1..=self.cap {
            let i = (empty + step) & mask;
            let tag = self.tag_at(i);
            if tag == 0 {
                run_start = (i + 1) & mask;
                continue;
            }
            if tag & 1 == 0 {
                return Err(bad(i, "bad tag"));
            }
            if (i.wrapping_sub(self.home(tag)) & mask) > (i.wrapping_sub(run_start) & mask) {
                return Err(bad(i, "entry not reachable from its home slot"));
            }
            occupied += 1;
        }
        if occupied != self.len {
            return Err(corrupt(40, format!("full payload: {occupied} occupied slots, the header says {}", self.len)));
        }
        Ok(())
    }
}
