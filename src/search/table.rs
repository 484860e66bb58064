//! The visited set: a table of 64-bit state fingerprints, optionally with a 32-bit id per
//! entry (the breadth-first search's state number, for parent links).
//!
//! Memory is what limits explicit-state search, so the layout is chosen for bytes per state:
//! - open addressing with linear probing: a slot is the fingerprint itself (8 bytes), 0 marks
//!   an empty slot (fingerprints are never 0), followed in the same slot by the 4-byte id if
//!   ids are kept;
//! - the table is split into [`SEGMENTS`] segments by the fingerprint's top bits, and each
//!   segment grows by a quarter when it is three quarters full, so the load stays between 0.6
//!   and 0.75 (1.33 to 1.67 slots per state) and a resize briefly needs one extra segment,
//!   never a second copy of the whole table;
//! - segments live in anonymous memory maps, so a freed segment goes back to the system at
//!   once instead of staying in the allocator's heap, and peak RSS tracks the live table.

use memmap2::MmapMut;

/// Number of segments (a power of two).
pub const SEGMENTS: usize = 16;
const SEG_BITS: u32 = SEGMENTS.trailing_zeros();
/// Slots are allocated in multiples of this (one 4 KiB page of fingerprints).
const CHUNK: usize = 512;

/// A zero-filled, page-aligned byte buffer in an anonymous memory map.
struct Buf {
    map: MmapMut,
}

impl Buf {
    fn zeroed(bytes: usize) -> Buf {
        let bytes = bytes.max(1);
        let map = MmapMut::map_anon(bytes).unwrap_or_else(|e| panic!("out of memory: {bytes} bytes: {e}"));
        // Random probes into a large table miss the TLB on most accesses with 4 KiB pages;
        // ask for transparent huge pages, where the system provides them.
        if bytes >= 2 << 20 {
            let _ = map.advise(memmap2::Advice::HugePage);
        }
        Buf { map }
    }
}

/// One segment: `cap` slots of `stride` bytes, each a little-endian fingerprint (0: empty)
/// followed, if ids are kept, by a little-endian 32-bit id in the same slot (so a probe
/// touches one cache line, not two arrays).
struct Segment {
    buf: Buf,
    cap: usize,
    stride: usize,
    len: usize,
}

impl Segment {
    fn new(cap: usize, stride: usize) -> Segment {
        Segment { buf: Buf::zeroed(cap * stride), cap, stride, len: 0 }
    }

    /// The home slot of `fp`: the fingerprint's bits below the segment bits, scaled to the
    /// capacity (a multiply-shift, so any capacity works).
    #[inline]
    fn home(fp: u64, cap: usize) -> usize {
        (((fp << SEG_BITS) as u128 * cap as u128) >> 64) as usize
    }

    #[inline]
    fn fp_at(bytes: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    }

    /// Inserts `fp` (with `id`) unless present; returns whether it was new.
    #[inline]
    fn insert(&mut self, fp: u64, id: u32) -> bool {
        let (cap, stride) = (self.cap, self.stride);
        let bytes = &mut self.buf.map[..cap * stride];
        let mut i = Self::home(fp, cap);
        loop {
            let at = i * stride;
            let v = Self::fp_at(bytes, at);
            if v == fp {
                return false;
            }
            if v == 0 {
                bytes[at..at + 8].copy_from_slice(&fp.to_le_bytes());
                if stride == 12 {
                    bytes[at + 8..at + 12].copy_from_slice(&id.to_le_bytes());
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

    /// The byte offset of `fp`'s slot, if present.
    fn find(&self, fp: u64) -> Option<usize> {
        let bytes = &self.buf.map[..self.cap * self.stride];
        let mut i = Self::home(fp, self.cap);
        loop {
            let at = i * self.stride;
            match Self::fp_at(bytes, at) {
                0 => return None,
                v if v == fp => return Some(at),
                _ => {}
            }
            i += 1;
            if i == self.cap {
                i = 0;
            }
        }
    }

    fn id_at(&self, at: usize) -> u32 {
        if self.stride == 12 {
            u32::from_le_bytes(self.buf.map[at + 8..at + 12].try_into().expect("4 bytes"))
        } else {
            0
        }
    }

    /// Rebuilds the segment with a quarter more slots.
    fn grow(&mut self) {
        let cap = (self.cap + self.cap / 4).div_ceil(CHUNK) * CHUNK;
        let mut next = Segment::new(cap, self.stride);
        for i in 0..self.cap {
            let at = i * self.stride;
            let fp = Self::fp_at(&self.buf.map, at);
            if fp != 0 {
                next.insert(fp, self.id_at(at));
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
        FpTable { segs: (0..SEGMENTS).map(|_| Segment::new(CHUNK, if with_ids { 12 } else { 8 })).collect(), len: 0 }
    }

    /// Inserts `fp` with `id` unless present; returns whether it was new. `fp` must not be 0.
    #[inline]
    pub fn insert(&mut self, fp: u64, id: u32) -> bool {
        debug_assert_ne!(fp, 0);
        let seg = &mut self.segs[(fp >> (64 - SEG_BITS)) as usize];
        if (seg.len + 1) * 4 > seg.cap * 3 {
            seg.grow();
        }
        let new = seg.insert(fp, id);
        self.len += u64::from(new);
        new
    }

    /// Asks the CPU to load the cache line of `fp`'s home slot (a hint; no effect on results).
    /// Computing a state's successors and prefetching all of them before inserting lets their
    /// cache misses overlap.
    #[inline]
    pub fn prefetch(&self, fp: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let seg = &self.segs[(fp >> (64 - SEG_BITS)) as usize];
            let at = Segment::home(fp, seg.cap) * seg.stride;
            // SAFETY: `at < cap * stride`, so the address is inside the segment's map; a
            // prefetch never faults and changes no memory.
            #[allow(unused_unsafe)]
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                _mm_prefetch::<_MM_HINT_T0>(seg.buf.map.as_ptr().add(at).cast::<i8>());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = fp;
    }

    /// Whether `fp` is present.
    pub fn contains(&self, fp: u64) -> bool {
        self.segs[(fp >> (64 - SEG_BITS)) as usize].find(fp).is_some()
    }

    /// The id stored with `fp`, if present (0 if the table keeps no ids).
    pub fn id(&self, fp: u64) -> Option<u32> {
        let seg = &self.segs[(fp >> (64 - SEG_BITS)) as usize];
        seg.find(fp).map(|at| seg.id_at(at))
    }

    /// Number of fingerprints stored.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the next growth of a segment would allocate at most (the largest segment's next
    /// size), while the old segment is still held: what a memory budget must leave room for.
    pub fn next_growth_bytes(&self) -> u64 {
        self.segs.iter().map(|s| (s.cap + s.cap / 4).div_ceil(CHUNK) * CHUNK * s.stride).max().unwrap_or(0) as u64
    }

    /// Bytes allocated for slots.
    pub fn bytes(&self) -> u64 {
        self.segs.iter().map(|s| (s.cap * s.stride) as u64).sum()
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
        assert!((12.0 * 4.0 / 3.0..=12.0 * 1.7).contains(&per_state), "{per_state} bytes per state");
    }
}
