//! What a run no longer needs, freed or left to the process's exit.
//!
//! At the end of a 100M-event month the run holds tens of millions of small
//! allocations (the month's lines, reconciliation's copy of them, the
//! statement's lines), and freeing them one by one is CPU time spent on
//! nothing the user sees (0.7 s after the last stage, more inside
//! reconciliation). The binary exits as soon as the run returns, and the
//! kernel takes the whole address space back at once; so the binary says
//! so with [`leave_to_exit`], and [`discard`] then forgets instead of
//! freeing. A library caller (the tests) never says so and gets every
//! value freed as before.
//!
//! Only plain data is discarded: nothing with a side effect on drop (files,
//! locks, threads, staging directories), which is always dropped.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

static LEAVE_TO_EXIT: AtomicBool = AtomicBool::new(false);

/// Say that this process exits when its run returns: from then on
/// [`discard`] leaves values to the exit instead of freeing them.
pub fn leave_to_exit() {
    LEAVE_TO_EXIT.store(true, Relaxed);
}

/// Whether [`leave_to_exit`] was called.
pub fn left_to_exit() -> bool {
    LEAVE_TO_EXIT.load(Relaxed)
}

/// Free `x` (with `free`, which may use several threads), unless the process
/// leaves its memory to its exit. `x` must be plain data.
pub fn discard_with<T>(x: T, free: impl FnOnce(T)) {
    if left_to_exit() {
        std::mem::forget(x);
    } else {
        free(x);
    }
}

/// [`discard_with`] a plain drop.
pub fn discard<T>(x: T) {
    discard_with(x, drop);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A library caller's values are freed (the tests never call
    /// `leave_to_exit`, which is process-wide).
    #[test]
    fn values_are_freed_unless_left_to_exit() {
        use std::sync::atomic::AtomicUsize;
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Counted;
        impl Drop for Counted {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Relaxed);
            }
        }
        assert!(!left_to_exit());
        discard(vec![Counted, Counted]);
        assert_eq!(DROPS.load(Relaxed), 2);
        let mut freed = false;
        discard_with(Counted, |c| {
            freed = true;
            drop(c)
        });
        assert!(freed);
        assert_eq!(DROPS.load(Relaxed), 3);
    }
}
