//! Terminal handles: the native pointer the Kotlin side keeps in a `long`.
//!
//! The value handed to Java is the address of the terminal's `Arc`, but it is never dereferenced: every native
//! call looks it up in a registry first, so a stale, repeated or forged handle is a typed error, not a crash.
//! `close` removes the handle (once: a second close finds nothing), cancels the operation in flight, waits
//! for the calls that already entered, and drops the terminal. A call that races with close either enters
//! first (close waits for it) or is refused with `invalid_state`.

use possdk_core::{Error, ErrorKind, Terminal};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};

/// What a registry holds: something whose operation in flight can be cancelled from another thread.
pub trait Cancel: Send + Sync {
    fn cancel(&self);
}

impl Cancel for Terminal {
    fn cancel(&self) {
        Terminal::cancel(self)
    }
}

/// In-flight accounting of one handle, apart from the value so a finished call can let go of the value
/// before it wakes `close` (then `close` holds the last reference and frees the value itself).
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

thread_local! {
    /// How many registry calls this thread is inside (a callback may call back into the SDK).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// A poisoned lock only means another thread panicked while holding it; the data (a counter, a map of
/// handles) stays consistent, so keep going rather than turning one panic into many.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn closed_error() -> Error {
    Error::new(ErrorKind::InvalidState, "the terminal is closed")
}

/// A call in flight. Dropping it ends the call (and wakes a waiting `close`).
pub struct CallGuard<T> {
    value: Option<Arc<T>>,
    gate: Arc<Gate>,
}

impl<T> CallGuard<T> {
    pub fn value(&self) -> &T {
        // Some until drop.
        self.value
            .as_deref()
            .unwrap_or_else(|| unreachable!("CallGuard used after drop"))
    }
}

impl<T> Drop for CallGuard<T> {
    fn drop(&mut self) {
        // Let go of the value first: when close wakes up, its reference is the last one.
        drop(self.value.take());
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        let mut st = lock(&self.gate.state);
        st.calls = st.calls.saturating_sub(1);
        if st.calls == 0 {
            self.gate.idle.notify_all();
        }
    }
}

/// What `close` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOutcome {
    /// The handle was already closed (or never existed): nothing to do.
    WasClosed,
    /// Closed and the value dropped, here (no call was in flight, or they all finished).
    Freed,
    /// Closed from inside one of its own calls (a callback): the value is dropped when that call returns.
    Deferred,
}

/// Handles to live values. Handles are looked up and entered under one lock, so once `close` has removed a
/// handle nobody can reach its value again, and the only other references are calls in flight.
pub struct Registry<T> {
    map: Mutex<HashMap<i64, Entry<T>>>,
}

impl<T: Cancel> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Cancel> Registry<T> {
    /// Register a value and return its handle: the value's address (never 0), used only as a key.
    pub fn register(&self, value: T) -> i64 {
        let value = Arc::new(value);
        let handle = Arc::as_ptr(&value) as usize as i64;
        lock(&self.map).insert(
            handle,
            Entry {
                value,
                gate: Arc::new(Gate::default()),
            },
        );
        handle
    }

    /// Enter a call on `handle`: `invalid_state` when the handle is closed or unknown.
    pub fn enter(&self, handle: i64) -> Result<CallGuard<T>, Error> {
        let map = lock(&self.map);
        let entry = map.get(&handle).ok_or_else(closed_error)?;
        {
            let mut st = lock(&entry.gate.state);
            if st.closed {
                return Err(closed_error());
            }
            st.calls += 1;
        }
        DEPTH.with(|d| d.set(d.get() + 1));
        Ok(CallGuard {
            value: Some(entry.value.clone()),
            gate: entry.gate.clone(),
        })
    }

    /// Cancel whatever `handle` is doing. Unknown or closed handles are a no-op (cancel may race with close).
    /// Runs under the registry lock: `Cancel::cancel` must only raise a flag.
    pub fn cancel(&self, handle: i64) {
        let map = lock(&self.map);
        if let Some(entry) = map.get(&handle) {
            let busy = {
                let st = lock(&entry.gate.state);
                !st.closed && st.calls > 0
            };
            if busy {
                entry.value.cancel();
            }
        }
    }

