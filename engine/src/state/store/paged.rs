//! [`PagedTable`]: the live table (lookup, update, insert, remove, growth, iteration).
//!
//! Open addressing with linear probing over a power-of-two slot array split into pages of
//! [`Layout::PAGE_SLOTS`] slots; slot `i` is in page `i >> PAGE_SHIFT` at byte
//! `(i & PAGE_MASK) * STRIDE`. Deletion shifts the following entries of the probe run back
//! (no tombstones), carrying their dirty bits with them. Every write goes through
//! [`PagedTable::page_mut`], which copies a page still shared with a snapshot first.

use std::marker::PhantomData;
use std::mem::size_of;
use std::sync::Arc;

use bytemuck::Pod;

use super::changes::Spares;
use super::{Layout, MIN_CAPACITY, Page, PageBuf, tag_of, zeroed_page};

/// One key group's hash table of fixed-layout keys and values, stored in snapshot-ready pages.
///
/// Every method that locates a key takes the key's hash from [`crate::state::hash_key`] (the
/// operator computes it once per record); the table mixes it itself, so the equal high bits of
/// a key group's hashes do no harm. The same hash must be passed for the same key every time:
/// it is stored in the slot and in snapshots.
///
/// Keys are compared with `K`'s `Eq`; values are read and written in place.
///
/// ```
/// use rill::state::{PagedTable, hash_key};
///
/// let mut t: PagedTable<u64, [u64; 2]> = PagedTable::new();
/// let k = 7u64;
/// let acc = t.get_or_insert_with(hash_key(&k), k, || [0, 0]);
/// acc[0] += 1;
/// acc[1] += 10;
/// assert_eq!(t.get(hash_key(&k), &k), Some(&[1, 10]));
/// assert_eq!(t.remove(hash_key(&k), &k), Some([1, 10]));
/// assert!(t.is_empty());
/// ```
pub struct PagedTable<K, V> {
    /// The slot array, `capacity` slots in pages (one smaller page below one page's worth).
    pub(super) pages: Vec<Page>,
    /// Occupied slots.
    pub(super) len: usize,
    /// Slots: 0 or a power of two >= [`MIN_CAPACITY`].
    pub(super) cap: usize,
    /// `len` above which an insert grows the table.
    pub(super) limit: usize,
    /// `64 - log2(cap)`: the home slot of a tag is `tag >> shift`.
    pub(super) shift: u32,
    /// Slots per page: `min(cap, PAGE_SLOTS)`.
    pub(super) page_slots: usize,
    /// One bit per slot: the entry there changed since the last snapshot.
    pub(super) dirty: Vec<u64>,
    /// Set bits in `dirty`.
    pub(super) dirty_count: usize,
    /// Slot indices whose bit went from 0 to 1, a superset of the set bits (see `changes.rs`):
    /// a snapshot hands it over instead of scanning the bitmap.
    pub(super) changed: Vec<u32>,
    /// Keys removed since the last snapshot, packed `(tag: u64, key: K)` records.
    pub(super) removed: Vec<u8>,
    /// The table was cleared since the last snapshot (the next delta starts with "clear").
    pub(super) cleared: bool,
    /// Sequence number of the last snapshot taken of (or restored into) this table.
    pub(super) seq: u64,
    /// Empty `Arc`s of reclaimed pages, reused when pages are frozen again: a freeze then costs
    /// no allocation per page (a development probe on a 100 MB table whose pages had all been
    /// written: about 0.2 us per page with an allocation, 0.065 us with reuse; not in `results/`).
    pub(super) shells: Vec<Arc<PageBuf>>,
    /// Buffer sets that snapshots take and give back (created by the first resize or snapshot).
    pub(super) spares: Option<Arc<Spares>>,
    pub(super) _marker: PhantomData<fn() -> (K, V)>,
}

impl<K: Pod + Eq, V: Pod> Default for PagedTable<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Pod + Eq, V: Pod> std::fmt::Debug for PagedTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagedTable")
            .field("len", &self.len)
            .field("capacity", &self.cap)
            .field("pages", &self.pages.len())
            .field("changed", &self.dirty_count)
            .field("removed", &(self.removed.len() / Self::REMOVED_RECORD))
            .finish()
    }
}

