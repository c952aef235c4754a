//! Initialisation (docs/PROTOCOL.md §3): activation, host RSA key + TMK download + activation, sign-in,
//! CAPK and AID downloads.

use super::{keys, rc_of, rejected, Dest, Engine};
use crate::acquirer::Subfields;
use crate::crypto::rsa::HostPublicKey;
use crate::crypto::sm2::Sm2PublicKey;
use crate::crypto::KeyFamily;
use crate::error::{Error, ErrorKind, Result};
use crate::hal::{AidParams, Capk};
use crate::iso8583::Message;
use crate::model::{ActivationResult, DownloadResult, MasterKeyResult, SignInResult};
use crate::security::{EncryptedKey, HostKey, KeySlot};
use crate::tlv::{self, Tlv};

/// Most query pages followed before giving up (a host that always says "more").
const MAX_PAGES: usize = 100;

fn ascii_u32(v: Option<&[u8]>) -> Option<u32> {
    std::str::from_utf8(v?).ok()?.trim().parse().ok()
}

fn f62_tlvs(msg: &Message, skip_status: bool) -> Result<Vec<Tlv>> {
    f62_items(msg.get(62).unwrap_or(&[]), skip_status)
}

/// Field 62 of a platform answer as TLVs, after its status byte when `skip_status`.
pub(crate) fn f62_items(data: &[u8], skip_status: bool) -> Result<Vec<Tlv>> {
    let data = if skip_status && !data.is_empty() {
        &data[1..]
    } else {
        data
    };
    Ok(tlv::decode(data)?)
}

/// The host key answer (`352`): RID (9F06), index (9F22) and the key: DF02 modulus and DF04 exponent of an RSA
/// key, or with DF25 = `SM2` the 65-byte SM2 point in DF02 (docs/PROTOCOL.md §11).
pub(crate) fn host_key_from_tlvs(items: &[Tlv]) -> Result<(Vec<u8>, Vec<u8>, HostKey)> {
    let rid = tlv::get(items, 0x9F06)
        .ok_or_else(|| Error::new(ErrorKind::InvalidResponse, "host key: 9F06 missing"))?
        .to_vec();
    let index = tlv::get(items, 0x9F22)
        .ok_or_else(|| Error::new(ErrorKind::InvalidResponse, "host key: 9F22 missing"))?
        .to_vec();
    let modulus = tlv::get(items, 0xDF02)
        .ok_or_else(|| Error::new(ErrorKind::InvalidResponse, "host key: DF02 missing"))?;
    match tlv::get(items, 0xDF25) {
        Some(b"SM2") => {
            let key = Sm2PublicKey::from_uncompressed(modulus).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidResponse,
                    format!(
                        "host key: DF02 is not a 65-byte uncompressed SM2 point ({} bytes)",
                        modulus.len()
                    ),
                )
            })?;
            return Ok((rid, index, HostKey::Sm2(key)));
        }
        Some(other) => {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                format!(
                    "host key: DF25 names the algorithm {:?}, not SM2",
                    String::from_utf8_lossy(other)
                ),
            ))
        }
        None => {}
    }
    let exponent = tlv::get(items, 0xDF04)
        .ok_or_else(|| Error::new(ErrorKind::InvalidResponse, "host key: DF04 missing"))?;
    Ok((
        rid,
        index,
        HostKey::Rsa(HostPublicKey::new(modulus, exponent)?),
    ))
}

/// The TMK download answer (`350`): the TMK under the transport key (DF21) and its check value (DF22).
pub(crate) fn tmk_from_tlvs(items: &[Tlv]) -> Result<(&[u8], &[u8])> {
    let enc = tlv::get(items, 0xDF21)
        .ok_or_else(|| Error::new(ErrorKind::InvalidResponse, "TMK: DF21 missing"))?;
    let cv = tlv::get(items, 0xDF22)
        .ok_or_else(|| Error::new(ErrorKind::InvalidResponse, "TMK: DF22 missing"))?;
    Ok((enc, cv))
}

