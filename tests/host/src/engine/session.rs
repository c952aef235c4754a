//! Sign-off and the echo test (docs/PROTOCOL.md §3.9, §3.10).

use super::*;

impl Shared {
    /// 0820 `002` (its MAC already verified): the terminal's working keys are dropped, so every MAC'd
    /// request fails with `A0` until it signs in again. The 0830 carries no MAC: the key is gone.
    pub(super) fn sign_off(&self, db: &mut Db, req: &Message, tid: &str) -> DbResult<Reply> {
        db.store.clear_working_keys(tid)?;
        db.keys.remove(tid);
        info!("{tid}: signed off");
        Ok(mgmt_reply(req, "00"))
    }

    /// 0820 `301`: answered `00` with the host's date and time; MAC'd when the request was (its MAC was
    /// then verified). Changes nothing.
    pub(super) fn echo_test(&self, req: &Message, now: &Now) -> Reply {
        let mut r = mgmt_reply(req, "00");
        r.msg.set_str(12, &now.hhmmss());
        r.msg.set_str(13, &now.mmdd());
        r.mac = req.has(64);
        r
    }
}
