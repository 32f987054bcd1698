//! [`PagedTable`]: the live table (lookup, update, insert, remove, growth, iteration).
//!
//! Open addressing with linear probing over a power-of-two slot array split into pages of
//! [`Layout::PAGE_SLOTS`] slots; slot `i` is in page `i >> PAGE_SHIFT` at byte
//! `(i & PAGE_MASK) * STRIDE`. A control byte per slot ([`super::ctrl`]) is kept beside the
//! pages: probes read 16 of them at once and visit only the slots whose byte matches. Deletion
//! shifts the following entries of the probe run back (no tombstones), carrying their control
//! bytes and dirty bits with them. Every write goes through [`PagedTable::page_mut`], which
//! copies a page still shared with a snapshot first.

use std::marker::PhantomData;
use std::mem::size_of;
use std::sync::Arc;

use bytemuck::Pod;

use super::changes::Spares;
use super::ctrl::{EMPTY, Group, WIDTH, h2};
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
    /// One control byte per slot ([`super::ctrl`]), then [`WIDTH`] mirrored bytes; empty
    /// while `cap` is 0. Derived from the pages' tags, never frozen nor snapshotted.
    pub(super) ctrl: Vec<u8>,
    /// Occupied slots.
    pub(super) len: usize,
    /// Slots: 0 or a power of two >= [`MIN_CAPACITY`].
    pub(super) cap: usize,
    /// `len` above which an insert grows the table.
    pub(super) limit: usize,
    /// `64 - log2(cap)`: the home slot of a tag is `tag >> shift`.
    pub(super) shift: u32,
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
            ctrl: Vec::new(),
            len: 0,
            cap: 0,
            limit: 0,
            shift: 64,
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
    /// control bytes, dirty bitmap, change list, removed-key list and page index (not the spare
    /// buffers that snapshots reuse).
    pub fn bytes(&self) -> usize {
        let pages: usize = self.pages.iter().map(|p| p.bytes().len()).sum();
        pages
            + self.ctrl.capacity()
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
    /// Group by group from the home slot: only slots whose control byte matches the tag's `h2`
    /// and that lie before the group's first empty slot are read (with linear probing and no
    /// tombstones, the key is before the first empty slot or absent).
    #[inline(always)]
    fn find(&self, tag: u64, key: &K) -> Result<(usize, &[u8]), usize> {
        let mask = self.mask();
        let b = h2(tag);
        let mut pos = self.home(tag);
        loop {
            let group = Group::load(&self.ctrl, pos);
            let empty = group.empty();
            let mut hits = group.matching(b) & empty.wrapping_sub(1) & !empty;
            while hits != 0 {
                let i = (pos + hits.trailing_zeros() as usize) & mask;
                let bytes = self.page(i);
                if Self::key_in(bytes, Self::offset(i)) == *key {
                    return Ok((i, bytes));
                }
                hits &= hits - 1;
            }
            if empty != 0 {
                return Err((pos + empty.trailing_zeros() as usize) & mask);
            }
            pos = (pos + WIDTH) & mask;
        }
    }

    /// The first empty slot of `tag`'s probe run. `cap > 0`.
    #[inline]
    fn find_vacant(&self, tag: u64) -> usize {
        let mask = self.mask();
        let mut pos = self.home(tag);
        loop {
            let empty = Group::load(&self.ctrl, pos).empty();
            if empty != 0 {
                return (pos + empty.trailing_zeros() as usize) & mask;
            }
            pos = (pos + WIDTH) & mask;
        }
    }

    /// Whether slot `i` is occupied (from its control byte; the tag in the page agrees).
    #[inline(always)]
    pub(super) fn is_full(&self, i: usize) -> bool {
        self.ctrl[i] & EMPTY == 0
    }

    /// Sets slot `i`'s control byte and its mirror.
    #[inline(always)]
    fn set_ctrl(&mut self, i: usize, b: u8) {
        let mirror = (i.wrapping_sub(WIDTH) & self.mask()) + WIDTH;
        self.ctrl[i] = b;
        self.ctrl[mirror] = b;
    }

    /// Rebuilds the control bytes from the tags in the pages (after a restore copied them).
    pub(super) fn rebuild_ctrl(&mut self) {
        self.ctrl = vec![EMPTY; self.cap + WIDTH];
        for i in 0..self.cap {
            let tag = self.tag_at(i);
            if tag != 0 {
                self.set_ctrl(i, h2(tag));
            }
        }
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
        self.set_ctrl(i, h2(tag));
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
        while self.is_full(j) {
            let t = self.tag_at(j);
            // The entry at `j` may fill the hole iff the hole lies on its probe path, i.e. is
            // no closer to `j` than its home slot.
            if (j.wrapping_sub(self.home(t)) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.move_slot(j, hole);
                self.set_ctrl(hole, self.ctrl[j]);
                hole = j;
            }
            j = (j + 1) & mask;
        }
        let off = Self::offset(hole);
        self.set_ctrl(hole, EMPTY);
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
        while self.is_full(i) {
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
            pages: &self.pages,
            ctrl: &self.ctrl,
            // Wraps to 0 on the first call, which then loads the first group.
            base: 0usize.wrapping_sub(WIDTH),
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
        self.ctrl = vec![EMPTY; cap + WIDTH];
    }

    /// Rehashes every entry into a table of `cap` slots, dirty bits included. Also readies
    /// what the next snapshot would otherwise allocate: an empty `Arc` per page and a spare
    /// buffer set sized for `cap`.
    fn resize(&mut self, cap: usize) {
        assert!(cap <= 1 << 32, "a key group's table is limited to 2^32 slots (the change list holds u32)");
        let old_pages = std::mem::replace(&mut self.pages, Self::new_pages(cap));
        let old_ctrl = std::mem::take(&mut self.ctrl);
        let old_dirty = std::mem::take(&mut self.dirty);
        let old_cap = self.cap;
        let per_old = old_cap.min(Self::PAGE_SLOTS);
        self.set_capacity(cap);
        self.reset_changes();
        self.ready_for_snapshots();
        for (p, page) in old_pages.iter().enumerate() {
            let src = page.bytes();
            for s in 0..per_old {
                if old_ctrl[p * per_old + s] & EMPTY != 0 {
                    continue;
                }
                let so = s * Self::STRIDE;
                let tag = read_tag(src, so);
                let j = self.find_vacant(tag);
                self.set_ctrl(j, h2(tag));
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
        assert_eq!(self.ctrl.len(), if self.cap == 0 { 0 } else { self.cap + WIDTH }, "control bytes");
        for i in 0..self.cap {
            let t = self.tag_at(i);
            let want = if t == 0 { EMPTY } else { h2(t) };
            assert_eq!(self.ctrl[i], want, "slot {i}: control byte disagrees with the tag");
            if i < WIDTH {
                assert_eq!(self.ctrl[self.cap + i], want, "slot {i}: mirrored control byte");
            }
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
/// Reads the control bytes 16 at a time into an occupancy mask, then yields its set bits: no
/// branch per slot, and empty slots are never read.
pub struct Iter<'a, K, V> {
    pages: &'a [Page],
    ctrl: &'a [u8],
    /// First slot of the current group.
    base: usize,
    /// Occupied slots of the current group not yet yielded.
    bits: u32,
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
        while self.bits == 0 {
            // `left > 0`: an occupied slot remains, so the group starts before the capacity.
            self.base = self.base.wrapping_add(WIDTH);
            self.bits = !Group::load(self.ctrl, self.base).empty() & ((1 << WIDTH) - 1);
        }
        let i = self.base + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        self.left -= 1;
        let off = PagedTable::<K, V>::offset(i);
        let slot = &self.pages[i >> PagedTable::<K, V>::PAGE_SHIFT].bytes()[off..off + PagedTable::<K, V>::STRIDE];
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
