//! possdk core: everything a Chinese-acquirer POS terminal does, behind HAL traits.
//!
//! No FFI types and no global state live here; the C and JNI bridges convert and call into this crate.

pub mod api;
pub mod crypto;
pub mod error;
pub mod flows;
pub mod hal;
pub mod iso8583;
pub mod journal;
pub mod receipt;
pub mod security;
pub mod sim;
pub mod terminal;
pub mod tlv;
pub mod transport;

pub use error::{Error, ErrorKind, Outcome, Result};
pub use terminal::{Config, Terminal};

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
