//! The electronic signature (docs/PROTOCOL.md §8.8): after an approval of a kind the config names, the
//! signature pad's image is compressed (signature.rs), journalled with its upload segments in one commit,
//! and uploaded (0820 `800`) with the other store-and-forward uploads (§6.6) before settlement.

use super::kinds::KindDef;
use super::{digits, Dest, Engine};
use crate::error::Result;
use crate::hal::SignatureRequest;
use crate::iso8583::{Message, Mti};
use crate::journal::NewUpload;
use crate::model::TransactionResult;
use crate::signature::SignatureImage;
use crate::tlv::{self, Tlv};

/// Queue class of the signature's segments.
pub(crate) const SIGNATURE: &str = "signature";
/// Compressed bytes per 0820 (field 62 holds at most 512 bytes with its TLV framing).
pub(crate) const SEGMENT: usize = 400;

/// The 0820 `800` carrying segment `index` (0-based) of `total` of a transaction's compressed signature;
/// 60.3 is `network`, the profile's `management.signature_upload`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn segment_message(
    sf: &crate::acquirer::Subfields,
    tid: &str,
    mid: &str,
    result: &TransactionResult,
    date: &str,
    batch: u32,
    stan: u32,
    index: usize,
    total: usize,
    chunk: &[u8],
    network: &str,
) -> Message {
    let mut m = Message::new(Mti(820));
    m.set_str(4, &digits(result.amount + result.tip, 12));
    m.set_str(11, &digits(stan as u64, 6));
    if let Some(r) = &result.reference {
        m.set_str(37, r);
    }
    m.set_str(41, tid);
    m.set_str(42, mid);
    m.set_str(60, &sf.field60("00", batch, network, None));
    m.set_str(61, &sf.field61(result.batch, result.stan, Some(date)));
    m.set(
        62,
        tlv::encode(&[
            Tlv::primitive(0xDF71, vec![index as u8 + 1, total as u8]),
            Tlv::primitive(0xDF72, chunk.to_vec()),
        ]),
    );
    m
}

impl Engine {
    /// Ask for the cardholder's signature after an approval the config names; journal it with its upload
    /// segments and send them. Nothing here changes the transaction: a pad that fails or refuses is
    /// logged, and the slip is then signed on paper.
    /// Returns the image taken, for the slip.
    pub(super) fn take_signature(
        &mut self,
        def: &KindDef,
        id: i64,
        result: &TransactionResult,
    ) -> Option<SignatureImage> {
        if !result.approved || !self.cfg.signature.asks(def.name) || self.signature_pad.is_none() {
            return None;
        }
        let image = match self.signature_for(def, id, result) {
            Ok(image) => image,
            Err(e) => {
                log::warn!("signature of {:06} not taken: {e}", result.stan);
                return None;
            }
        };
        if let Err(e) = self.flush_uploads() {
            log::warn!("signature upload kept for later: {e}");
        }
        Some(image)
    }

    fn signature_for(
        &mut self,
        def: &KindDef,
        id: i64,
        result: &TransactionResult,
    ) -> Result<SignatureImage> {
        let request = SignatureRequest {
            transaction: def.name,
            stan: result.stan,
            amount: Some(result.amount + result.tip),
            timeout: super::execute::DEVICE_TIMEOUT,
            cancel: self.cancel.clone(),
        };
        let Some(pad) = self.signature_pad.as_mut() else {
            return Err(crate::Error::internal("no signature pad"));
        };
        let image = pad
            .capture(&request)
            .map_err(|e| super::exchange::hal_error(e, "signature"))?;
        let packed = crate::signature::compress(&image)
            .map_err(|e| crate::Error::new(crate::ErrorKind::Device, format!("signature: {e}")))?;
        let chunks: Vec<&[u8]> = packed.chunks(SEGMENT).collect();
        if chunks.len() > 255 {
            return Err(crate::Error::new(
                crate::ErrorKind::Device,
                "signature: too large to upload",
            ));
        }
        let batch = self.journal.batch()?;
        let date = self.now().mmdd();
        let stans = self.journal.take_stans(chunks.len() as u32)?;
        let mut frames = Vec::with_capacity(chunks.len());
        let network = self.profile.management.signature_upload.clone();
        for (i, (chunk, stan)) in chunks.iter().zip(&stans).enumerate() {
            let mut m = segment_message(
                &self.profile.subfields,
                &self.cfg.tid.clone(),
                &self.cfg.mid.clone(),
                result,
                &date,
                batch,
                *stan,
                i,
                chunks.len(),
                chunk,
                &network,
            );
            frames.push((*stan, self.encode(Dest::Gateway, &mut m, true)?));
        }
        let uploads: Vec<NewUpload<'_>> = frames
            .iter()
            .map(|(stan, frame)| NewUpload {
                class: SIGNATURE,
                stan: *stan,
                frame,
            })
            .collect();
        self.journal.record_signature(id, &packed, &uploads)?;
        log::info!(
            "signature of {:06}: {}x{}, {} bytes in {} segment(s)",
            result.stan,
            image.width,
            image.height,
            packed.len(),
            chunks.len()
        );
        Ok(image)
    }
}
