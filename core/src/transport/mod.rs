//! Default transport: TCP, wrapped in TLS for an endpoint with TLS settings.
pub mod tcp;
pub mod tls;
pub use tcp::TcpTransport;