#[inline(always)]
fn read_tag(bytes: &[u8], off: usize) -> u64 {
    bytemuck::pod_read_unaligned(&bytes[off..off + 8])
}

#[inline(always)]
fn write_tag(bytes: &mut [u8], off: usize, tag: u64) {
    bytes[off..off + 8].copy_from_slice(&tag.to_ne_bytes());
}

impl<K: Pod + Eq, V: Pod> PagedTable<K, V> {
    pub(super) const KEY_OFF: usize = Layout::<K, V>::KEY_OFF;
    pub(super) const VAL_OFF: usize = Layout::<K, V>::VAL_OFF;
    pub(super) const STRIDE: usize = Layout::<K, V>::STRIDE;
    pub(super) const PAGE_SLOTS: usize = Layout::<K, V>::PAGE_SLOTS;
    pub(super) const PAGE_SHIFT: u32 = Layout::<K, V>::PAGE_SHIFT;
    pub(super) const PAGE_MASK: usize = Layout::<K, V>::PAGE_MASK;
    pub(super) const REMOVED_RECORD: usize = 8 + size_of::<K>();

    /// An empty table; allocates nothing until the first insert.
    pub fn new() -> Self {
        let () = Layout::<K, V>::CHECK;
        PagedTable {
            pages: Vec::new(),
            len: 0,
            cap: 0,
            limit: 0,
            shift: 64,
            page_slots: 0,
            dirty: Vec::new(),
            dirty_count: 0,
            changed: Vec::new(),
            removed: Vec::new(),
            cleared: false,
            seq: 0,
            shells: Vec::new(),
            spares: None,
            _marker: PhantomData,
        }
    }

    /// An empty table that holds `n` entries without growing.
    pub fn with_capacity(n: usize) -> Self {
        let mut t = Self::new();
        if n > 0 {
            t.resize(Self::capacity_for(n));
        }
        t
    }

    /// The smallest capacity whose load limit admits `n` entries.
    fn capacity_for(n: usize) -> usize {
        let mut cap = MIN_CAPACITY;
        while Self::limit_of(cap) < n {
            cap *= 2;
        }
        cap
    }