    /// Close `handle`. Waits for calls in flight (after cancelling them) unless called from inside one.
    pub fn close(&self, handle: i64) -> CloseOutcome {
        let Some(Entry { value, gate }) = lock(&self.map).remove(&handle) else {
            return CloseOutcome::WasClosed;
        };
        let busy = {
            let mut st = lock(&gate.state);
            st.closed = true;
            st.calls > 0
        };
        if busy {
            value.cancel();
        }
        if DEPTH.with(|d| d.get()) > 0 {
            // Waiting here would wait for ourselves. The call in flight holds the last reference.
            log::warn!(
                "close() called from inside a terminal call; the terminal is freed when it returns"
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
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }
}

/// The terminals of this process.
pub static TERMINALS: LazyLock<Registry<Terminal>> = LazyLock::new(Registry::default);

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    /// Stands in for a terminal: an operation that waits until cancelled; counts drops.
    struct Waiter {
        cancelled: AtomicBool,
        cancels: AtomicUsize,
        dropped: Arc<AtomicUsize>,
    }

    impl Waiter {
        fn new(dropped: &Arc<AtomicUsize>) -> Self {
            Waiter {
                cancelled: AtomicBool::new(false),
                cancels: AtomicUsize::new(0),
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
            self.cancels.fetch_add(1, Ordering::SeqCst);
            self.cancelled.store(true, Ordering::SeqCst);
        }
    }

    impl Drop for Waiter {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn close_twice_and_calls_after_close_are_refused() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let reg = Registry::default();
        let h = reg.register(Waiter::new(&dropped));
        assert_ne!(h, 0);
        assert!(reg.enter(h).is_ok());
        assert_eq!(reg.close(h), CloseOutcome::Freed);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_eq!(reg.close(h), CloseOutcome::WasClosed);
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "freed exactly once");
        let e = reg.enter(h).err().map(|e| e.kind);
        assert_eq!(e, Some(ErrorKind::InvalidState));
        reg.cancel(h); // no-op, no crash
        assert_eq!(reg.len(), 0);
    }

    #[test]
    fn forged_and_zero_handles_are_refused() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let reg = Registry::default();
        let h = reg.register(Waiter::new(&dropped));
        for bogus in [0, 1, h ^ 0x10, -1] {
            assert!(reg.enter(bogus).is_err());
            assert_eq!(reg.close(bogus), CloseOutcome::WasClosed);
        }
        assert_eq!(reg.len(), 1);
        assert_eq!(reg.close(h), CloseOutcome::Freed);
    }

    #[test]
    fn close_cancels_and_waits_for_the_call_in_flight() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let reg = Arc::new(Registry::default());
        let h = reg.register(Waiter::new(&dropped));
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
    fn cancel_reaches_only_a_busy_value() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let reg = Registry::default();
        let h = reg.register(Waiter::new(&dropped));
        reg.cancel(h);
        let guard = reg.enter(h).expect("enter");
        assert_eq!(
            guard.value().cancels.load(Ordering::SeqCst),
            0,
            "idle cancel is a no-op"
        );
        reg.cancel(h);
        assert_eq!(guard.value().cancels.load(Ordering::SeqCst), 1);
        drop(guard);
        assert_eq!(reg.close(h), CloseOutcome::Freed);
    }

    #[test]
    fn close_from_inside_a_call_is_deferred_not_deadlocked() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let reg = Registry::default();
        let h = reg.register(Waiter::new(&dropped));
        let guard = reg.enter(h).expect("enter");
        assert_eq!(reg.close(h), CloseOutcome::Deferred);
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "still in use");
        assert!(
            guard.value().cancelled.load(Ordering::SeqCst),
            "the call was cancelled"
        );
        drop(guard);
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            1,
            "freed when the call returned"
        );
        assert_eq!(reg.close(h), CloseOutcome::WasClosed);
    }

    #[test]
    fn racing_calls_and_close_never_use_a_freed_value() {
        for _ in 0..20 {
            let dropped = Arc::new(AtomicUsize::new(0));
            let reg = Arc::new(Registry::default());
            let h = reg.register(Waiter::new(&dropped));
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let (reg, dropped) = (reg.clone(), dropped.clone());
                    std::thread::spawn(move || {
                        let mut entered = 0;
                        for _ in 0..200 {
                            match reg.enter(h) {
                                Ok(g) => {
                                    assert_eq!(
                                        dropped.load(Ordering::SeqCst),
                                        0,
                                        "value used after free"
                                    );
                                    entered += 1;
                                    drop(g);
                                }
                                Err(e) => {
                                    assert_eq!(e.kind, ErrorKind::InvalidState);
                                    break;
                                }
                            }
                        }
                        entered
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
}
