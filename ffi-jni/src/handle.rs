//! Terminal handles: the native pointer the Kotlin side keeps in a `long`.
//!
//! The value handed to Java is the address of an `Arc<Live>`, but it is never dereferenced: every native
//! call looks it up in a registry first, so a stale, repeated or forged handle is a typed error, not a crash.
//! `close` removes the handle (once: a second close finds nothing), cancels the operation in flight, waits
//! for the calls that already entered, and drops the terminal. A call that races with close either enters
//! first (close waits for it) or is refused with `invalid_state`.

use possdk_core::{Error, ErrorKind, Terminal};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};

/// One live terminal and its in-flight accounting.
pub struct Live {
    pub terminal: Terminal,
    state: Mutex<CallState>,
    idle: Condvar,
}

#[derive(Default)]
struct CallState {
    closed: bool,
    calls: usize,
}

static REGISTRY: LazyLock<Mutex<HashMap<i64, Arc<Live>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

thread_local! {
    /// How many terminal operations this thread is inside (a callback may call back into the SDK).
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

/// Register a terminal and return its handle (never 0).
pub fn register(terminal: Terminal) -> i64 {
    let live = Arc::new(Live { terminal, state: Mutex::new(CallState::default()), idle: Condvar::new() });
    let handle = Arc::as_ptr(&live) as usize as i64;
    lock(&REGISTRY).insert(handle, live);
    handle
}

fn lookup(handle: i64) -> Option<Arc<Live>> {
    if handle == 0 {
        return None;
    }
    lock(&REGISTRY).get(&handle).cloned()
}

/// A call in flight. Dropping it ends the call (and wakes a waiting `close`).
pub struct CallGuard {
    live: Arc<Live>,
}

impl CallGuard {
    pub fn terminal(&self) -> &Terminal {
        &self.live.terminal
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        let mut st = lock(&self.live.state);
        st.calls = st.calls.saturating_sub(1);
        if st.calls == 0 {
            self.live.idle.notify_all();
        }
    }
}

/// Enter a call on `handle`: `invalid_state` when the handle is closed or unknown.
pub fn enter(handle: i64) -> Result<CallGuard, Error> {
    let live = lookup(handle).ok_or_else(closed_error)?;
    {
        let mut st = lock(&live.state);
        if st.closed {
            return Err(closed_error());
        }
        st.calls += 1;
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    Ok(CallGuard { live })
}

/// Cancel whatever `handle` is doing. Unknown or closed handles are a no-op (cancel may race with close).
pub fn cancel(handle: i64) {
    if let Some(live) = lookup(handle) {
        let busy = {
            let st = lock(&live.state);
            !st.closed && st.calls > 0
        };
        if busy {
            live.terminal.cancel();
        }
    }
}

/// What `close` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOutcome {
    /// The handle was already closed (or never existed): nothing to do.
    WasClosed,
    /// Closed; the terminal is dropped (no call was in flight, or they all finished).
    Freed,
    /// Closed from inside one of its own calls (a callback): the terminal is dropped when that call returns.
    Deferred,
}

/// Close `handle`. Waits for calls in flight (after cancelling them) unless called from inside one.
pub fn close(handle: i64) -> CloseOutcome {
    let Some(live) = lock(&REGISTRY).remove(&handle) else {
        return CloseOutcome::WasClosed;
    };
    let busy = {
        let mut st = lock(&live.state);
        st.closed = true;
        st.calls > 0
    };
    if busy {
        live.terminal.cancel();
    }
    if DEPTH.with(|d| d.get()) > 0 {
        // Waiting here would wait for ourselves. The in-flight call holds the last reference.
        log::warn!("PosTerminal.close() called from inside a terminal call; the terminal is freed when it returns");
        return CloseOutcome::Deferred;
    }
    let mut st = lock(&live.state);
    while st.calls > 0 {
        st = live.idle.wait(st).unwrap_or_else(|p| p.into_inner());
    }
    drop(st);
    drop(live);
    CloseOutcome::Freed
}

/// Number of live handles (tests and diagnostics).
pub fn live_count() -> usize {
    lock(&REGISTRY).len()
}
