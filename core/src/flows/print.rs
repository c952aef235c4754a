//! Sales slips to the printer (hal.rs `Printer`): after an approved transaction, the merchant copy then the
//! cardholder copy, in the configured locale (slip.rs).

use super::kinds::KindDef;
use super::Engine;
use crate::model::TransactionResult;
use crate::signature::SignatureImage;
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
            signature: None,
        }
    }

    /// Both copies of an approved transaction's slip to the printer, when there is one, the merchant copy
    /// with the cardholder's signature when one was taken. A printer failure is logged: the transaction
    /// stands, and `reprint` gives the slip again.
    pub(super) fn print_slips(
        &mut self,
        def: &KindDef,
        result: &TransactionResult,
        signature: Option<&SignatureImage>,
    ) {
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
            .map(|c| {
                let ctx = SlipContext {
                    signature,
                    ..self.slip_context(def, &merchant)
                };
                slip::build(result, &ctx, c)
            })
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
