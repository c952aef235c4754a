//! Sign-off and the echo test (docs/PROTOCOL.md §3.9, §3.10): the gateway session's two management
//! messages beside sign-in.

use super::{digits, keys, rc_of, rejected, transport_error, validate_echo, Dest, Engine};
use crate::error::Result;
use crate::iso8583::{self, Message, Mti};
use crate::model::{EchoResult, SignOffResult};
use std::time::Instant;

impl Engine {
    /// Sign-off (0820 `002`, MAC'd, gateway). What the terminal still owes (reversals, advices, uploads)
    /// is tried first while the MAK exists; then the working keys are erased whatever the host answers, so
    /// the next MAC'd message needs a sign-in. A terminal that is not signed in sends nothing.
    pub fn sign_off(&mut self) -> Result<SignOffResult> {
        self.require_activated()?;
        if !self.is_signed_in()? {
            self.drop_working_keys()?;
            return Ok(SignOffResult {
                sent: false,
                response_code: None,
            });
        }
        if let Err(e) = self.flush_all_reversals() {
            log::warn!("before sign-off, a reversal could not be delivered: {e}");
        }
        if let Err(e) = self.flush_advices() {
            log::warn!("before sign-off, an advice could not be delivered: {e}");
        }
        let answer = self.sign_off_exchange();
        // Signed out locally whatever happened on the wire: the keys must not outlive the sign-off.
        self.drop_working_keys()?;
        let response_code = match answer {
            Ok(resp) => Some(rc_of(&resp)),
            Err(e) => {
                log::warn!("sign-off not acknowledged by the host: {e}");
                None
            }
        };
        log::info!("signed off ({response_code:?})");
        Ok(SignOffResult {
            sent: true,
            response_code,
        })
    }

    fn drop_working_keys(&mut self) -> Result<()> {
        self.security.clear_working_keys()?;
        self.set_flag(keys::SIGNED_IN, false)?;
        self.set_flag(keys::SIGN_IN_REQUESTED, false)
    }

    /// The 0820 `002` (the profile's `management.sign_off`): MAC'd request, answer checked for MTI and the echoes of 11 41 42 (the host drops
    /// the keys it would MAC with, so the 0830 carries no MAC).
    fn sign_off_exchange(&mut self) -> Result<Message> {
        let batch = self.journal.batch()?;
        let stan = self.journal.next_stan()?;
        let mut msg = Message::new(Mti(820));
        msg.set_str(11, &digits(stan as u64, 6));
        msg.set_str(41, &self.cfg.tid.clone());
        msg.set_str(42, &self.cfg.mid.clone());
        let code = self.profile.management.sign_off.clone();
        let sf = &self.profile.subfields;
        msg.set_str(60, &sf.field60("00", batch, &code, None));
        msg.set(63, sf.operator.clone().into_bytes());
        let frame = self.encode(Dest::Gateway, &mut msg, true)?;
        let cancel = self.cancel.clone();
        let raw = self
            .exchange_raw(Dest::Gateway, &frame, &cancel)
            .map_err(|e| transport_error(&e))?;
        let resp = self.decode(&raw)?;
        validate_echo(&msg, &resp.message, &[11, 41, 42], true)?;
        log::debug!(
            "response {}",
            iso8583::mask::masked_with(&resp.message, &self.profile.secrecy)
        );
        Ok(resp.message)
    }

    /// Echo test (0820 `301`, the profile's `management.echo`; gateway): MAC'd when the terminal is signed in, and its answer's MAC then
    /// checked; changes nothing on either side.
    pub fn echo(&mut self) -> Result<EchoResult> {
        self.require_activated()?;
        let maced = self.is_signed_in()?;
        let start = Instant::now();
        let code = self.profile.management.echo.clone();
        let resp = self.management(Dest::Gateway, 820, &code, None, &[], maced)?;
        let round_trip_ms = start.elapsed().as_millis() as u64;
        let rc = rc_of(&resp);
        if rc != "00" {
            return Err(rejected("echo test", &rc));
        }
        let now = self.now();
        Ok(EchoResult {
            response_code: rc,
            datetime: super::host_datetime(&now, resp.get_str(13), resp.get_str(12)),
            maced,
            round_trip_ms,
        })
    }
}
