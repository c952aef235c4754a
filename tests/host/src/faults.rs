//! Per-terminal fault injection (admin `fault` / `clear_faults`).

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer after this many milliseconds (the request is processed first).
    Delay(u64),
    /// Process the request (money moves) but never answer.
    NoAnswer,
    /// Answer random bytes inside a valid length prefix.
    Garbage,
    /// Answer with a corrupted field 64 (applies to responses that carry a MAC).
    WrongMac,
    /// Send half of the response frame, then close.
    CloseMidFrame,
    /// Decline financial requests (0100/0200/0220) with this code.
    Decline(String),
    /// Response header processing nibble 3.
    SignInAgain,
    /// Answer the 0500 "not balanced" even when the totals agree.
    UnbalancedSettlement,
    /// Add an issuer script template (72 with 9F18 and 86) to the next approved chip response.
    IssuerScript,
}

impl FaultKind {
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Delay(_) => "delay",
            FaultKind::NoAnswer => "no_answer",
            FaultKind::Garbage => "garbage",
            FaultKind::WrongMac => "wrong_mac",
            FaultKind::CloseMidFrame => "close_mid_frame",
            FaultKind::Decline(_) => "decline",
            FaultKind::SignInAgain => "sign_in_again",
            FaultKind::UnbalancedSettlement => "unbalanced_settlement",
            FaultKind::IssuerScript => "issuer_script",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: FaultKind,
    pub remaining: u32,
}

/// Which requests a fault applies to (and is consumed by).
#[derive(Debug, Clone, Copy)]
pub struct RequestClass {
    pub financial: bool,
    pub settlement: bool,
    pub response_has_mac: bool,
}

/// Key of faults that apply to whichever terminal sends the next requests (admin `fault` without a `tid`).
pub const ANY_TID: &str = "*";

#[derive(Default)]
pub struct Faults {
    by_tid: HashMap<String, Vec<Fault>>,
}

impl Faults {
    pub fn add(&mut self, tid: &str, kind: FaultKind, count: u32) {
        self.by_tid.entry(tid.to_string()).or_default().push(Fault {
            kind,
            remaining: count.max(1),
        });
    }

    pub fn clear(&mut self, tid: &str) {
        self.by_tid.remove(tid);
    }

    pub fn active(&self, tid: &str) -> Vec<Fault> {
        self.by_tid.get(tid).cloned().unwrap_or_default()
    }

    /// Take (consume one count of) every fault of `tid` (and every terminal-independent fault, added
    /// under [`ANY_TID`]) that `pred` selects.
    pub fn take(&mut self, tid: &str, pred: impl Fn(&FaultKind) -> bool) -> Vec<FaultKind> {
        let mut out = Vec::new();
        for key in [tid, ANY_TID] {
            if let Some(list) = self.by_tid.get_mut(key) {
                for f in list.iter_mut() {
                    if f.remaining > 0 && pred(&f.kind) {
                        f.remaining -= 1;
                        out.push(f.kind.clone());
                    }
                }
                list.retain(|f| f.remaining > 0);
                if list.is_empty() {
                    self.by_tid.remove(key);
                }
            }
        }
        out
    }

    /// Drop every fault of every terminal.
    pub fn clear_all(&mut self) {
        self.by_tid.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn counts_are_consumed() {
        let mut f = Faults::default();
        f.add("T1", FaultKind::Decline("05".into()), 2);
        f.add("T1", FaultKind::Garbage, 1);
        assert_eq!(
            f.take("T1", |k| matches!(k, FaultKind::Decline(_))).len(),
            1
        );
        assert_eq!(
            f.take("T1", |k| matches!(k, FaultKind::Decline(_))).len(),
            1
        );
        assert!(f
            .take("T1", |k| matches!(k, FaultKind::Decline(_)))
            .is_empty());
        assert_eq!(f.take("T1", |_| true), vec![FaultKind::Garbage]);
        assert!(f.active("T1").is_empty());
        assert!(f.take("T2", |_| true).is_empty());
        f.add(ANY_TID, FaultKind::NoAnswer, 1);
        assert_eq!(f.take("T3", |_| true), vec![FaultKind::NoAnswer]);
        assert!(f.take("T1", |_| true).is_empty());
    }
}