/// Sign-in field 62 in the profile's layout (CUP: PIK, MAK and TDK, each 16 bytes under the TMK
/// followed by a 4-byte check value, 60 bytes).
pub(crate) fn working_keys(sf: &Subfields, f62: &[u8]) -> Result<[EncryptedKey; 3]> {
    let keys = sf.read62(f62).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidResponse,
            format!(
                "sign-in field 62 is {} bytes, not {}",
                f62.len(),
                sf.f62.width()
            ),
        )
    })?;
    Ok(keys.map(|(encrypted, check_value)| EncryptedKey {
        encrypted,
        check_value,
    }))
}

/// A parameter query answer (`372` / `382`) split into entries, each starting at 9F06.
pub(crate) fn entries(items: Vec<Tlv>) -> Vec<Vec<Tlv>> {
    let mut out: Vec<Vec<Tlv>> = Vec::new();
    for t in items {
        if t.tag == 0x9F06 || out.is_empty() {
            out.push(Vec::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(t);
        }
    }
    out
}

/// An AID download answer (`380`): field 62 after its status byte, kept as sent once it decodes.
pub(crate) fn aid_tlv(f62: &[u8]) -> Result<Vec<u8>> {
    let raw = f62.get(1..).unwrap_or(&[]).to_vec();
    tlv::decode(&raw)?;
    Ok(raw)
}

/// A CAPK as the download answer carries it, checked (DF03 = SHA-1(RID || index || modulus || exponent),
/// expiry not passed). `today` is YYYYMMDD.
pub fn capk_from_tlvs(items: &[Tlv], today: &str) -> std::result::Result<Capk, String> {
    let rid = tlv::get(items, 0x9F06).ok_or("9F06 missing")?.to_vec();
    let index = *tlv::get(items, 0x9F22)
        .and_then(|v| v.first())
        .ok_or("9F22 missing")?;
    let expiry = tlv::get(items, 0xDF05)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::to_string)
        .ok_or("DF05 missing")?;
    let modulus = tlv::get(items, 0xDF02).ok_or("DF02 missing")?.to_vec();
    let exponent = tlv::get(items, 0xDF04).ok_or("DF04 missing")?.to_vec();
    let given = tlv::get(items, 0xDF03).ok_or("DF03 missing")?;
    let mut data = rid.clone();
    data.push(index);
    data.extend_from_slice(&modulus);
    data.extend_from_slice(&exponent);
    let checksum = crate::crypto::sha1(&data);
    if given != checksum {
        return Err(format!(
            "CAPK {} {:02X}: checksum mismatch",
            hex::encode_upper(&rid),
            index
        ));
    }
    if expiry.len() != 8 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "CAPK {} {:02X}: bad expiry",
            hex::encode_upper(&rid),
            index
        ));
    }
    if expiry.as_str() < today {
        return Err(format!(
            "CAPK {} {:02X}: expired {expiry}",
            hex::encode_upper(&rid),
            index
        ));
    }
    Ok(Capk {
        rid,
        index,
        expiry,
        modulus,
        exponent,
        checksum,
    })
}

