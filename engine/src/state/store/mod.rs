//! The zero-copy keyed state store: one key group's table of fixed-layout entries.
//!
//! [`PagedTable<K, V>`] is an open-addressing hash table (linear probing, backward-shift
//! deletion, no tombstones) whose slots live in fixed-size pages of plain bytes. A slot is
//! `tag: u64 | key: K | value: V` laid out as `#[repr(C)]` would lay it out, padding bytes kept
//! zero, so that a page *is* its snapshot payload: a full snapshot writes the pages as they
//! are and a restore copies them back without rehashing. Values are read and updated in place
//! (`&V` / `&mut V` into the page); nothing is serialised on access.
//!
//! Snapshots ([`PagedTable::snapshot`]) are taken in two parts:
//! * the synchronous part freezes the pages (an `Arc` per page, no data copied) and takes the
//!   change tracking, O(pages);
//! * [`TableSnapshot::encode`] runs later, on the snapshot writer's thread, while the table keeps
//!   changing: a write to a page that a snapshot still holds copies that page first
//!   (copy-on-write), so the snapshot sees the table exactly as it was when it was taken.
//!
//! Incremental snapshots are entry-level: a bitmap with one dirty bit per slot (the bit travels
//! with its entry when the entry moves), a list of the slots whose bit was set (so that a
//! snapshot hands the changes over without scanning the bitmap, see `changes.rs`) and a list of
//! keys removed since the last snapshot. A delta holds the changed entries (upserts) and the
//! removed keys, so 1 % of the keys changed gives a delta of about 1 % of the state.
//!
//! Invariants (checked in debug builds and by the property tests):
//! * the capacity is 0 or a power of two >= [`MIN_CAPACITY`]; `len <= capacity * 7 / 8`, so
//!   every probe run ends at an empty slot;
//! * a slot is empty iff its tag is 0; an occupied slot's tag is the mixed key hash with its
//!   lowest bit set, and every slot between the tag's home slot and the entry's slot is occupied
//!   (linear probing without tombstones);
//! * a slot's control byte (kept beside the pages, not snapshotted) is `ctrl::EMPTY` iff the slot
//!   is empty, else `ctrl::h2` of its tag; lookups probe the control bytes 16 at a time;
//! * a set dirty bit means "the entry in this slot changed since the last snapshot"; empty
//!   slots have no dirty bit; every set bit's slot is on the change list.
//!
//! Use it for fixed-size keys and values (`bytemuck::Pod`): window accumulators, counters,
//! value state of plain structs. Variable-size values (strings, lists) do not fit here.

mod changes;
mod ctrl;
mod paged;
mod snapshot;

pub use paged::{Iter, PagedTable};
pub use snapshot::{SnapshotKind, TableSnapshot};

use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};

/// Target bytes of one page: the unit of copy-on-write after a snapshot.
pub const PAGE_BYTES: usize = 64 * 1024;

/// The smallest capacity (slots) of a table that holds anything.
pub const MIN_CAPACITY: usize = 16;

/// The allocation unit of a page: 64 bytes, aligned to 64, so that any key or value with an
/// alignment up to 64 can be viewed in place.
#[derive(Copy, Clone, Pod, Zeroable)]
#[repr(C, align(64))]
pub(crate) struct Line([u8; 64]);

/// A page's memory.
pub(crate) type PageBuf = Box<[Line]>;

/// One page of the live table: owned (writable in place) or shared with snapshots (frozen;
/// copied or reclaimed on the first write).
pub(crate) enum Page {
    /// Only the table holds it.
    Owned(PageBuf),
    /// A snapshot holds it too (or did: it is reclaimed without a copy once they are gone).
    Frozen(Arc<PageBuf>),
}

impl Page {
    #[inline(always)]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Page::Owned(b) => bytemuck::cast_slice(b),
            Page::Frozen(a) => bytemuck::cast_slice(a.as_ref()),
        }
    }
}

/// A zeroed page buffer of at least `bytes` bytes.
pub(crate) fn zeroed_page(bytes: usize) -> PageBuf {
    vec![Line([0; 64]); bytes.div_ceil(64)].into_boxed_slice()
}

const fn round_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// The slot layout of a `PagedTable<K, V>`, computed at compile time.
pub(crate) struct Layout<K, V>(PhantomData<fn() -> (K, V)>);

impl<K: Pod, V: Pod> Layout<K, V> {
    /// Offset of the key in a slot (the tag is at 0).
    pub(crate) const KEY_OFF: usize = round_up(8, align_of::<K>());
    /// Offset of the value in a slot.
    pub(crate) const VAL_OFF: usize = round_up(Self::KEY_OFF + size_of::<K>(), align_of::<V>());
    /// Bytes per slot, a multiple of the slot's alignment.
    pub(crate) const STRIDE: usize =
        round_up(Self::VAL_OFF + size_of::<V>(), max(8, max(align_of::<K>(), align_of::<V>())));
    /// Slots per page: the largest power of two whose slots fit in [`PAGE_BYTES`] (at least 1).
    pub(crate) const PAGE_SLOTS: usize = {
        let n = PAGE_BYTES / Self::STRIDE;
        if n == 0 { 1 } else { 1 << (usize::BITS - 1 - n.leading_zeros()) }
    };
    pub(crate) const PAGE_SHIFT: u32 = Self::PAGE_SLOTS.trailing_zeros();
    pub(crate) const PAGE_MASK: usize = Self::PAGE_SLOTS - 1;
    /// Compile-time check that keys and values can be viewed in place in a page.
    pub(crate) const CHECK: () = assert!(
        align_of::<K>() <= 64 && align_of::<V>() <= 64,
        "PagedTable keys and values must have an alignment of at most 64"
    );
}

/// Mixes a key hash ([`crate::state::hash_key`]) into a slot tag: never 0 (0 marks an empty
/// slot), with well-spread high bits (the home slot is taken from them).
#[inline(always)]
pub(crate) fn tag_of(key_hash: u64) -> u64 {
    crate::state::table::table_hash(key_hash) | 1
}
