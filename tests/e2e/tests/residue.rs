//! No PIN, PAN or track copy is freed unwiped by the terminal: a global allocator wrapper (what an
//! LD_PRELOAD probe of free() and realloc() does) scans every block the test thread frees, while a JSON
//! sale with inline card data runs, for the test card's PAN, track and PIN. The acquirer simulator runs in
//! this process on other threads; only the terminal's thread is watched.

use possdk_core::api::call_json;
use possdk_core::hal::Hal;
use possdk_e2e::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The PAN (also the start of track 2) and the PIN of `CUP_SWIPE`.
const PAN: &[u8] = CUP_SWIPE.pan.as_bytes();
const PIN: &[u8] = CUP_SWIPE.pin.as_bytes();

static PAN_HITS: AtomicUsize = AtomicUsize::new(0);
static PIN_HITS: AtomicUsize = AtomicUsize::new(0);
/// The size of the first block found holding card data (for the failure message).
static FIRST_HIT_SIZE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static WATCH: Cell<bool> = const { Cell::new(false) };
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A freed block holds the PIN when it is the PIN on its own (a string of the PIN's length, in a block
/// not much larger) or the PIN between JSON quotes. The PIN's digits also occur inside the PAN and the
/// merchant id, which are not the PIN.
fn holds_pin(block: &[u8]) -> bool {
    let alone =
        block.len() <= 16 && block.starts_with(PIN) && block[PIN.len()..].iter().all(|&b| b == 0);
    let quoted = block
        .windows(PIN.len() + 2)
        .any(|w| w[0] == b'"' && w[PIN.len() + 1] == b'"' && &w[1..=PIN.len()] == PIN);
    alone || quoted
}

struct Probe;

unsafe impl GlobalAlloc for Probe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let watching = WATCH.try_with(|w| w.get()).unwrap_or(false);
        if watching {
            // SAFETY: `ptr` is a live block of `layout.size()` bytes until the call below frees it.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            let mut hit = false;
            if contains(block, PAN) {
                PAN_HITS.fetch_add(1, Ordering::SeqCst);
                hit = true;
            }
            if holds_pin(block) {
                PIN_HITS.fetch_add(1, Ordering::SeqCst);
                hit = true;
            }
            if hit {
                let _ = FIRST_HIT_SIZE.compare_exchange(
                    0,
                    layout.size(),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    // `realloc` is the trait's default: a new block, a copy, then `dealloc` of the old one, so a block
    // left behind by growing a buffer is scanned too.
}

#[global_allocator]
static PROBE: Probe = Probe;

fn watched<T>(f: impl FnOnce() -> T) -> T {
    WATCH.with(|w| w.set(true));
    let r = f();
    WATCH.with(|w| w.set(false));
    r
}

#[test]
fn a_sale_leaves_no_card_data_in_freed_memory() {
    for encrypt_tracks in [false, true] {
        // One host each: a new journal starts its STANs again, which one host would call duplicates.
        let host = TestHost::start("residue");
        let dir = temp_dir("residue-term");
        let mut config = host.config_json(&dir, 5_000);
        config["encrypt_tracks"] = encrypt_tracks.into();
        let t = possdk_core::Terminal::new(
            possdk_core::Config::from_json(&config.to_string()).expect("config"),
            Hal::default(),
        )
        .expect("terminal");
        initialise(&t).expect("initialisation");
        // The app's own request buffers are made before watching and wiped after: they are the app's
        // copies, not the terminal's.
        let mut requests: Vec<String> = (0..3)
            .map(|i| {
                let track2 = format!(
                    "{}D{}{}0000000000",
                    CUP_SWIPE.pan, CUP_SWIPE.expiry, CUP_SWIPE.service_code
                );
                serde_json::json!({"op": "sale", "amount": 100 + i, "card": {"entry": "swipe",
                    "track2": track2, "pin": CUP_SWIPE.pin}})
                .to_string()
            })
            .collect();
        let answers: Vec<String> = watched(|| requests.iter().map(|r| call_json(&t, r)).collect());
        for r in requests.iter_mut() {
            zeroize::Zeroize::zeroize(r);
        }
        for a in &answers {
            let v: serde_json::Value = serde_json::from_str(a).expect("JSON answer");
            assert_eq!(v["result"]["approved"], true, "{a}");
        }
        assert_eq!(
            (
                PAN_HITS.load(Ordering::SeqCst),
                PIN_HITS.load(Ordering::SeqCst)
            ),
            (0, 0),
            "card data freed unwiped (encrypt_tracks {encrypt_tracks}; first block {} bytes)",
            FIRST_HIT_SIZE.load(Ordering::SeqCst)
        );
        host.shutdown();
    }
}