    /// Entries a table of `cap` slots holds before it grows: 7/8 of its slots.
    #[inline]
    pub(super) fn limit_of(cap: usize) -> usize {
        cap - cap / 8
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots (0 or a power of two).
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Bytes of memory the table holds: its pages (including pages shared with snapshots),
    /// dirty bitmap, change list, removed-key list and page index (not the spare buffers that
    /// snapshots reuse).
    pub fn bytes(&self) -> usize {
        let pages: usize = self.pages.iter().map(|p| p.bytes().len()).sum();
        pages
            + self.dirty.capacity() * 8
            + self.changed.capacity() * 4
            + self.removed.capacity()
            + self.pages.capacity() * size_of::<Page>()
            + size_of::<Self>()
    }

    /// Entries changed (inserted or updated) since the last snapshot, and keys removed since
    /// then: the size of the next incremental snapshot, in entries.
    pub fn changes(&self) -> (usize, usize) {
        (self.dirty_count, self.removed.len() / Self::REMOVED_RECORD)
    }

    #[inline(always)]
    pub(super) fn mask(&self) -> usize {
        self.cap.wrapping_sub(1)
    }

    #[inline(always)]
    pub(super) fn home(&self, tag: u64) -> usize {
        (tag >> self.shift) as usize
    }

    #[inline(always)]
    pub(super) fn page(&self, i: usize) -> &[u8] {
        self.pages[i >> Self::PAGE_SHIFT].bytes()
    }

    #[inline(always)]
    pub(super) fn offset(i: usize) -> usize {
        (i & Self::PAGE_MASK) * Self::STRIDE
    }

    #[inline(always)]
    pub(super) fn tag_at(&self, i: usize) -> u64 {
        read_tag(self.page(i), Self::offset(i))
    }

    #[inline(always)]
    fn key_in(bytes: &[u8], off: usize) -> K {
        bytemuck::pod_read_unaligned(&bytes[off + Self::KEY_OFF..off + Self::KEY_OFF + size_of::<K>()])
    }

    #[inline(always)]
    fn value_in(bytes: &[u8], off: usize) -> &V {
        bytemuck::from_bytes(&bytes[off + Self::VAL_OFF..off + Self::VAL_OFF + size_of::<V>()])
    }

    #[inline(always)]
    fn value_in_mut(bytes: &mut [u8], off: usize) -> &mut V {
        bytemuck::from_bytes_mut(&mut bytes[off + Self::VAL_OFF..off + Self::VAL_OFF + size_of::<V>()])
    }

    /// The writable bytes of page `p`, copying it first if a snapshot still holds it.
    #[inline(always)]
    fn page_mut(&mut self, p: usize) -> &mut [u8] {
        if let Page::Frozen(_) = self.pages[p] {
            self.thaw(p);
        }
        match &mut self.pages[p] {
            Page::Owned(b) => bytemuck::cast_slice_mut(b),
            Page::Frozen(_) => unreachable!("page {p} still frozen after thaw"),
        }
    }

    /// Makes page `p` owned again: reclaims it if no snapshot holds it any more, else copies it.
    #[cold]
    #[inline(never)]
    fn thaw(&mut self, p: usize) {
        let page = std::mem::replace(&mut self.pages[p], Page::Owned(PageBuf::default()));
        if let Page::Frozen(mut arc) = page {
            self.pages[p] = Page::Owned(match Arc::get_mut(&mut arc) {
                Some(buf) => {
                    let buf = std::mem::take(buf);
                    self.shells.push(arc);
                    buf
                }
                None => PageBuf::clone(&arc),
            });
        }
    }

    /// The slot of `key` with its page's bytes (`Ok`), or the empty slot ending its probe
    /// run (`Err`). `cap > 0`.
    ///
    /// Slot by slot: a window of slots compared without branches measured slower (it reads two
    /// or three cache lines where one usually holds the entry). The page is looked up again
    /// only when the probe crosses into the next page.
    #[inline(always)]
    fn find(&self, tag: u64, key: &K) -> Result<(usize, &[u8]), usize> {
        let mask = self.mask();
        let mut i = self.home(tag);
        let mut bytes = self.page(i);
        loop {
            let off = Self::offset(i);
            let t = read_tag(bytes, off);
            if t == tag && Self::key_in(bytes, off) == *key {
                return Ok((i, bytes));
            }
            if t == 0 {
                return Err(i);
            }
            i = (i + 1) & mask;
            if i & Self::PAGE_MASK == 0 {
                bytes = self.page(i);
            }
        }
    }

    /// The first empty slot of `tag`'s probe run. `cap > 0`.
    #[inline]
    fn find_vacant(&self, tag: u64) -> usize {
        let mask = self.mask();
        let mut i = self.home(tag);
        while self.tag_at(i) != 0 {
            i = (i + 1) & mask;
        }
        i
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, hash: u64, key: &K) -> Option<&V> {
        if self.cap == 0 {
            return None;
        }
        let (i, bytes) = self.find(tag_of(hash), key).ok()?;
        Some(Self::value_in(bytes, Self::offset(i)))
    }

    /// Whether `key` has an entry.
    #[inline]
    pub fn contains_key(&self, hash: u64, key: &K) -> bool {
        self.get(hash, key).is_some()
    }

    /// The value of `key`, writable in place (the entry counts as changed for the next
    /// incremental snapshot).
    #[inline]
    pub fn get_mut(&mut self, hash: u64, key: &K) -> Option<&mut V> {
        if self.cap == 0 {
            return None;
        }
        let (i, _) = self.find(tag_of(hash), key).ok()?;
        Some(self.value_at_mut(i))
    }

    /// The value at occupied slot `i`, writable: marks the slot dirty.
    #[inline(always)]
    fn value_at_mut(&mut self, i: usize) -> &mut V {
        self.mark_dirty(i);
        let bytes = self.page_mut(i >> Self::PAGE_SHIFT);
        Self::value_in_mut(bytes, Self::offset(i))
    }

    /// Writes a new entry into empty slot `i`.
    #[inline(always)]
    fn write_new(&mut self, i: usize, tag: u64, key: &K, value: &V) {
        let off = Self::offset(i);
        let bytes = self.page_mut(i >> Self::PAGE_SHIFT);
        write_tag(bytes, off, tag);
        bytes[off + Self::KEY_OFF..off + Self::KEY_OFF + size_of::<K>()].copy_from_slice(bytemuck::bytes_of(key));
        bytes[off + Self::VAL_OFF..off + Self::VAL_OFF + size_of::<V>()].copy_from_slice(bytemuck::bytes_of(value));
        self.len += 1;
    }

    /// The slot for a new entry with `tag`, whose probe run ended at empty slot `i`; grows
    /// the table first if it is at its load limit.
    #[inline(always)]
    fn slot_for_new(&mut self, tag: u64, i: usize) -> usize {
        if self.len < self.limit {
            i
        } else {
            self.grow();
            self.find_vacant(tag)
        }
    }

    /// The value of `key`, inserted with `init()` if absent, writable in place (the entry
    /// counts as changed for the next incremental snapshot).
    #[inline]
    pub fn get_or_insert_with(&mut self, hash: u64, key: K, init: impl FnOnce() -> V) -> &mut V {
        if self.cap == 0 {
            self.grow();
        }
        let tag = tag_of(hash);
        let i = match self.find(tag, &key) {
            Ok((i, _)) => i,
            Err(i) => {
                let i = self.slot_for_new(tag, i);
                self.write_new(i, tag, &key, &init());
                i
            }
        };
        self.value_at_mut(i)
    }

    /// Sets the value of `key`; returns the value it replaces.
    #[inline]
    pub fn insert(&mut self, hash: u64, key: K, value: V) -> Option<V> {
        self.insert_tagged(tag_of(hash), &key, value)
    }

    /// [`Self::insert`] with an already mixed tag (restore applies deltas with it).
    #[inline]
    pub(super) fn insert_tagged(&mut self, tag: u64, key: &K, value: V) -> Option<V> {
        if self.cap == 0 {
            self.grow();
        }
        match self.find(tag, key) {
            Ok((i, _)) => Some(std::mem::replace(self.value_at_mut(i), value)),
            Err(i) => {
                let i = self.slot_for_new(tag, i);
                self.write_new(i, tag, key, &value);
                self.mark_dirty(i);
                None
            }
        }
    }

    /// Removes `key`'s entry and returns its value (the key is recorded for the next
    /// incremental snapshot).
    #[inline]
    pub fn remove(&mut self, hash: u64, key: &K) -> Option<V> {
        self.remove_tagged(tag_of(hash), key)
    }

    /// [`Self::remove`] with an already mixed tag.
    #[inline]
    pub(super) fn remove_tagged(&mut self, tag: u64, key: &K) -> Option<V> {
        if self.cap == 0 {
            return None;
        }
        let (i, bytes) = self.find(tag, key).ok()?;
        let value = *Self::value_in(bytes, Self::offset(i));
        self.remove_at(i, tag, key);
        Some(value)
    }

    /// Removes the entry in slot `i` (tag `tag`, key `key`): records the key, shifts the rest
    /// of the probe run back.
    fn remove_at(&mut self, i: usize, tag: u64, key: &K) {
        self.removed.extend_from_slice(&tag.to_ne_bytes());
        self.removed.extend_from_slice(bytemuck::bytes_of(key));
        self.clear_dirty(i);
        let mask = self.mask();
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let t = self.tag_at(j);
            if t == 0 {
                break;
            }
            // The entry at `j` may fill the hole iff the hole lies on its probe path, i.e. is
            // no closer to `j` than its home slot.
            if (j.wrapping_sub(self.home(t)) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.move_slot(j, hole);
                hole = j;
            }
            j = (j + 1) & mask;
        }
        let off = Self::offset(hole);
        self.page_mut(hole >> Self::PAGE_SHIFT)[off..off + Self::STRIDE].fill(0);
        self.len -= 1;
    }

