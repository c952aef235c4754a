//! Sales slips to the printer (hal.rs `Printer`): after an approved transaction, the merchant copy then the
//! cardholder copy, in the configured locale (slip.rs).

use super::kinds::KindDef;
use super::Engine;
use crate::model::TransactionResult;
use crate::slip::{self, Copy, SlipContext};

impl Engine {
    /// What every slip of this terminal shows besides the result.
    pub(super) fn slip_context<'a>(
        &'a self,
        def: &'a KindDef,
        merchant: &'a str,
    ) -> SlipContext<'a> {
        SlipContext {
            label: def.label,
            merchant_name: merchant,
            tid: &self.cfg.tid,
            mid: &self.cfg.mid,
            locale: self.cfg.receipt.locale,
        }
    }

    /// Both copies of an approved transaction's slip to the printer, when there is one. A printer failure is
    /// logged: the transaction stands, and `reprint` gives the slip again.
    pub(super) fn print_slips(&mut self, def: &KindDef, result: &TransactionResult) {
        if !result.approved || self.printer.is_none() {
            return;
        }
        let merchant = self
            .journal
            .setting(super::keys::MERCHANT_NAME)
            .ok()
            .flatten()
            .unwrap_or_default();
        let slips: Vec<slip::Slip> = [Copy::Merchant, Copy::Cardholder]
            .into_iter()
            .map(|c| slip::build(result, &self.slip_context(def, &merchant), c))
            .collect();
        if let Some(p) = self.printer.as_mut() {
            for s in &slips {
                if let Err(e) = p.print(s) {
                    log::warn!(
                        "printer: {:?} copy of {:06} not printed: {e}",
                        s.copy,
                        result.stan
                    );
                    break;
                }
            }
        }
    }
}