impl Engine {
    /// Activation (`399`): device SN + token; the platform answers merchant data, timeouts, batch, key pin.
    pub fn activate(&mut self, device_token: &str) -> Result<ActivationResult> {
        if device_token.is_empty() || device_token.len() > 64 {
            return Err(Error::invalid("device_token", "must be 1 to 64 characters"));
        }
        let f62 = tlv::encode(&[
            Tlv::primitive(0xDF41, self.serial.as_bytes().to_vec()),
            Tlv::primitive(0xDF42, device_token.as_bytes().to_vec()),
            Tlv::primitive(0xDF43, crate::SDK_VERSION.as_bytes().to_vec()),
        ]);
        let resp = self.management(
            Dest::Platform,
            800,
            &self.profile.management.activate.clone(),
            Some(f62),
            &[],
            false,
        )?;
        let rc = rc_of(&resp);
        if rc != "00" {
            return Err(rejected("activation", &rc));
        }
        let items = f62_tlvs(&resp, false)?;
        // The host's view of the key family comes first: a terminal of the other family stores nothing.
        let host_family = KeyFamily::from_wire(tlv::get(&items, 0xDF57)).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidResponse,
                "activation: DF57 (key family) is neither SM nor TDES",
            )
        })?;
        if host_family != self.key_family() {
            return Err(Error::field(
                ErrorKind::Security,
                "key_family",
                format!(
                    "the host provisions this terminal for the {host_family} key family (DF57) but it is configured \
                     for {}: activation refused, nothing stored",
                    self.key_family()
                ),
            ));
        }
        let merchant_name = tlv::get(&items, 0xDF51)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let timeout = ascii_u32(tlv::get(&items, 0xDF52)).unwrap_or(30);
        let attempts = ascii_u32(tlv::get(&items, 0xDF53)).unwrap_or(self.cfg.reversal_attempts);
        let max_tip = ascii_u32(tlv::get(&items, 0xDF54)).unwrap_or(self.cfg.max_tip_percent);
        let batch = match tlv::get(&items, 0xDF55) {
            Some(v) => ascii_u32(Some(v))
                .or_else(|| hex::encode(v).parse().ok())
                .unwrap_or(1),
            None => self.journal.batch()?,
        };
        let fingerprint = tlv::get(&items, 0xDF56)
            .filter(|v| v.len() == 32)
            .map(hex::encode);
        self.journal
            .set_setting(keys::MERCHANT_NAME, &merchant_name)?;
        self.journal
            .set_setting(keys::HOST_TIMEOUT_S, &timeout.to_string())?;
        self.journal
            .set_setting(keys::HOST_REVERSAL_ATTEMPTS, &attempts.to_string())?;
        self.journal
            .set_setting(keys::HOST_MAX_TIP, &max_tip.to_string())?;
        if let Some(fp) = &fingerprint {
            self.journal.set_setting(keys::HOST_KEY_SHA256, fp)?;
        }
        if (1..=999_999).contains(&batch) {
            self.journal.set_batch(batch)?;
        }
        self.set_flag(keys::ACTIVATED, true)?;
        log::info!("activated: merchant '{merchant_name}', batch {batch:06}");
        Ok(ActivationResult {
            merchant_name,
            batch: self.journal.batch()?,
            response_timeout_s: timeout,
            reversal_attempts: attempts,
            max_tip_percent: max_tip,
            host_key_sha256: fingerprint,
        })
    }

    /// Host RSA key query (`352`, fingerprint checked) -> TMK download (`350`) -> TMK activation (`351`).
    pub fn download_master_key(&mut self) -> Result<MasterKeyResult> {
        self.require_activated()?;
        // 352: the host key.
        let resp = self.management(
            Dest::Platform,
            800,
            &self.profile.management.key_query.clone(),
            None,
            &[],
            false,
        )?;
        let rc = rc_of(&resp);
        if rc != "00" {
            return Err(rejected("host key query", &rc));
        }
        let (rid, index, host_key) = host_key_from_tlvs(&f62_tlvs(&resp, false)?)?;
        if host_key.family() != self.key_family() {
            return Err(Error::new(
                ErrorKind::Security,
                format!(
                    "the host sent a key of the {} family (DF25) but the terminal works in the {} key family",
                    host_key.family(),
                    self.key_family()
                ),
            ));
        }
        let fingerprint = hex::encode(host_key.fingerprint());
        let pinned = match &self.cfg.host_key_sha256 {
            Some(p) => Some(p.to_ascii_lowercase()),
            None => self
                .journal
                .setting(keys::HOST_KEY_SHA256)?
                .map(|s| s.to_ascii_lowercase()),
        };
        match pinned {
            Some(p) if p != fingerprint => {
                return Err(Error::new(
                    ErrorKind::KeyCheckFailed,
                    "the host key does not match the pinned fingerprint",
                ));
            }
            Some(_) => log::info!("host key matches the pinned fingerprint"),
            None => log::warn!("no pinned host key fingerprint: accepting host key {fingerprint}"),
        }

        // 350: R under the host key; the TMK comes back under R.
        let transport = self.security.begin_tmk_download(&host_key)?;
        let f62 = tlv::encode(&[
            Tlv::primitive(0x9F06, rid.clone()),
            Tlv::primitive(0x9F22, index.clone()),
            Tlv::primitive(0xDF23, transport.encrypted_key.clone()),
            Tlv::primitive(0xDF24, transport.check_value.to_vec()),
        ]);
        let resp = self.management(
            Dest::Platform,
            800,
            &self.profile.management.tmk_download.clone(),
            Some(f62),
            &[],
            false,
        )?;
        let rc = rc_of(&resp);
        if rc != "00" {
            return Err(rejected("master key download", &rc));
        }
        let items = f62_tlvs(&resp, false)?;
        let (enc, cv) = tmk_from_tlvs(&items)?;
        let tmk_cv = self.security.receive_tmk(enc, cv)?;

        // 351: activate it.
        let f62 = tlv::encode(&[Tlv::primitive(0xDF22, tmk_cv.to_vec())]);
        let resp = self.management(
            Dest::Platform,
            800,
            &self.profile.management.tmk_activate.clone(),
            Some(f62),
            &[],
            false,
        )?;
        let rc = rc_of(&resp);
        if rc != "00" {
            return Err(rejected("master key activation", &rc));
        }
        self.security.activate_tmk()?;
        self.set_flag(keys::SIGNED_IN, false)?;
        self.set_flag(keys::SIGN_IN_REQUESTED, false)?;
        log::info!(
            "master key active (check value {})",
            hex::encode_upper(tmk_cv)
        );
        Ok(MasterKeyResult {
            tmk_check_value: hex::encode_upper(tmk_cv),
            host_key_sha256: fingerprint,
        })
    }

    /// Sign-in (`004`, gateway): working keys under the TMK, batch adopted.
    pub fn sign_in(&mut self) -> Result<SignInResult> {
        self.require_activated()?;
        if !self.security.has_key(KeySlot::Tmk) {
            return Err(Error::new(
                ErrorKind::NotActivated,
                "no master key: download the master key first",
            ));
        }
        self.set_flag(keys::SIGNED_IN, false)?;
        let resp = self.management(
            Dest::Gateway,
            800,
            &self.profile.management.sign_in.clone(),
            None,
            &[(63, self.profile.subfields.operator.clone().into_bytes())],
            false,
        )?;
        let rc = rc_of(&resp);
        if rc != "00" {
            return Err(rejected("sign-in", &rc));
        }
        let [pik, mak, tdk] = working_keys(&self.profile.subfields, resp.get(62).unwrap_or(&[]))?;
        if let Err(e) = self.security.install_working_keys(&pik, &mak, &tdk) {
            // Keys that do not check leave the terminal signed out.
            self.sign_out("sign-in keys refused")?;
            return Err(e.into());
        }
        let sf = &self.profile.subfields;
        if let Some((_, batch, _)) = resp.get_str(60).and_then(|s| sf.read60(s)) {
            if (1..=999_999).contains(&batch) {
                self.journal.set_batch(batch)?;
            }
        }
        self.set_flag(keys::SIGNED_IN, true)?;
        self.set_flag(keys::SIGN_IN_REQUESTED, false)?;
        let now = self.now();
        let datetime = super::host_datetime(&now, resp.get_str(13), resp.get_str(12));
        let capks_required = self.flag(keys::CAPKS_REQUIRED)?;
        let aids_required = self.flag(keys::AIDS_REQUIRED)?;
        let batch = self.journal.batch()?;
        log::info!("signed in, batch {batch:06}");
        Ok(SignInResult {
            batch,
            datetime,
            capks_required,
            aids_required,
        })
    }

    /// Query (`0820`) pages until complete; returns the list TLVs of every page.
    fn emv_query(&mut self, code: &str) -> Result<Vec<Tlv>> {
        let mut all = Vec::new();
        let mut received = 0usize;
        for _ in 0..MAX_PAGES {
            let f62 = format!("1{:02}", received.min(99)).into_bytes();
            let resp = self.management(Dest::Platform, 820, code, Some(f62), &[], false)?;
            let rc = rc_of(&resp);
            if rc != "00" {
                return Err(rejected("parameter query", &rc));
            }
            let (status, items) = super::query_page(resp.get(62).unwrap_or(&[]))?;
            let entries = items.iter().filter(|t| t.tag == 0x9F06).count();
            received += entries;
            all.extend(items);
            match status {
                b'2' if entries > 0 => continue,
                b'2' => {
                    return Err(Error::new(
                        ErrorKind::InvalidResponse,
                        "query says more but sent no entry",
                    ))
                }
                b'0' | b'1' => return Ok(all),
                other => {
                    return Err(Error::new(
                        ErrorKind::InvalidResponse,
                        format!("query status byte {:?}", other as char),
                    ))
                }
            }
        }
        Err(Error::new(
            ErrorKind::InvalidResponse,
            "parameter query did not end",
        ))
    }

    fn emv_end(&mut self, code: &str) -> Result<()> {
        let resp = self.management(Dest::Platform, 800, code, None, &[], false)?;
        let rc = rc_of(&resp);
        if rc != "00" {
            return Err(rejected("parameter download end", &rc));
        }
        Ok(())
    }

    /// EMV parameters kept in the journal. A stored list that no longer reads is not silently dropped:
    /// it is logged and downloaded again before the next transaction (`required` set).
    fn stored_parameters<T: serde::de::DeserializeOwned>(
        &mut self,
        key: &str,
        required: &str,
    ) -> Result<Vec<T>> {
        let Some(text) = self.journal.setting(key)? else {
            return Ok(Vec::new());
        };
        match serde_json::from_str(&text) {
            Ok(list) => Ok(list),
            Err(e) => {
                log::error!("stored {key} do not read ({e}): downloading them again");
                self.set_flag(required, true)?;
                Ok(Vec::new())
            }
        }
    }

    fn load_parameters(&mut self) -> Result<()> {
        let aids: Vec<AidParams> = self.stored_parameters(keys::AIDS, keys::AIDS_REQUIRED)?;
        let capks: Vec<Capk> = self.stored_parameters(keys::CAPKS, keys::CAPKS_REQUIRED)?;
        if let Some(reader) = self.card_reader.as_mut() {
            reader
                .load_emv_parameters(&aids, &capks)
                .map_err(|e| super::exchange::hal_error(e, "card reader (EMV parameters)"))?;
        }
        Ok(())
    }

    /// CAPK query (`372`) -> download each (`370`), checksum and expiry verified -> end (`371`) -> reader.
    pub fn download_capks(&mut self) -> Result<DownloadResult> {
        self.require_activated()?;
        let list = self.emv_query(&self.profile.management.capk_query.clone())?;
        let today = {
            let n = self.now();
            format!("{:04}{:02}{:02}", n.year, n.month, n.day)
        };
        let mut capks = Vec::new();
        let mut rejected_count = 0u32;
        for entry in entries(list) {
            let Some(rid) = tlv::get(&entry, 0x9F06).map(<[u8]>::to_vec) else {
                continue;
            };
            let Some(index) = tlv::get(&entry, 0x9F22).map(<[u8]>::to_vec) else {
                continue;
            };
            let f62 = tlv::encode(&[
                Tlv::primitive(0x9F06, rid.clone()),
                Tlv::primitive(0x9F22, index.clone()),
            ]);
            let resp = self.management(
                Dest::Platform,
                800,
                &self.profile.management.capk_download.clone(),
                Some(f62),
                &[],
                false,
            )?;
            let rc = rc_of(&resp);
            if rc != "00" {
                return Err(rejected("CAPK download", &rc));
            }
            let items = f62_tlvs(&resp, true)?;
            match capk_from_tlvs(&items, &today) {
                Ok(c) => capks.push(c),
                Err(why) => {
                    log::warn!("CAPK rejected: {why}");
                    rejected_count += 1;
                }
            }
        }
        self.emv_end(&self.profile.management.capk_end.clone())?;
        let json = serde_json::to_string(&capks).map_err(|e| Error::internal(e.to_string()))?;
        self.journal.set_setting(keys::CAPKS, &json)?;
        self.set_flag(keys::CAPKS_REQUIRED, false)?;
        self.load_parameters()?;
        log::info!("{} CAPKs loaded, {} rejected", capks.len(), rejected_count);
        Ok(DownloadResult {
            count: capks.len() as u32,
            rejected: rejected_count,
        })
    }

    /// AID query (`382`) -> download each (`380`) -> end (`381`) -> reader.
    pub fn download_aids(&mut self) -> Result<DownloadResult> {
        self.require_activated()?;
        let list = self.emv_query(&self.profile.management.aid_query.clone())?;
        let mut aids = Vec::new();
        for entry in entries(list) {
            let Some(aid) = tlv::get(&entry, 0x9F06).map(<[u8]>::to_vec) else {
                continue;
            };
            let f62 = tlv::encode(&[Tlv::primitive(0x9F06, aid.clone())]);
            let resp = self.management(
                Dest::Platform,
                800,
                &self.profile.management.aid_download.clone(),
                Some(f62),
                &[],
                false,
            )?;
            let rc = rc_of(&resp);
            if rc != "00" {
                return Err(rejected("AID download", &rc));
            }
            let raw = aid_tlv(resp.get(62).unwrap_or(&[]))?;
            aids.push(AidParams { aid, tlv: raw });
        }
        self.emv_end(&self.profile.management.aid_end.clone())?;
        let json = serde_json::to_string(&aids).map_err(|e| Error::internal(e.to_string()))?;
        self.journal.set_setting(keys::AIDS, &json)?;
        self.set_flag(keys::AIDS_REQUIRED, false)?;
        self.load_parameters()?;
        log::info!("{} AIDs loaded", aids.len());
        Ok(DownloadResult {
            count: aids.len() as u32,
            rejected: 0,
        })
    }

    /// Load the stored EMV parameters into the reader (at start-up).
    pub fn restore_parameters(&mut self) {
        if let Err(e) = self.load_parameters() {
            log::warn!("stored EMV parameters not loaded: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capk_items(today_ok: bool, good_sum: bool) -> Vec<Tlv> {
        let rid = vec![0xA0, 0, 0, 0, 0x03];
        let modulus = vec![0xC1; 64];
        let exponent = vec![0x03];
        let mut data = rid.clone();
        data.push(0x92);
        data.extend_from_slice(&modulus);
        data.extend_from_slice(&exponent);
        let mut sum = crate::crypto::sha1(&data).to_vec();
        if !good_sum {
            sum[0] ^= 1;
        }
        vec![
            Tlv::primitive(0x9F06, rid),
            Tlv::primitive(0x9F22, vec![0x92]),
            Tlv::primitive(
                0xDF05,
                if today_ok {
                    b"20301231".to_vec()
                } else {
                    b"20200101".to_vec()
                },
            ),
            Tlv::primitive(0xDF06, vec![0x01]),
            Tlv::primitive(0xDF07, vec![0x01]),
            Tlv::primitive(0xDF02, modulus),
            Tlv::primitive(0xDF04, exponent),
            Tlv::primitive(0xDF03, sum),
        ]
    }

    #[test]
    fn working_keys_are_three_blocks_of_twenty() {
        let f62: Vec<u8> = (0..60).collect();
        let sf = &crate::acquirer::Profile::cup().subfields;
        let [pik, mak, tdk] = working_keys(sf, &f62).expect("60 bytes");
        assert_eq!(pik.encrypted, (0..16).collect::<Vec<u8>>());
        assert_eq!(mak.check_value, [36, 37, 38, 39]);
        assert_eq!(tdk.encrypted, (40..56).collect::<Vec<u8>>());
        assert!(working_keys(sf, &f62[..59]).is_err());
        assert!(working_keys(sf, &[]).is_err());
    }

    #[test]
    fn capk_checks() {
        let ok = capk_from_tlvs(&capk_items(true, true), "20261125").unwrap();
        assert_eq!(ok.index, 0x92);
        assert!(capk_from_tlvs(&capk_items(true, false), "20261125")
            .unwrap_err()
            .contains("checksum"));
        assert!(capk_from_tlvs(&capk_items(false, true), "20261125")
            .unwrap_err()
            .contains("expired"));
    }
}