    /// Copies slot `src` over empty slot `dst` with its dirty bit; `src` is left for the caller
    /// to overwrite or clear.
    fn move_slot(&mut self, src: usize, dst: usize) {
        let (ps, pd) = (src >> Self::PAGE_SHIFT, dst >> Self::PAGE_SHIFT);
        let (so, d_off) = (Self::offset(src), Self::offset(dst));
        if ps == pd {
            self.page_mut(pd).copy_within(so..so + Self::STRIDE, d_off);
        } else {
            self.page_mut(pd);
            let (s, d) = if ps < pd {
                let (l, r) = self.pages.split_at_mut(pd);
                (&l[ps], &mut r[0])
            } else {
                let (l, r) = self.pages.split_at_mut(ps);
                (&r[0], &mut l[pd])
            };
            let Page::Owned(d) = d else { unreachable!("destination page not owned after thaw") };
            let d: &mut [u8] = bytemuck::cast_slice_mut(d);
            d[d_off..d_off + Self::STRIDE].copy_from_slice(&s.bytes()[so..so + Self::STRIDE]);
        }
        if self.is_dirty(src) {
            self.clear_dirty(src);
            self.mark_dirty(dst);
        }
    }

    /// Keeps the entries for which `f` returns true; `f` may update the value in place (only
    /// values that `f` actually changes count as changed for the next incremental snapshot).
    pub fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        if self.len == 0 {
            return;
        }
        let mask = self.mask();
        // Start after an empty slot: no probe run crosses it, so shifting entries back during
        // removal never moves an unvisited entry before the cursor nor a visited one after it.
        let mut i = 0;
        while self.tag_at(i) != 0 {
            i += 1;
        }
        let mut steps = 0;
        while steps < self.cap {
            let (bytes, off) = (self.page(i), Self::offset(i));
            let tag = read_tag(bytes, off);
            if tag != 0 {
                let key = Self::key_in(bytes, off);
                let old = *Self::value_in(bytes, off);
                let mut value = old;
                if !f(&key, &mut value) {
                    // Another entry may have shifted into `i`: look at it again.
                    self.remove_at(i, tag, &key);
                    continue;
                }
                if bytemuck::bytes_of(&value) != bytemuck::bytes_of(&old) {
                    *self.value_at_mut(i) = value;
                }
            }
            i = (i + 1) & mask;
            steps += 1;
        }
    }

    /// Removes every entry and frees the table's memory (pages still held by snapshots stay
    /// with them). The next incremental snapshot records the clearing, not each key.
    pub fn clear(&mut self) {
        let (seq, spares) = (self.seq, self.spares.take());
        *self = Self::new();
        self.seq = seq;
        self.spares = spares;
        self.cleared = true;
    }

    /// The entries, in slot order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            pages: self.pages.iter(),
            cur: &[],
            page_slots: self.page_slots,
            // Wraps to 0 on the first call, which then loads the first page.
            base: self.page_slots.wrapping_sub(64),
            bits: 0,
            left: self.len,
            _m: PhantomData,
        }
    }

    /// Doubles the capacity (or allocates the first pages).
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = if self.cap == 0 { MIN_CAPACITY } else { self.cap * 2 };
        self.resize(cap);
    }

    /// Empty pages for `cap` slots.
    pub(super) fn new_pages(cap: usize) -> Vec<Page> {
        let per_page = cap.min(Self::PAGE_SLOTS);
        (0..cap / per_page).map(|_| Page::Owned(zeroed_page(per_page * Self::STRIDE))).collect()
    }

    /// Sets the slot count (empty table only) and derived fields.
    pub(super) fn set_capacity(&mut self, cap: usize) {
        debug_assert!(cap.is_power_of_two() && cap >= MIN_CAPACITY);
        self.cap = cap;
        self.limit = Self::limit_of(cap);
        self.shift = 64 - cap.trailing_zeros();
        self.page_slots = cap.min(Self::PAGE_SLOTS);
    }

    /// Rehashes every entry into a table of `cap` slots, dirty bits included. Also readies
    /// what the next snapshot would otherwise allocate: an empty `Arc` per page and a spare
    /// buffer set sized for `cap`.
    fn resize(&mut self, cap: usize) {
        assert!(cap <= 1 << 32, "a key group's table is limited to 2^32 slots (the change list holds u32)");
        let old_pages = std::mem::replace(&mut self.pages, Self::new_pages(cap));
        let old_dirty = std::mem::take(&mut self.dirty);
        let old_cap = self.cap;
        let per_old = old_cap.min(Self::PAGE_SLOTS);
        self.set_capacity(cap);
        self.reset_changes();
        self.ready_for_snapshots();
        let mask = self.mask();
        for (p, page) in old_pages.iter().enumerate() {
            let src = page.bytes();
            for s in 0..per_old {
                let so = s * Self::STRIDE;
                let tag = read_tag(src, so);
                if tag == 0 {
                    continue;
                }
                let mut j = self.home(tag);
                while self.tag_at(j) != 0 {
                    j = (j + 1) & mask;
                }
                let d_off = Self::offset(j);
                let Page::Owned(d) = &mut self.pages[j >> Self::PAGE_SHIFT] else {
                    unreachable!("fresh page not owned")
                };
                let d: &mut [u8] = bytemuck::cast_slice_mut(d);
                d[d_off..d_off + Self::STRIDE].copy_from_slice(&src[so..so + Self::STRIDE]);
                let old_i = p * per_old + s;
                if old_dirty[old_i >> 6] & (1 << (old_i & 63)) != 0 {
                    self.mark_dirty(j);
                }
            }
        }
    }

    /// Checks the structural invariants (tests and debugging; O(capacity)).
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        let mut occupied = 0;
        let mut dirty = 0;
        let mask = self.mask();
        for i in 0..self.cap {
            let t = self.tag_at(i);
            if t == 0 {
                assert!(!self.is_dirty(i), "empty slot {i} is dirty");
                continue;
            }
            assert_eq!(t & 1, 1, "slot {i}: tag without its low bit");
            occupied += 1;
            dirty += usize::from(self.is_dirty(i));
            let mut j = self.home(t);
            while j != i {
                assert_ne!(self.tag_at(j), 0, "slot {i}: empty slot {j} on its probe path");
                j = (j + 1) & mask;
            }
        }
        assert_eq!(occupied, self.len, "len disagrees with occupied slots");
        assert_eq!(dirty, self.dirty_count, "dirty count disagrees with the bitmap");
        self.check_change_list();
        assert!(self.len <= self.limit || self.cap == 0);
    }
}

