//! The handle registry: what makes a freed, repeated or forged `pos_terminal *` a typed error instead of
//! a crash.
//!
//! A handle is not an address. It encodes a slot index and that slot's generation
//! (`generation << INDEX_BITS | (index + 1)`), and possdk never dereferences it: every call looks the
//! slot up under the registry lock and enters it only when the slot is occupied by that very generation.
//! Freeing empties the slot and bumps its generation, so the old handle stays invalid even after the
//! slot is reused for a new terminal (a slot whose generation would wrap is retired, never reused).
//! A value that does not decode to an occupied slot of the right generation (NULL aside) is refused.
//!
//! Calls in flight are counted per handle. `close` removes the handle first (nobody can enter it
//! afterwards), cancels the operation in flight, waits until the calls that already entered have
//! returned, then drops the value, so `destroy` callbacks have run when `pos_terminal_free` returns.
//! A close from inside one of the handle's own calls (a device callback) cannot wait for itself: the
//! value is then dropped when that call returns. The design follows ffi-jni's registry, plus
//! generations because C handles are reused addresses there.

use std::cell::Cell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Something whose running operation can be cancelled from another thread (it must only raise a flag:
/// it runs under the registry lock).
pub(crate) trait Cancel: Send + Sync {
    fn cancel(&self);
}

/// Bits of a handle that hold the slot index (plus one, so no handle is 0).
#[cfg(target_pointer_width = "64")]
const INDEX_BITS: u32 = 32;
#[cfg(not(target_pointer_width = "64"))]
const INDEX_BITS: u32 = 12;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Slots available (`index + 1` must fit in the index bits).
const MAX_SLOTS: usize = INDEX_MASK;
/// The last generation a slot may have; a slot reaching it is retired.
const MAX_GENERATION: usize = usize::MAX >> INDEX_BITS;

fn encode(index: usize, generation: usize) -> usize {
    (generation << INDEX_BITS) | (index + 1)
}

fn decode(handle: usize) -> Option<(usize, usize)> {
    let low = handle & INDEX_MASK;
    (low != 0).then(|| (low - 1, handle >> INDEX_BITS))
}

/// A poisoned lock only means another thread panicked while holding it; the data (counters, slots)
/// stays consistent, so keep going rather than turning one panic into many.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// In-flight accounting of one handle, apart from the value so a finished call can let go of the value
/// before it wakes `close` (then `close` holds the last reference and drops the value itself).
#[derive(Default)]
struct Gate {
    state: Mutex<CallState>,
    idle: Condvar,
}

#[derive(Default)]
struct CallState {
    closed: bool,
    calls: usize,
}

struct Entry<T> {
    value: Arc<T>,
    gate: Arc<Gate>,
}

struct Slot<T> {
    /// The generation of the handle that names this slot now (occupied) or next (free).
    generation: usize,
    entry: Option<Entry<T>>,
}

struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

thread_local! {
    /// How many registry calls this thread is inside (a device callback may call back into possdk).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// A call in flight. Dropping it ends the call (and wakes a waiting `close`).
pub(crate) struct CallGuard<T> {
    value: Option<Arc<T>>,
    gate: Arc<Gate>,
}

impl<T> CallGuard<T> {
    pub(crate) fn value(&self) -> &T {
        // Some until drop.
        self.value
            .as_deref()
            .unwrap_or_else(|| unreachable!("CallGuard used after drop"))
    }
}

impl<T> Drop for CallGuard<T> {
    fn drop(&mut self) {
        // Let go of the value first: when close wakes up, its reference is the last one (or, for a
        // deferred close, this was the last one and the value is dropped here).
        drop(self.value.take());
        let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
        let mut st = lock(&self.gate.state);
        st.calls = st.calls.saturating_sub(1);
        if st.calls == 0 {
            self.gate.idle.notify_all();
        }
    }
}

/// Why a handle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidHandle;

/// What `close` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseOutcome {
    /// Not a live handle (freed before, never made, or forged): nothing done.
    Invalid,
    /// Closed and the value dropped, here (no call was in flight, or they all finished).
    Freed,
    /// Closed from inside one of the handle's own calls: the value is dropped when that call returns.
    Deferred,
}

/// Live values behind opaque handles.
pub(crate) struct Registry<T> {
    inner: Mutex<Slots<T>>,
}

impl<T: Cancel> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            inner: Mutex::new(Slots {
                slots: Vec::new(),
                free: Vec::new(),
            }),
        }
    }
}

