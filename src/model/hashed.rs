//! A part of an actor state with its own content hash, kept across copies ([`Hashed`]).
//!
//! An actor state hashes once per allocation ([`super::cached::Cached`]), but a step that
//! changes a browser makes a new browser state, whose content hash then covered every tab,
//! although the step changed one tab (or none: a change of the jar, the clock or a ghost
//! field) and the others are their parent's, unchanged. The symmetry reduction's renaming
//! makes a new browser state too, with the same tabs in another order. Each tab is therefore
//! a [`Hashed`] tab: it hashes as one `u64`, its content's hash, which a copy of the tab
//! keeps (tabs are `Copy`, and a browser state's clone copies its tabs), and which any
//! mutable access forgets. A new actor state fills the hashes of the parts it changed once,
//! when it becomes a state of the search ([`Seal`], called by the model's step), so its
//! content hash, and its children's, hash each unchanged tab as one word.
//!
//! A field added to [`super::browser::Tab`] needs no change here: a tab's content hash is
//! its own derived `Hash`, packed ([`super::packed`]).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};

use serde::{Serialize, Serializer};

/// The fixed seed of parts' content hashes (any constant, other than the actor states').
const SEED: u64 = 0x0a40_9382_2299_f31d;

/// `value` with its content hash, once known (see the [module documentation](self)).
///
/// - `Hash` writes the content hash (one `u64`: foldhash with a fixed seed over the value's
///   own `Hash`, packed into bytes; never 0), the kept one if known, else computed then, so
///   equal values hash alike whether or not their hash was kept;
/// - [`Hashed::seal`] keeps the hash (it needs `&mut`: the search shares actor states between
///   threads, so no hash is stored through a shared reference); a copy keeps it; every
///   mutable access ([`DerefMut`]) forgets it;
/// - `PartialEq`, `Ord`, `Debug` and `Serialize` are the value's (equality first compares the
///   two hashes when both are known).
#[derive(Clone, Copy)]
pub struct Hashed<T> {
    value: T,
    /// The content hash; 0: not kept.
    hash: u64,
}

impl<T: Hash> Hashed<T> {
    /// `value`, its hash not kept yet.
    pub fn new(value: T) -> Self {
        Hashed { value, hash: 0 }
    }

    /// The content hash (never 0): the kept one, or computed now.
    #[inline]
    pub fn content_hash(&self) -> u64 {
        if self.hash != 0 {
            debug_assert_eq!(self.hash, self.compute(), "a hashed part changed after it was sealed");
            return self.hash;
        }
        self.compute()
    }

    /// Computes and keeps the content hash, if not kept yet.
    #[inline]
    pub fn seal(&mut self) {
        if self.hash == 0 {
            self.hash = self.compute();
        }
    }

    fn compute(&self) -> u64 {
        super::packed::hash_packed(SEED, &self.value).max(1)
    }
}

/// What fills the kept hashes of an actor state's [`Hashed`] parts, without changing its
/// content. Called once on each new actor state the search keeps (the model's step, its
/// initial states); an actor state not sealed is hashed alike, only slower.
pub trait Seal {
    /// Keeps the content hash of every [`Hashed`] part that has none.
    fn seal(&mut self);
}

impl<T: Hash> From<T> for Hashed<T> {
    fn from(value: T) -> Self {
        Hashed::new(value)
    }
}

impl<T> Deref for Hashed<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Hashed<T> {
    /// The value, which the caller may change: the kept hash is forgotten.
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.hash = 0;
        &mut self.value
    }
}

impl<T: Hash> Hash for Hashed<T> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.content_hash());
    }
}

impl<T: PartialEq> PartialEq for Hashed<T> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        if self.hash != 0 && other.hash != 0 && self.hash != other.hash {
            return false;
        }
        self.value == other.value
    }
}

impl<T: Eq> Eq for Hashed<T> {}

impl<T: PartialOrd> PartialOrd for Hashed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl<T: Ord> Ord for Hashed<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Hashed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: Serialize> Serialize for Hashed<T> {
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
    fn a_kept_hash_is_the_computed_one_and_a_change_forgets_it() {
        let mut a = Hashed::new((1u8, 2u16));
        let b = Hashed::new((1u8, 2u16));
        let unsealed = fp(&a);
        a.seal();
        assert_ne!(a.hash, 0);
        assert_eq!(fp(&a), unsealed, "sealing changes no hash");
        assert_eq!(fp(&a), fp(&b));
        assert_eq!(a, b);
        let mut c = a;
        assert_eq!(c.hash, a.hash, "a copy keeps the hash");
        c.0 = 3;
        assert_eq!(c.hash, 0, "a mutable access forgets it");
        assert_ne!(fp(&c), fp(&a));
        assert_ne!(c, a);
        c.seal();
        assert_ne!(c, a, "two known, different hashes");
        assert_eq!(fp(&c), fp(&Hashed::new((3u8, 2u16))));
        // Order, Debug and serialisation are the value's.
        assert!(a < c);
        assert_eq!(format!("{a:?}"), "(1, 2)");
        assert_eq!(serde_json::to_string(&c).unwrap(), "[3,2]");
    }
}
