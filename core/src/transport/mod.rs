//! Default transport: TCP.
pub mod tcp;
pub use tcp::TcpTransport;
