//! Default transport: TCP. OWNER: platform helper.
pub mod tcp;
pub use tcp::TcpTransport;
