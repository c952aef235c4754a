//! possdk core: everything a Chinese-acquirer POS terminal does, behind HAL traits.
//!
//! No FFI types and no global state live here; the C and JNI bridges convert and call into this crate.

// Layers point one way (docs/ARCHITECTURE.md):
//   protocol: iso8583, tlv, crypto            (public: hosts and tools reuse the codec and algorithms)
//   domain:   config, model, flows, journal, security, hal, transport
//   facade:   terminal (Terminal), api (requests, JSON, the op table)
// Bridges (ffi-c, ffi-jni) see only what is re-exported here and the public modules.

pub mod api;
mod config;
pub mod crypto;
mod error;
mod flows;
pub mod hal;
pub mod iso8583;
mod journal;
mod model;
mod receipt;
pub mod security;
mod terminal;
pub mod tlv;
pub mod transport;

pub use config::{Config, DeviceConfig, EndpointConfig, JournalConfig, Timeouts};
pub use error::{Error, ErrorKind, Outcome, Result};
pub use journal::{TxRecord, TxState};
pub use terminal::Terminal;

/// SDK version sent in activation (DF43).
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Mask a PAN to first 6 / last 4 (`622588******6789`). Anything shorter than 11 digits is fully masked.
pub fn mask_pan(pan: &str) -> String {
    let n = pan.chars().count();
    if n < 11 {
        return "*".repeat(n);
    }
    pan.chars()
        .enumerate()
        .map(|(i, c)| if i < 6 || i >= n - 4 { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn mask_pan_keeps_6_and_4() {
        assert_eq!(super::mask_pan("6225880123456789"), "622588******6789");
        assert_eq!(super::mask_pan("1234"), "****");
    }
}
