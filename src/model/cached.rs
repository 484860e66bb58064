//! An actor state with its content hash computed once ([`Cached`]).
//!
//! The search fingerprints every successor it generates (about 3 per unique state on
//! `directus-10.11.1-session` with 3 tabs), and hashing a state hashes each actor state,
//! although a step changes one or two actors and the others are their parent's,
//! shared through an `Arc`. Profiled on that model (`check --no-symmetry --threads 1`), hashing
//! the unchanged browser and server states was about an eighth of the search's time. A
//! [`Cached`] actor state hashes as one `u64`, its content's hash, computed the first time it is
//! needed and kept with the state: an actor state shared by a parent and its successors, or held
//! by the frontier's pool, is hashed once.
//!
//! A [`Cached`] state also carries a mark for the frontier's pools (`model::frontier`): which
//! pool keeps this allocation as its shared copy, so that pool finds it without a lookup; and a
//! memo ([`Cached::memo`]): one 32-bit fact that a reduction derives from the value alone (the
//! tab order's first pass of the symmetry representative for a browser, "no dead value to
//! reset" for a server or a store), kept like the hash, so that an actor state a step left
//! unchanged, shared by a parent and its successors, is examined once.
//!
//! Equality, order, `Debug` and serialisation are the content's, so traces, descriptions and
//! the explorer's state views read as before; only the value of a hash changes (fingerprints
//! deduplicate states and split partitions; none is stored in a file or compared across
//! builds).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering as Mem};

use serde::{Serialize, Serializer};

/// `value` with its content hash, computed at most once per distinct allocation of the state.
///
/// - `Hash` writes the content hash (one `u64`: foldhash with a fixed seed over the value's
///   own `Hash`, packed into bytes: [`super::packed`]; never 0), so two equal values hash alike;
/// - every mutable access ([`DerefMut`]) forgets the cached hash, so a value changed after it
///   was hashed is hashed again; a clone keeps it (the content is the same);
/// - `PartialEq`, `Ord`, `Debug` and `Serialize` are the value's (equality first compares the
///   two hashes when both are known, a cheap way to tell most unequal states apart).
///
/// The cache is an atomic, so states shared between search threads may fill it concurrently:
/// each thread computes the same value.
///
/// The pool mark ([`Cached::pool`]) is set by a frontier pool on the copy it keeps and is not
/// cloned (a clone is another allocation).
pub struct Cached<T> {
    value: T,
    /// The content hash; 0: not computed yet.
    hash: AtomicU64,
    /// The frontier pool that keeps this allocation as its shared copy; 0: none.
    pool: AtomicU32,
    /// A fact derived from the value alone by its type's one reader ([`Cached::memo`]); 0:
    /// not known. Held in what would otherwise be padding: the wrapper is no larger for it.
    memo: AtomicU32,
}

/// The fixed seed of content hashes (any constant: the hash only has to be the same for equal
/// values within one run).
const SEED: u64 = 0x1319_8a2e_0370_7344;

impl<T: Hash> Cached<T> {
    /// `value`, its hash not computed yet.
    pub fn new(value: T) -> Self {
        Cached { value, hash: AtomicU64::new(0), pool: AtomicU32::new(0), memo: AtomicU32::new(0) }
    }

    /// The content hash of the value (never 0), computed now if not yet known.
    pub fn content_hash(&self) -> u64 {
        let known = self.hash.load(Mem::Relaxed);
        if known != 0 {
            debug_assert_eq!(known, self.compute(), "a cached actor state changed after it was hashed");
            return known;
        }
        let h = self.compute();
        self.hash.store(h, Mem::Relaxed);
        h
    }

    fn compute(&self) -> u64 {
        super::packed::hash_packed(SEED, &self.value).max(1)
    }

    /// The value, without its cache.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Cached<T> {
    /// The frontier pool that keeps this allocation as its shared copy (set by
    /// [`Cached::mark_pool`]; 0: none, and a clone has none). Only the pools' sharing depends on
    /// it: a copy of a pool that is gone is merely shared less.
    pub fn pool(&self) -> u32 {
        self.pool.load(Mem::Relaxed)
    }

    /// Marks this allocation as the shared copy of pool `id` (not 0).
    pub fn mark_pool(&self, id: u32) {
        self.pool.store(id, Mem::Relaxed);
    }

