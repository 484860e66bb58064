//! The visited set: a table of 64-bit state fingerprints, optionally with a 32-bit id per
//! entry (the breadth-first search's state number, for parent links).
//!
//! Memory is what limits explicit-state search, so the layout is chosen for bytes per state:
//! - open addressing with linear probing: a slot is the fingerprint itself (8 bytes), 0 marks
//!   an empty slot (fingerprints are never 0), plus 4 bytes for the id if ids are kept;
//! - the table is split into [`SEGMENTS`] segments by the fingerprint's top bits, and each
//!   segment grows by half when it is three quarters full, so the load stays between 1/2 and
//!   3/4 (about 1.7 slots per state) and a resize briefly needs one extra segment, never a
//!   second copy of the whole table;
//! - segments live in anonymous memory maps, so a freed segment goes back to the system at
//!   once instead of staying in the allocator's heap, and peak RSS tracks the live table.

use memmap2::MmapMut;

/// Number of segments (a power of two).
pub const SEGMENTS: usize = 128;
const SEG_BITS: u32 = SEGMENTS.trailing_zeros();
/// Slots are allocated in multiples of this (one 4 KiB page of fingerprints).
const CHUNK: usize = 512;

/// A zero-filled, page-aligned buffer of `len` values of `T` (`u64` or `u32`).
struct Buf<T> {
    map: MmapMut,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T: Copy> Buf<T> {
    fn zeroed(len: usize) -> Buf<T> {
        let bytes = (len * std::mem::size_of::<T>()).max(1);
        let map = MmapMut::map_anon(bytes).unwrap_or_else(|e| panic!("out of memory: {bytes} bytes: {e}"));
        Buf { map, len, _t: std::marker::PhantomData }
    }

    fn as_slice(&self) -> &[T] {
        // SAFETY: the map is page-aligned, at least `len * size_of::<T>()` bytes, zero-filled
        // (a valid bit pattern for the integer types used here), and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast::<T>(), self.len) }
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().cast::<T>(), self.len) }
    }
}

struct Segment {
    fps: Buf<u64>,
    ids: Option<Buf<u32>>,
    len: usize,
}

impl Segment {
    fn new(cap: usize, with_ids: bool) -> Segment {
        Segment { fps: Buf::zeroed(cap), ids: with_ids.then(|| Buf::zeroed(cap)), len: 0 }
    }

    fn cap(&self) -> usize {
        self.fps.len
    }

    /// The home slot of `fp`: the fingerprint's bits below the segment bits, scaled to the
    /// capacity (a multiply-shift, so any capacity works).
    #[inline]
    fn home(fp: u64, cap: usize) -> usize {
        (((fp << SEG_BITS) as u128 * cap as u128) >> 64) as usize
    }

    /// Inserts `fp` (with `id`) unless present; returns whether it was new.
    #[inline]
    fn insert(&mut self, fp: u64, id: u32) -> bool {
        let cap = self.cap();
        let fps = self.fps.as_mut_slice();
        let mut i = Self::home(fp, cap);
        loop {
            let v = fps[i];
            if v == fp {
                return false;
            }
            if v == 0 {
                fps[i] = fp;
                if let Some(ids) = &mut self.ids {
                    ids.as_mut_slice()[i] = id;
                }
                self.len += 1;
                return true;
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
    }

    fn find(&self, fp: u64) -> Option<usize> {
        let cap = self.cap();
        let fps = self.fps.as_slice();
        let mut i = Self::home(fp, cap);
        loop {
            match fps[i] {
                0 => return None,
                v if v == fp => return Some(i),
                _ => {}
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
    }

    /// Rebuilds the segment with half as many slots again.
    fn grow(&mut self) {
        let cap = (self.cap() + self.cap() / 2).div_ceil(CHUNK) * CHUNK;
        let mut next = Segment::new(cap, self.ids.is_some());
        let fps = self.fps.as_slice();
        for (i, &fp) in fps.iter().enumerate() {
            if fp != 0 {
                let id = self.ids.as_ref().map_or(0, |ids| ids.as_slice()[i]);
                next.insert(fp, id);
            }
        }
        *self = next;
    }
}

/// A set of fingerprints (non-zero `u64`), each with an optional `u32` id.
pub struct FpTable {
    segs: Vec<Segment>,
    len: u64,
}

impl FpTable {
    /// An empty table; `with_ids` keeps an id per fingerprint.
    pub fn new(with_ids: bool) -> FpTable {
        FpTable { segs: (0..SEGMENTS).map(|_| Segment::new(CHUNK, with_ids)).collect(), len: 0 }
    }

    /// Inserts `fp` with `id` unless present; returns whether it was new. `fp` must not be 0.
    #[inline]
    pub fn insert(&mut self, fp: u64, id: u32) -> bool {
        debug_assert_ne!(fp, 0);
        let seg = &mut self.segs[(fp >> (64 - SEG_BITS)) as usize];
        if (seg.len + 1) * 4 > seg.cap() * 3 {
            seg.grow();
        }
        let new = seg.insert(fp, id);
        self.len += u64::from(new);
        new
    }

    /// Whether `fp` is present.
    pub fn contains(&self, fp: u64) -> bool {
        self.segs[(fp >> (64 - SEG_BITS)) as usize].find(fp).is_some()
    }

    /// The id stored with `fp`, if present (0 if the table keeps no ids).
    pub fn id(&self, fp: u64) -> Option<u32> {
        let seg = &self.segs[(fp >> (64 - SEG_BITS)) as usize];
        seg.find(fp).map(|i| seg.ids.as_ref().map_or(0, |ids| ids.as_slice()[i]))
    }

    /// Number of fingerprints stored.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated for slots.
    pub fn bytes(&self) -> u64 {
        self.segs.iter().map(|s| (s.cap() * (8 + if s.ids.is_some() { 4 } else { 0 })) as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_finds_and_grows() {
        let mut t = FpTable::new(true);
        let fp = |i: u64| crate::search::fingerprint(&i);
        for i in 0..200_000u64 {
            assert!(t.insert(fp(i), i as u32));
        }
        for i in 0..200_000u64 {
            assert!(!t.insert(fp(i), 0));
            assert_eq!(t.id(fp(i)), Some(i as u32));
        }
        assert!(!t.contains(fp(200_001)));
        assert_eq!(t.len(), 200_000);
        let per_state = t.bytes() as f64 / 200_000.0;
        assert!((12.0 * 4.0 / 3.0..=12.0 * 2.0 + 1.0).contains(&per_state), "{per_state} bytes per state");
    }
}
