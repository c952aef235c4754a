//! possdk's C ABI: an opaque `pos_terminal`, one function per operation with C structs, device callbacks
//! (and the clock and transport) as vtables, numbered results, and the JSON entry point `pos_call_json`.
//!
//! Thin by design: convert, call `possdk-core`, map errors. Every exported function checks its pointers
//! and runs behind a panic boundary, so nothing here can unwind into C or abort the host process.
//! The header `include/possdk.h` is generated from this crate by cbindgen (see `tests/header.rs`);
//! ownership and threading rules are in docs/C-API.md.
#![allow(non_camel_case_types)]
#![warn(unsafe_op_in_unsafe_fn)]

mod callbacks;
mod handle;
mod ops;
mod panic;
mod printer;
mod registry;
mod result;
mod security;
mod signature;
mod strings;
mod transport;

pub use callbacks::*;
pub use handle::*;
pub use ops::*;
pub use printer::*;
pub use result::{
    pos_error_details, pos_last_error, pos_outcome, pos_result, pos_result_code, pos_result_message,
};
pub use security::*;
pub use signature::*;
pub use transport::*;