    /// The memo: a 32-bit fact that is a function of the value alone, as its one reader set
    /// it ([`Cached::set_memo`]); 0: not known. Kept by a clone (the content is the same),
    /// forgotten on any mutable access, as the hash is. Each value type has one reader, which
    /// says what its memo means: `BrowserState`, the first pass of the symmetry
    /// representative's tab order (`model::symmetry`); `ServerState` and `StoreState`, that
    /// the dead-value reset leaves the value as it is (`model::dead`). A reader must check
    /// the memo against a fresh computation under debug assertions.
    pub fn memo(&self) -> u32 {
        self.memo.load(Mem::Relaxed)
    }

    /// Sets the memo ([`Cached::memo`]); `fact` must be a function of the value alone, and not 0.
    pub fn set_memo(&self, fact: u32) {
        self.memo.store(fact, Mem::Relaxed);
    }
}

/// Fills the kept hashes of the value's parts ([`super::hashed::Seal`]): the content, so the
/// cached hash and the memo, are unchanged.
impl<T: super::hashed::Seal> super::hashed::Seal for Cached<T> {
    fn seal(&mut self) {
        self.value.seal();
    }
}

impl<T: Hash> From<T> for Cached<T> {
    fn from(value: T) -> Self {
        Cached::new(value)
    }
}

impl<T> Deref for Cached<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Cached<T> {
    /// The value, which the caller may change: the cached hash and the memo are forgotten.
    fn deref_mut(&mut self) -> &mut T {
        *self.hash.get_mut() = 0;
        *self.memo.get_mut() = 0;
        &mut self.value
    }
}

impl<T: Clone> Clone for Cached<T> {
    fn clone(&self) -> Self {
        Cached {
            value: self.value.clone(),
            hash: AtomicU64::new(self.hash.load(Mem::Relaxed)),
            pool: AtomicU32::new(0),
            memo: AtomicU32::new(self.memo.load(Mem::Relaxed)),
        }
    }
}

impl<T: Hash> Hash for Cached<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.content_hash());
    }
}

impl<T: PartialEq> PartialEq for Cached<T> {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.hash.load(Mem::Relaxed), other.hash.load(Mem::Relaxed));
        if a != 0 && b != 0 && a != b {
            return false;
        }
        self.value == other.value
    }
}

impl<T: Eq> Eq for Cached<T> {}

impl<T: PartialOrd> PartialOrd for Cached<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl<T: Ord> Ord for Cached<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Cached<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Serialize> Serialize for Cached<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn fp<T: Hash>(v: &T) -> u64 {
        foldhash::quality::FixedState::with_seed(1).hash_one(v)
    }

    #[test]
    fn equal_values_hash_alike_and_a_change_is_hashed_again() {
        let a = Cached::new(vec![1u8, 2, 3]);
        let b = Cached::new(vec![1u8, 2, 3]);
        assert_eq!(fp(&a), fp(&b));
        assert_eq!(a, b);
        let mut c = a.clone();
        assert_eq!(c.hash.load(Mem::Relaxed), a.content_hash(), "a clone keeps the hash");
        c.push(4);
        assert_eq!(c.hash.load(Mem::Relaxed), 0, "a mutable access forgets it");
        assert_ne!(fp(&c), fp(&a));
        assert_ne!(c, a);
        assert_eq!(fp(&c), fp(&Cached::new(vec![1u8, 2, 3, 4])));
        // Order, Debug and serialisation are the value's.
        assert!(a < c);
        assert_eq!(format!("{a:?}"), "[1, 2, 3]");
        assert_eq!(serde_json::to_string(&c).unwrap(), "[1,2,3,4]");
    }

    #[test]
    fn equality_reads_the_values_when_a_hash_is_unknown() {
        let a = Cached::new(7u32);
        let b = Cached::new(8u32);
        a.content_hash();
        assert_ne!(a, b);
        assert_eq!(a, Cached::new(7u32));
        b.content_hash();
        assert_ne!(a, b);
    }

    #[test]
    fn the_memo_is_cloned_and_forgotten_on_a_change() {
        let a = Cached::new(vec![1u8]);
        assert_eq!(a.memo(), 0);
        a.set_memo(5);
        let mut b = a.clone();
        assert_eq!(b.memo(), 5, "a clone has the same content, so the same fact");
        b.push(2);
        assert_eq!(b.memo(), 0, "a mutable access forgets it");
        assert_eq!(a.memo(), 5);
    }

    #[test]
    fn the_memo_costs_no_space() {
        assert_eq!(std::mem::size_of::<Cached<[u64; 4]>>(), 32 + 8 + 8);
    }

    #[test]
    fn the_pool_mark_is_not_cloned() {
        let a = Cached::new(7u32);
        assert_eq!(a.pool(), 0);
        a.mark_pool(3);
        assert_eq!(a.pool(), 3);
        assert_eq!(a.clone().pool(), 0);
    }
}