impl<T: Cancel> Registry<T> {
    /// Register a value; its handle is never 0. `None` when every slot is taken.
    pub(crate) fn register(&self, value: T) -> Option<usize> {
        let mut s = lock(&self.inner);
        let index = match s.free.pop() {
            Some(i) => i,
            None if s.slots.len() < MAX_SLOTS => {
                s.slots.push(Slot {
                    generation: 1,
                    entry: None,
                });
                s.slots.len() - 1
            }
            None => return None,
        };
        let slot = &mut s.slots[index];
        slot.entry = Some(Entry {
            value: Arc::new(value),
            gate: Arc::new(Gate::default()),
        });
        Some(encode(index, slot.generation))
    }

    fn live(slots: &Slots<T>, handle: usize) -> Option<&Entry<T>> {
        let (index, generation) = decode(handle)?;
        let slot = slots.slots.get(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.entry.as_ref()
    }

    /// Enter a call on `handle`.
    pub(crate) fn enter(&self, handle: usize) -> Result<CallGuard<T>, InvalidHandle> {
        let s = lock(&self.inner);
        let entry = Self::live(&s, handle).ok_or(InvalidHandle)?;
        {
            let mut st = lock(&entry.gate.state);
            if st.closed {
                return Err(InvalidHandle);
            }
            st.calls += 1;
        }
        let _ = DEPTH.try_with(|d| d.set(d.get() + 1));
        Ok(CallGuard {
            value: Some(entry.value.clone()),
            gate: entry.gate.clone(),
        })
    }

    /// Cancel whatever `handle` is doing (a no-op when it is idle, as far as the value is concerned).
    pub(crate) fn cancel(&self, handle: usize) -> Result<(), InvalidHandle> {
        let s = lock(&self.inner);
        let entry = Self::live(&s, handle).ok_or(InvalidHandle)?;
        entry.value.cancel();
        Ok(())
    }

    /// Close `handle`: no call can enter it afterwards. Cancels the call in flight and waits for the calls
    /// that entered, unless called from inside one of them.
    pub(crate) fn close(&self, handle: usize) -> CloseOutcome {
        let Entry { value, gate } = {
            let mut s = lock(&self.inner);
            if Self::live(&s, handle).is_none() {
                return CloseOutcome::Invalid;
            }
            let Some((index, _)) = decode(handle) else {
                return CloseOutcome::Invalid;
            };
            let slot = &mut s.slots[index];
            let Some(entry) = slot.entry.take() else {
                return CloseOutcome::Invalid;
            };
            slot.generation += 1;
            if slot.generation <= MAX_GENERATION {
                s.free.push(index);
            }
            entry
        };
        let busy = {
            let mut st = lock(&gate.state);
            st.closed = true;
            st.calls > 0
        };
        if busy {
            value.cancel();
        }
        if DEPTH.try_with(|d| d.get()).unwrap_or(0) > 0 {
            // Waiting here could wait for ourselves; the call in flight holds the last reference.
            log::warn!(
                "possdk: pos_terminal_free called from inside a call; the terminal is freed when it returns"
            );
            return CloseOutcome::Deferred;
        }
        let mut st = lock(&gate.state);
        while st.calls > 0 {
            st = gate.idle.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        drop(st);
        drop(value);
        CloseOutcome::Freed
    }

    /// Number of live handles.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner)
            .slots
            .iter()
            .filter(|s| s.entry.is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    /// Stands in for a terminal: an operation that waits until cancelled; counts drops.
    struct Waiter {
        cancelled: AtomicBool,
        dropped: Arc<AtomicUsize>,
    }

    impl Waiter {
        fn new(dropped: &Arc<AtomicUsize>) -> Self {
            Waiter {
                cancelled: AtomicBool::new(false),
                dropped: dropped.clone(),
            }
        }
        fn operation(&self) -> Result<(), &'static str> {
            for _ in 0..2_000 {
                if self.cancelled.load(Ordering::SeqCst) {
                    return Err("cancelled");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        }
    }

    impl Cancel for Waiter {
        fn cancel(&self) {
            self.cancelled.store(true, Ordering::SeqCst);
        }
    }

    impl Drop for Waiter {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn handles_encode_slot_and_generation() {
        for (i, g) in [(0, 1), (5, 7), (MAX_SLOTS - 1, MAX_GENERATION)] {
            assert_eq!(decode(encode(i, g)), Some((i, g)));
            assert_ne!(encode(i, g), 0);
        }
        assert_eq!(decode(0), None);
    }

    #[test]
    fn freed_twice_and_stale_handles_are_refused_even_after_reuse() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let reg = Registry::default();
        let h = reg.register(Waiter::new(&dropped)).unwrap();
        assert!(reg.enter(h).is_ok());
        assert_eq!(reg.close(h), CloseOutcome::Freed);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(reg.close(h), CloseOutcome::Invalid);
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "freed exactly once");
        assert!(reg.enter(h).is_err());
        assert!(reg.cancel(h).is_err());
        // The slot is reused with a new generation: the old handle still names nothing.
        let h2 = reg.register(Waiter::new(&dropped)).unwrap();
        assert_eq!(decode(h2).unwrap().0, decode(h).unwrap().0, "slot reused");
        assert_ne!(h2, h);
        assert!(reg.enter(h).is_err());
        assert_eq!(reg.close(h), CloseOutcome::Invalid);
        assert!(reg.enter(h2).is_ok());
        assert_eq!(reg.len(), 1);
        assert_eq!(reg.close(h2), CloseOutcome::Freed);
    }

    #[test]
    fn forged_handles_are_refused() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let reg = Registry::default();
        let h = reg.register(Waiter::new(&dropped)).unwrap();
        let on_stack = 0u64;
        let heap = Box::new(0u64);
        for bogus in [
            0,
            1,
            h + 1,
            h ^ (1 << INDEX_BITS),
            usize::MAX,
            0xdead_beef,
            &on_stack as *const u64 as usize,
            &*heap as *const u64 as usize,
        ] {
            assert!(reg.enter(bogus).is_err(), "{bogus:#x}");
            assert!(reg.cancel(bogus).is_err(), "{bogus:#x}");
            assert_eq!(reg.close(bogus), CloseOutcome::Invalid, "{bogus:#x}");
        }
        assert_eq!(reg.len(), 1);
        assert_eq!(reg.close(h), CloseOutcome::Freed);
    }

    #[test]
    fn close_cancels_and_waits_for_the_call_in_flight() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let reg = Arc::new(Registry::default());
        let h = reg.register(Waiter::new(&dropped)).unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let worker = {
            let reg = reg.clone();
            std::thread::spawn(move || {
                let guard = reg.enter(h).expect("enter");
                started_tx.send(()).expect("signal");
                let r = guard.value().operation();
                drop(guard);
                r
            })
        };
        started_rx.recv().expect("worker started");
        assert_eq!(reg.close(h), CloseOutcome::Freed);
        // close returned: the call has ended and the value is gone.
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(worker.join().expect("worker"), Err("cancelled"));
    }

    #[test]
    fn close_from_inside_a_call_is_deferred_not_deadlocked() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let reg = Registry::default();
        let h = reg.register(Waiter::new(&dropped)).unwrap();
        let guard = reg.enter(h).expect("enter");
        assert_eq!(reg.close(h), CloseOutcome::Deferred);
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "still in use");
        assert!(guard.value().cancelled.load(Ordering::SeqCst));
        drop(guard);
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "freed when the call returned"
        );
        assert_eq!(reg.close(h), CloseOutcome::Invalid);
    }

    #[test]
    fn racing_calls_and_close_never_use_a_freed_value() {
        for _ in 0..20 {
            let dropped = Arc::new(AtomicUsize::new(0));
            let reg = Arc::new(Registry::default());
            let h = reg.register(Waiter::new(&dropped)).unwrap();
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let (reg, dropped) = (reg.clone(), dropped.clone());
                    std::thread::spawn(move || {
                        for _ in 0..200 {
                            match reg.enter(h) {
                                Ok(g) => {
                                    assert_eq!(dropped.load(Ordering::SeqCst), 0, "use after free");
                                    drop(g);
                                }
                                Err(InvalidHandle) => break,
                            }
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_micros(200));
            assert_eq!(reg.close(h), CloseOutcome::Freed);
            assert_eq!(dropped.load(Ordering::SeqCst), 1);
            for w in workers {
                w.join().expect("worker");
            }
            assert_eq!(dropped.load(Ordering::SeqCst), 1, "freed exactly once");
        }
    }

    #[test]
    fn retired_slots_are_not_reused() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let reg = Registry::default();
        let h = reg.register(Waiter::new(&dropped)).unwrap();
        lock(&reg.inner).slots[0].generation = MAX_GENERATION;
        let h_last = encode(0, MAX_GENERATION);
        assert!(reg.enter(h).is_err(), "generation changed under it");
        assert_eq!(reg.close(h_last), CloseOutcome::Freed);
        let h2 = reg.register(Waiter::new(&dropped)).unwrap();
        assert_eq!(decode(h2).unwrap().0, 1, "slot 0 is retired");
        assert_eq!(reg.close(h2), CloseOutcome::Freed);
    }
}
