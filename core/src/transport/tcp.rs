//! TCP transport: one connection per exchange (connect timeout, response timeout, cancel checks).
use crate::hal::{CancelToken, Endpoint, Transport, TransportError};
#[derive(Default)]
pub struct TcpTransport {}
impl Transport for TcpTransport {
    fn exchange(
        &mut self,
        endpoint: &Endpoint,
        frame: &[u8],
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError> {
        todo!()
    }
}
