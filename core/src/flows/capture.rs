//! Phase "capture": the customer's means of payment — the card (reader or inline), the PIN (pad, inline or
//! none by policy) and the QR payment code (scanner or inline).

use super::build::{self, card_read, CardRead};
use super::exchange::hal_error;
use super::execute::{TxInput, DEVICE_TIMEOUT};
use super::kinds::{KindDef, Means};
use super::Engine;
use crate::crypto::pin_block::PinFormat;
use crate::error::{Error, Result};
use crate::hal::{CardModes, CardRequest, Event, PinEntry, PinRequest, QrRequest};

/// What the capture phase took from the customer.
#[derive(Default)]
pub(super) struct Captured {
    pub card: Option<CardRead>,
    /// 8 bytes (TDES family) or 16 (SM family).
    pub pin_block: Option<Vec<u8>>,
    pub qr_code: Option<String>,
}

impl Engine {
    /// Card and PIN, or the QR code, as the kind's `means` says. `inline_card` is the request's card,
    /// already checked; `original_pan` the original's card, which a card kind must match.
    pub(super) fn capture(
        &mut self,
        def: &KindDef,
        input: &TxInput,
        inline_card: Option<CardRead>,
        original_pan: Option<&str>,
        amount: Option<u64>,
    ) -> Result<Captured> {
        let mut captured = Captured::default();
        match def.means {
            Means::Card => {
                let c = match inline_card {
                    Some(c) => c,
                    None => self.read_card(def, amount)?,
                };
                self.emit(Event::CardRead {
                    masked_pan: crate::mask_pan(&c.pan),
                });
                if original_pan.is_some_and(|p| p != c.pan.as_str()) {
                    return Err(Error::invalid(
                        "card",
                        "not the card of the original transaction",
                    ));
                }
                let inline_pin = input.card.as_ref().and_then(|ci| ci.pin.as_deref());
                captured.pin_block =
                    self.pin_block_for(def, &c, inline_pin.map(|s| s.as_str()), amount)?;
                captured.card = Some(c);
            }
            Means::QrCode => {
                let code = match &input.qr_code {
                    Some(c) => c.clone(),
                    None => self.scan_qr(def, amount)?,
                };
                captured.qr_code = Some(code);
            }
            Means::QrVoucher | Means::OriginalCard | Means::QrPresented => {}
        }
        Ok(captured)
    }

    fn scan_qr(&mut self, def: &KindDef, amount: Option<u64>) -> Result<String> {
        let cancel = self.cancel.clone();
        self.emit(Event::WaitingForQr);
        let scanner = self
            .qr_scanner
            .as_mut()
            .ok_or_else(|| Error::invalid("qr_code", "payment code required (no QR scanner)"))?;
        let code = scanner
            .scan(&QrRequest {
                transaction: def.name,
                amount,
                timeout: DEVICE_TIMEOUT,
                cancel,
            })
            .map_err(|e| hal_error(e, "QR code"))?;
        build::validate_qr_code("qr_code", &code)?;
        Ok(code)
    }

    fn pin_policy(&self, def: &KindDef) -> (bool, bool) {
        if def.means != Means::Card {
            return (false, false);
        }
        let need = match &self.cfg.pin_required {
            Some(list) => list.iter().any(|k| k == def.name),
            None => def.pin_default,
        };
        let bypass = self
            .cfg
            .pin_bypass_allowed
            .as_ref()
            .is_some_and(|l| l.iter().any(|k| k == def.name));
        (need, bypass)
    }

    fn read_card(&mut self, def: &KindDef, amount: Option<u64>) -> Result<CardRead> {
        let cancel = self.cancel.clone();
        self.emit(Event::WaitingForCard);
        let reader = self
            .card_reader
            .as_mut()
            .ok_or_else(|| Error::invalid("card", "card data required (no card reader)"))?;
        let request = CardRequest {
            transaction: def.name,
            amount,
            modes: CardModes::ALL,
            timeout: DEVICE_TIMEOUT,
            cancel,
        };
        let data = reader
            .read_card(&request)
            .map_err(|e| hal_error(e, "card"))?;
        card_read("card", &data)
    }

    fn pin_block_for(
        &mut self,
        def: &KindDef,
        card: &CardRead,
        inline_pin: Option<&str>,
        amount: Option<u64>,
    ) -> Result<Option<Vec<u8>>> {
        let (need, bypass) = self.pin_policy(def);
        if let Some(pin) = inline_pin {
            return self.module_pin_block(pin, &card.pan).map(Some);
        }
        if !need {
            return Ok(None);
        }
        let cancel = self.cancel.clone();
        self.emit(Event::WaitingForPin);
        let Some(pad) = self.pin_pad.as_mut() else {
            if bypass {
                return Ok(None);
            }
            return Err(Error::invalid("card.pin", "PIN required"));
        };
        let request = PinRequest {
            transaction: def.name,
            masked_pan: crate::mask_pan(&card.pan),
            amount,
            allow_bypass: bypass,
            timeout: DEVICE_TIMEOUT,
            cancel,
        };
        match pad
            .get_pin(&request, &card.pan)
            .map_err(|e| hal_error(e, "PIN"))?
        {
            // A secure pad's own block is a TDES format-0 block (8 bytes): the SM family's 16-byte block
            // comes from the security module only.
            // A secure pad's own block is format 0: an acquirer profile with another format needs the PIN.
            PinEntry::Block(_) if self.profile.pin_block != PinFormat::Iso0 => Err(Error::new(
                crate::error::ErrorKind::Security,
                format!(
                    "the PIN pad returned its own (format 0) PIN block; the acquirer profile \"{}\" needs \
                     {}: return the PIN to possdk instead",
                    self.profile.name,
                    self.profile.pin_block.name()
                ),
            )),
            PinEntry::Block(b) if self.key_family().block_len() == b.len() => Ok(Some(b.to_vec())),
            PinEntry::Block(_) => Err(Error::new(
                crate::error::ErrorKind::Security,
                format!(
                    "the PIN pad returned an 8-byte PIN block; the {} key family needs the security module's \
                     16-byte block: return the PIN to possdk instead",
                    self.key_family()
                ),
            )),
            PinEntry::Clear(pin) => {
                build::validate_pin("card.pin", &pin)?;
                self.module_pin_block(&pin, &card.pan).map(Some)
            }
            PinEntry::Bypass if bypass => Ok(None),
            PinEntry::Bypass => Err(Error::invalid(
                "card.pin",
                "PIN bypass is not allowed for this transaction",
            )),
        }
    }

    /// The security module's PIN block, checked to be one block of the terminal's family.
    fn module_pin_block(&mut self, pin: &str, pan: &str) -> Result<Vec<u8>> {
        let format = self.profile.pin_block;
        let block = self.security.pin_block_in(format, pin, pan)?;
        let want = self.key_family().block_len();
        if block.len() != want {
            return Err(Error::new(
                crate::error::ErrorKind::Security,
                format!(
                    "the security module returned a {}-byte PIN block; the {} key family needs {want}",
                    block.len(),
                    self.key_family()
                ),
            ));
        }
        Ok(block)
    }
}