/// Iterator over a [`PagedTable`]'s entries, from [`PagedTable::iter`].
///
/// Scans 64 slots at a time into an occupancy mask, then yields its set bits: no branch per
/// slot.
pub struct Iter<'a, K, V> {
    pages: std::slice::Iter<'a, Page>,
    /// The current page.
    cur: &'a [u8],
    /// Slots per page.
    page_slots: usize,
    /// First slot (in the page) of the current group of 64.
    base: usize,
    /// Occupied slots of the current group not yet yielded.
    bits: u64,
    left: usize,
    _m: PhantomData<fn() -> (K, V)>,
}

impl<'a, K: Pod + Eq, V: Pod> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let stride = PagedTable::<K, V>::STRIDE;
        while self.bits == 0 {
            self.base = self.base.wrapping_add(64);
            if self.base >= self.page_slots {
                self.cur = self.pages.next()?.bytes();
                self.base = 0;
            }
            let n = (self.page_slots - self.base).min(64);
            let group = &self.cur[self.base * stride..(self.base + n) * stride];
            let mut bits = 0u64;
            for (s, slot) in group.chunks_exact(stride).enumerate() {
                bits |= u64::from(read_tag(slot, 0) != 0) << s;
            }
            self.bits = bits;
        }
        let s = self.base + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        self.left -= 1;
        let slot = &self.cur[s * stride..(s + 1) * stride];
        let (ko, vo) = (PagedTable::<K, V>::KEY_OFF, PagedTable::<K, V>::VAL_OFF);
        Some((
            bytemuck::from_bytes(&slot[ko..ko + size_of::<K>()]),
            bytemuck::from_bytes(&slot[vo..vo + size_of::<V>()]),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<K: Pod + Eq, V: Pod> ExactSizeIterator for Iter<'_, K, V> {}

impl<'a, K: Pod + Eq, V: Pod> IntoIterator for &'a PagedTable<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
