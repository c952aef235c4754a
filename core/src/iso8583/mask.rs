//! Masked rendering for logs: PAN 6+4, tracks, PIN block, field 55 and key data hidden.
use super::Message;
pub fn masked(msg: &Message) -> String {
    todo!()
}
