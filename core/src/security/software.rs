//! Software security module: keys in zeroizing memory, sealed at rest (AES-256-GCM) under a platform key.
//! OWNER: platform helper.
//!
//! Sealed store layout: `MAGIC (8) || crypto::seal(seal key, records, aad = MAGIC)` (nonce 12 || ct || tag 16), where
//! `records` is a sequence of `slot tag (1) || key length (1) || key bytes` (`T` TMK, `P` PIK, `M` MAK, `D` TDK).
//! The file is replaced atomically (temp file, fsync, rename, directory fsync) on every key change. The pending
//! TMK and the transport key R never leave memory.
use super::*;
use crate::crypto::{mac, pin_block, tdes, DesKey};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"POSKEYS1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Length of every key the host sends (double-length TDES; a single-DES MAK arrives as K||K).
const WIRE_KEY_LEN: usize = 16;

pub struct SoftwareSecurityModule {
    store: Option<PathBuf>,
    seal_key: Zeroizing<[u8; 32]>,
    keys: KeySet,
    /// TMK received and verified, unusable until `activate_tmk` (memory only).
    pending_tmk: Option<DesKey>,
    /// Transport key R of a TMK download in progress (memory only).
    transport_key: Option<DesKey>,
}

/// The persistent key slots.
#[derive(Default)]
struct KeySet {
    tmk: Option<DesKey>,
    pik: Option<DesKey>,
    mak: Option<DesKey>,
    tdk: Option<DesKey>,
}

impl KeySet {
    fn get(&self, slot: KeySlot) -> Option<&DesKey> {
        match slot {
            KeySlot::Tmk => self.tmk.as_ref(),
            KeySlot::Pik => self.pik.as_ref(),
            KeySlot::Mak => self.mak.as_ref(),
            KeySlot::Tdk => self.tdk.as_ref(),
        }
    }

    fn entries(&self) -> impl Iterator<Item = (u8, &DesKey)> {
        [
            (b'T', &self.tmk),
            (b'P', &self.pik),
            (b'M', &self.mak),
            (b'D', &self.tdk),
        ]
        .into_iter()
        .filter_map(|(tag, k)| k.as_ref().map(|k| (tag, k)))
    }

    fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(4 * 26));
        for (tag, key) in self.entries() {
            let bytes = key.as_bytes();
            out.push(tag);
            // DesKey holds 8, 16 or 24 bytes: always fits in one byte.
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
        }
        out
    }

    fn deserialize(data: &[u8]) -> Result<KeySet, SecurityError> {
        let mut set = KeySet::default();
        let mut i = 0;
        while i < data.len() {
            let (Some(&tag), Some(&len)) = (data.get(i), data.get(i + 1)) else {
                return Err(SecurityError::Storage("key record truncated".into()));
            };
            let len = usize::from(len);
            let Some(bytes) = data.get(i + 2..i + 2 + len) else {
                return Err(SecurityError::Storage("key record truncated".into()));
            };
            let key = DesKey::from_bytes(bytes)
                .map_err(|e| SecurityError::Storage(format!("stored key: {e}")))?;
            let slot = match tag {
                b'T' => &mut set.tmk,
                b'P' => &mut set.pik,
                b'M' => &mut set.mak,
                b'D' => &mut set.tdk,
                _ => {
                    return Err(SecurityError::Storage(format!(
                        "unknown key record tag {tag:#04x}"
                    )))
                }
            };
            if slot.replace(key).is_some() {
                return Err(SecurityError::Storage("duplicate key record".into()));
            }
            i += 2 + len;
        }
        Ok(set)
    }
}

impl SoftwareSecurityModule {
    /// `store`: file holding the sealed keys (None: memory only). `seal_key`: 32 bytes from the platform
    /// (Android Keystore, a secure element...). Loads existing sealed keys.
    pub fn open(store: Option<PathBuf>, seal_key: &[u8; 32]) -> Result<Self, SecurityError> {
        let seal_key = Zeroizing::new(*seal_key);
        let keys = match &store {
            Some(path) => match fs::read(path) {
                Ok(sealed) => {
                    let sealed = Zeroizing::new(sealed);
                    let plain = unseal(&seal_key, &sealed)?;
                    let keys = KeySet::deserialize(&plain)?;
                    log::debug!("key store loaded ({} keys)", keys.entries().count());
                    keys
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => KeySet::default(),
                Err(e) => {
                    return Err(SecurityError::Storage(format!(
                        "cannot read the key store: {e}"
                    )))
                }
            },
            None => KeySet::default(),
        };
        Ok(SoftwareSecurityModule {
            store,
            seal_key,
            keys,
            pending_tmk: None,
            transport_key: None,
        })
    }

    /// Seal and write `keys` to the store (no-op without a store).
    fn persist(&self, keys: &KeySet) -> Result<(), SecurityError> {
        if let Some(path) = &self.store {
            let plain = keys.serialize();
            let sealed = seal(&self.seal_key, &plain)?;
            write_atomically(path, &sealed)?;
        }
        Ok(())
    }

    /// Persist `keys`, and only then make them the module's keys: a failed write leaves the module as it was.
    fn commit(&mut self, keys: KeySet) -> Result<(), SecurityError> {
        self.persist(&keys)?;
        self.keys = keys;
        Ok(())
    }

    fn key(&self, slot: KeySlot) -> Result<&DesKey, SecurityError> {
        self.keys.get(slot).ok_or(SecurityError::MissingKey(slot))
    }
}

impl fmt::Debug for SoftwareSecurityModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cv = |k: Option<&DesKey>| k.map(|k| hex::encode_upper(k.kcv()));
        f.debug_struct("SoftwareSecurityModule")
            .field("store", &self.store)
            .field("tmk_cv", &cv(self.keys.tmk.as_ref()))
            .field("pik_cv", &cv(self.keys.pik.as_ref()))
            .field("mak_cv", &cv(self.keys.mak.as_ref()))
            .field("tdk_cv", &cv(self.keys.tdk.as_ref()))
            .field("pending_tmk_cv", &cv(self.pending_tmk.as_ref()))
            .field("tmk_download_in_progress", &self.transport_key.is_some())
            .finish()
    }
}

/// Decrypt a 16-byte key under `kek` (TDES-ECB) and verify its check value.
pub(crate) fn unwrap_key(
    kek: &DesKey,
    encrypted: &[u8],
    check_value: &[u8],
    slot: KeySlot,
) -> Result<DesKey, SecurityError> {
    if encrypted.len() != WIRE_KEY_LEN {
        return Err(SecurityError::Crypto(CryptoError::KeyLength(
            encrypted.len(),
        )));
    }
    let clear = Zeroizing::new(tdes::decrypt_ecb(kek, encrypted)?);
    let key = DesKey::from_bytes(&clear)?;
    if !check_value_matches(&key, check_value) {
        log::warn!("check value of the received {slot:?} does not match");
        return Err(SecurityError::KeyCheck(slot));
    }
    Ok(key)
}

/// The CV is the first 4 bytes of the check block; accept 3 to 8 bytes of it (some hosts send 3).
fn check_value_matches(key: &DesKey, check_value: &[u8]) -> bool {
    let block = key.check_block();
    (3..=8).contains(&check_value.len()) && block[..check_value.len()] == *check_value
}

fn seal(seal_key: &[u8; 32], plain: &[u8]) -> Result<Vec<u8>, SecurityError> {
    let sealed = crate::crypto::seal::seal(seal_key, plain, MAGIC)?;
    let mut out = Vec::with_capacity(MAGIC.len() + sealed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn unseal(seal_key: &[u8; 32], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecurityError> {
    if sealed.len() < MAGIC.len() + NONCE_LEN + TAG_LEN || &sealed[..MAGIC.len()] != MAGIC {
        return Err(SecurityError::Storage("not a possdk key store".into()));
    }
    crate::crypto::seal::open(seal_key, &sealed[MAGIC.len()..], MAGIC).map_err(|_| {
        SecurityError::Storage(
            "key store failed authentication (tampered, or another seal key)".into(),
        )
    })
}

/// Temp file in the same directory, fsync, rename over the target, fsync the directory.
fn write_atomically(path: &Path, data: &[u8]) -> Result<(), SecurityError> {
    let io = |what: &str, e: std::io::Error| SecurityError::Storage(format!("{what}: {e}"));
    let file_name = path
        .file_name()
        .ok_or_else(|| SecurityError::Storage("key store path has no file name".into()))?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .map_err(|e| io("cannot create the key store", e))?;
        f.write_all(data)
            .map_err(|e| io("cannot write the key store", e))?;
        f.sync_all()
            .map_err(|e| io("cannot sync the key store", e))?;
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io("cannot replace the key store", e));
    }
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = fs::File::open(dir) {
            if let Err(e) = d.sync_all() {
                log::debug!("key store directory sync failed: {e}");
            }
        }
    }
    Ok(())
}

impl SecurityModule for SoftwareSecurityModule {
    fn begin_tmk_download(
        &mut self,
        host_key: &HostPublicKey,
    ) -> Result<TmkTransport, SecurityError> {
        let mut r = Zeroizing::new([0u8; WIRE_KEY_LEN]);
        crate::crypto::random_bytes(&mut r[..])?;
        let key = DesKey::from_bytes(&r[..])?;
        let encrypted_key = host_key.encrypt_pkcs1v15(&r[..])?;
        let check_value = key.kcv();
        self.transport_key = Some(key);
        self.pending_tmk = None;
        log::debug!("TMK download started");
        Ok(TmkTransport {
            encrypted_key,
            check_value,
        })
    }

    fn receive_tmk(
        &mut self,
        encrypted_tmk: &[u8],
        check_value: &[u8],
    ) -> Result<[u8; 4], SecurityError> {
        // R is single use: consumed whatever the outcome.
        let r = self
            .transport_key
            .take()
            .ok_or(SecurityError::NoTransportKey)?;
        let tmk = unwrap_key(&r, encrypted_tmk, check_value, KeySlot::Tmk)?;
        let cv = tmk.kcv();
        self.pending_tmk = Some(tmk);
        log::debug!(
            "TMK received (pending activation, cv {})",
            hex::encode_upper(cv)
        );
        Ok(cv)
    }

    fn activate_tmk(&mut self) -> Result<(), SecurityError> {
        let tmk = self
            .pending_tmk
            .take()
            .ok_or(SecurityError::NoTransportKey)?;
        let cv = tmk.kcv();
        let mut keys = KeySet {
            tmk: Some(tmk),
            ..KeySet::default()
        };
        if let Err(e) = self.persist(&keys) {
            // Not persisted: nothing changed and the TMK stays pending, so activation can be retried.
            self.pending_tmk = keys.tmk.take();
            return Err(e);
        }
        self.keys = keys;
        log::info!("TMK activated (cv {})", hex::encode_upper(cv));
        Ok(())
    }

    fn install_working_keys(
        &mut self,
        pik: &EncryptedKey,
        mak: &EncryptedKey,
        tdk: &EncryptedKey,
    ) -> Result<(), SecurityError> {
        let tmk = self.key(KeySlot::Tmk)?;
        let new_pik = unwrap_key(tmk, &pik.encrypted, &pik.check_value, KeySlot::Pik)?;
        let new_mak = unwrap_key(tmk, &mak.encrypted, &mak.check_value, KeySlot::Mak)?;
        let new_tdk = unwrap_key(tmk, &tdk.encrypted, &tdk.check_value, KeySlot::Tdk)?;
        let tmk_copy = DesKey::from_bytes(tmk.as_bytes())?;
        self.commit(KeySet {
            tmk: Some(tmk_copy),
            pik: Some(new_pik),
            mak: Some(new_mak),
            tdk: Some(new_tdk),
        })?;
        log::info!("working keys installed");
        Ok(())
    }

    fn has_key(&self, slot: KeySlot) -> bool {
        self.keys.get(slot).is_some()
    }

    fn check_value(&self, slot: KeySlot) -> Option<[u8; 4]> {
        self.keys.get(slot).map(DesKey::kcv)
    }

    fn pin_block(&mut self, pin: &str, pan: &str) -> Result<[u8; 8], SecurityError> {
        let pik = self.key(KeySlot::Pik)?;
        Ok(pin_block::iso0_encrypt(pik, pin, pan)?)
    }

    fn mac(&mut self, data: &[u8]) -> Result<[u8; 8], SecurityError> {
        let mak = self.key(KeySlot::Mak)?;
        Ok(mac::cup_ecb(mak, data))
    }

    fn encrypt_track_block(&mut self, block: &[u8; 8]) -> Result<[u8; 8], SecurityError> {
        let tdk = self.key(KeySlot::Tdk)?;
        let mut out = *block;
        tdes::encrypt_block(tdk, &mut out);
        Ok(out)
    }

    fn clear_working_keys(&mut self) -> Result<(), SecurityError> {
        let tmk = match &self.keys.tmk {
            Some(k) => Some(DesKey::from_bytes(k.as_bytes())?),
            None => None,
        };
        self.commit(KeySet {
            tmk,
            ..KeySet::default()
        })?;
        log::debug!("working keys cleared");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rsa::HostPublicKey;
    use std::sync::atomic::{AtomicU32, Ordering};

    const TMK: &str = "B673E99226D9EAD6378A29AD433EE6FB";
    const SEAL: [u8; 32] = [0x5A; 32];

    fn vectors_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
    }

    fn json(name: &str) -> serde_json::Value {
        let text = fs::read_to_string(vectors_dir().join(name)).expect("vector file");
        serde_json::from_str(&text).expect("vector json")
    }

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    /// A fresh directory under the system temp dir.
    fn temp_dir() -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "possdk-keys-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// The host's side of the TMK download: RSA-decrypt R with the test private key, return DF21 and DF22.
    fn host_wraps_tmk(transport: &TmkTransport, tmk_hex: &str) -> (Vec<u8>, [u8; 4]) {
        use rsa::pkcs8::DecodePrivateKey;
        let der = fs::read(vectors_dir().join("rsa/rsa_priv_pkcs8.der")).expect("private key");
        let private = rsa::PrivateKey::from_pkcs8_der(&der).expect("pkcs8");
        let r = Zeroizing::new(
            private
                .pkcs1v15_decrypt(&transport.encrypted_key)
                .expect("rsa decrypt"),
        );
        assert_eq!(r.len(), 16, "R is 16 bytes");
        let r_key = DesKey::from_bytes(&r).expect("R");
        assert_eq!(r_key.kcv(), transport.check_value, "DF24 is the CV of R");
        let tmk = DesKey::from_hex(tmk_hex).expect("tmk");
        let df21 = tdes::encrypt_ecb(&r_key, tmk.as_bytes()).expect("wrap");
        (df21, tmk.kcv())
    }

    fn host_key() -> HostPublicKey {
        let v = json("rsa/rsa_vectors.json");
        let n = unhex(v["n_hex"].as_str().expect("n_hex"));
        HostPublicKey::new(&n, &[0x01, 0x00, 0x01]).expect("host key")
    }

    /// Field 62 of the golden sign-in response, split into the three keys.
    fn signin_keys() -> (EncryptedKey, EncryptedKey, EncryptedKey) {
        let m = json("messages.json");
        let f62 = unhex(m["signin_response"]["fields"]["62"].as_str().expect("62"));
        assert_eq!(f62.len(), 60);
        let part = |i: usize| {
            let chunk = &f62[i * 20..i * 20 + 20];
            let mut cv = [0u8; 4];
            cv.copy_from_slice(&chunk[16..]);
            EncryptedKey {
                encrypted: chunk[..16].to_vec(),
                check_value: cv,
            }
        };
        (part(0), part(1), part(2))
    }

    /// TMK download + activation of the vectors' TMK.
    fn activated(store: Option<PathBuf>) -> SoftwareSecurityModule {
        let mut sm = SoftwareSecurityModule::open(store, &SEAL).expect("open");
        let transport = sm.begin_tmk_download(&host_key()).expect("begin");
        let (df21, df22) = host_wraps_tmk(&transport, TMK);
        let cv = sm.receive_tmk(&df21, &df22).expect("receive");
        assert_eq!(hex::encode_upper(cv), "72E689DF");
        sm.activate_tmk().expect("activate");
        sm
    }

    fn signed_in(store: Option<PathBuf>) -> SoftwareSecurityModule {
        let mut sm = activated(store);
        let (pik, mak, tdk) = signin_keys();
        sm.install_working_keys(&pik, &mak, &tdk).expect("install");
        sm
    }

    #[test]
    fn tmk_download_is_pending_until_activated() {
        let mut sm = SoftwareSecurityModule::open(None, &SEAL).expect("open");
        assert!(!sm.has_key(KeySlot::Tmk));
        let transport = sm.begin_tmk_download(&host_key()).expect("begin");
        assert_eq!(transport.encrypted_key.len(), 256);
        let (df21, df22) = host_wraps_tmk(&transport, TMK);
        sm.receive_tmk(&df21, &df22).expect("receive");
        // Pending: unusable.
        assert!(!sm.has_key(KeySlot::Tmk));
        assert_eq!(sm.check_value(KeySlot::Tmk), None);
        let (pik, mak, tdk) = signin_keys();
        assert_eq!(
            sm.install_working_keys(&pik, &mak, &tdk),
            Err(SecurityError::MissingKey(KeySlot::Tmk))
        );
        sm.activate_tmk().expect("activate");
        assert!(sm.has_key(KeySlot::Tmk));
        assert_eq!(
            sm.check_value(KeySlot::Tmk)
                .map(hex::encode_upper)
                .as_deref(),
            Some("72E689DF")
        );
        // The pending slot was consumed.
        assert_eq!(sm.activate_tmk(), Err(SecurityError::NoTransportKey));
    }

    #[test]
    fn transport_key_is_fresh_and_single_use() {
        let mut sm = SoftwareSecurityModule::open(None, &SEAL).expect("open");
        assert_eq!(
            sm.receive_tmk(&[0u8; 16], &[0u8; 4]),
            Err(SecurityError::NoTransportKey)
        );
        let a = sm.begin_tmk_download(&host_key()).expect("begin");
        let b = sm.begin_tmk_download(&host_key()).expect("begin");
        assert_ne!(a.check_value, b.check_value, "R must be random");
        let (df21, df22) = host_wraps_tmk(&b, TMK);
        sm.receive_tmk(&df21, &df22).expect("receive");
        assert_eq!(
            sm.receive_tmk(&df21, &df22),
            Err(SecurityError::NoTransportKey)
        );
    }

    #[test]
    fn wrong_tmk_check_value_is_rejected() {
        let mut sm = SoftwareSecurityModule::open(None, &SEAL).expect("open");
        let transport = sm.begin_tmk_download(&host_key()).expect("begin");
        let (df21, mut df22) = host_wraps_tmk(&transport, TMK);
        df22[3] ^= 0x01;
        assert_eq!(
            sm.receive_tmk(&df21, &df22),
            Err(SecurityError::KeyCheck(KeySlot::Tmk))
        );
        assert_eq!(sm.activate_tmk(), Err(SecurityError::NoTransportKey));
        assert!(!sm.has_key(KeySlot::Tmk));
        // Wrong length of DF21 is a typed error too.
        sm.begin_tmk_download(&host_key()).expect("begin");
        assert!(matches!(
            sm.receive_tmk(&df21[..8], &df22),
            Err(SecurityError::Crypto(_))
        ));
    }

    #[test]
    fn working_keys_match_the_vectors() {
        let mut sm = signed_in(None);
        let keys = &json("messages.json")["keys"];
        for (slot, name) in [
            (KeySlot::Pik, "pik"),
            (KeySlot::Mak, "mak"),
            (KeySlot::Tdk, "tdk"),
        ] {
            let expected = DesKey::from_hex(keys[name].as_str().expect("key"))
                .expect("key")
                .kcv();
            assert_eq!(sm.check_value(slot), Some(expected), "{slot:?}");
        }
        // PIN block (crypto.json pinblock_iso0 uses the same PIK).
        let pb = &json("crypto.json")["pinblock_iso0"];
        let block = sm
            .pin_block(
                pb["pin"].as_str().expect("pin"),
                pb["pan"].as_str().expect("pan"),
            )
            .expect("pin block");
        assert_eq!(
            hex::encode_upper(block),
            pb["encrypted_block"].as_str().expect("block")
        );
        // CUP-ECB MAC with the double-length MAK 04F4...
        let cup = json("crypto.json")["cup_ecb_mac"]
            .as_array()
            .expect("cup")
            .iter()
            .find(|v| v["mak"] == "04F4108A1C9B3DB0CD62FD264CABDA10")
            .cloned()
            .expect("vector");
        let mac = sm
            .mac(&unhex(cup["data"].as_str().expect("data")))
            .expect("mac");
        assert_eq!(
            hex::encode_upper(mac),
            cup["mac_hex"].as_str().expect("mac_hex")
        );
        // MAC of the golden sale frame: MTI .. field 63, field 64 is the last 8 bytes.
        let frame = unhex(
            json("messages.json")["sale_swipe_pin_request"]["frame"]
                .as_str()
                .expect("frame"),
        );
        let mac = sm.mac(&frame[13..frame.len() - 8]).expect("mac");
        assert_eq!(mac[..], frame[frame.len() - 8..]);
        // Track block under the TDK 0123...3210: the zero block gives its check block.
        let enc = sm.encrypt_track_block(&[0u8; 8]).expect("track");
        assert_eq!(hex::encode_upper(enc), "08D7B4FB629D0885");
    }

    #[test]
    fn wrong_working_key_check_value_installs_nothing() {
        let mut sm = activated(None);
        let (pik, mut mak, tdk) = signin_keys();
        mak.check_value[0] ^= 0xFF;
        assert_eq!(
            sm.install_working_keys(&pik, &mak, &tdk),
            Err(SecurityError::KeyCheck(KeySlot::Mak))
        );
        for slot in [KeySlot::Pik, KeySlot::Mak, KeySlot::Tdk] {
            assert!(!sm.has_key(slot), "{slot:?} must not be installed");
        }
        assert_eq!(
            sm.mac(b"data"),
            Err(SecurityError::MissingKey(KeySlot::Mak))
        );
        assert_eq!(
            sm.pin_block("1234", "6225880123456789"),
            Err(SecurityError::MissingKey(KeySlot::Pik))
        );
        assert_eq!(
            sm.encrypt_track_block(&[0u8; 8]),
            Err(SecurityError::MissingKey(KeySlot::Tdk))
        );

        // With keys already installed, a bad set leaves the old ones in place.
        let (pik, mak, mut tdk) = signin_keys();
        sm.install_working_keys(&pik, &mak, &tdk).expect("install");
        let before = sm.check_value(KeySlot::Pik);
        tdk.encrypted[0] ^= 0x01;
        assert_eq!(
            sm.install_working_keys(&pik, &mak, &tdk),
            Err(SecurityError::KeyCheck(KeySlot::Tdk))
        );
        assert_eq!(sm.check_value(KeySlot::Pik), before);
        assert!(sm.has_key(KeySlot::Tdk));
    }

    #[test]
    fn activation_and_clear_drop_working_keys() {
        let mut sm = signed_in(None);
        sm.clear_working_keys().expect("clear");
        assert!(sm.has_key(KeySlot::Tmk));
        assert!(
            !sm.has_key(KeySlot::Pik) && !sm.has_key(KeySlot::Mak) && !sm.has_key(KeySlot::Tdk)
        );

        let mut sm = signed_in(None);
        let transport = sm.begin_tmk_download(&host_key()).expect("begin");
        let (df21, df22) = host_wraps_tmk(&transport, "0123456789ABCDEFFEDCBA9876543210");
        sm.receive_tmk(&df21, &df22).expect("receive");
        // Until activation the old TMK and working keys stay usable.
        assert!(sm.has_key(KeySlot::Mak));
        assert_eq!(
            sm.check_value(KeySlot::Tmk)
                .map(hex::encode_upper)
                .as_deref(),
            Some("72E689DF")
        );
        sm.activate_tmk().expect("activate");
        assert_eq!(
            sm.check_value(KeySlot::Tmk)
                .map(hex::encode_upper)
                .as_deref(),
            Some("08D7B4FB")
        );
        assert!(!sm.has_key(KeySlot::Mak));
    }

    #[test]
    fn sealed_store_survives_reopen() {
        let dir = temp_dir();
        let path = dir.join("keys.bin");
        let mac_before = {
            let mut sm = signed_in(Some(path.clone()));
            // A download in progress and a pending TMK are memory only.
            let transport = sm.begin_tmk_download(&host_key()).expect("begin");
            let (df21, df22) = host_wraps_tmk(&transport, "0123456789ABCDEFFEDCBA9876543210");
            sm.receive_tmk(&df21, &df22).expect("receive");
            sm.mac(b"0200 sample body").expect("mac")
        };
        let raw = fs::read(&path).expect("store");
        assert!(
            !raw.windows(16).any(|w| w == unhex(TMK).as_slice()),
            "keys must not be stored in clear"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "store must be private");
        }
        let mut sm = SoftwareSecurityModule::open(Some(path.clone()), &SEAL).expect("reopen");
        assert_eq!(
            sm.check_value(KeySlot::Tmk)
                .map(hex::encode_upper)
                .as_deref(),
            Some("72E689DF")
        );
        assert_eq!(sm.mac(b"0200 sample body").expect("mac"), mac_before);
        assert_eq!(
            sm.activate_tmk(),
            Err(SecurityError::NoTransportKey),
            "pending TMK is not persisted"
        );
        assert_eq!(
            sm.receive_tmk(&[0u8; 16], &[0u8; 4]),
            Err(SecurityError::NoTransportKey)
        );

        sm.clear_working_keys().expect("clear");
        let sm = SoftwareSecurityModule::open(Some(path.clone()), &SEAL).expect("reopen");
        assert!(sm.has_key(KeySlot::Tmk) && !sm.has_key(KeySlot::Mak));
        assert!(!dir.join("keys.bin.tmp").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn tampered_or_foreign_store_is_a_storage_error() {
        let dir = temp_dir();
        let path = dir.join("keys.bin");
        drop(signed_in(Some(path.clone())));
        let good = fs::read(&path).expect("store");

        let other_key = [0xA5u8; 32];
        assert!(matches!(
            SoftwareSecurityModule::open(Some(path.clone()), &other_key),
            Err(SecurityError::Storage(_))
        ));

        for i in [
            0,
            MAGIC.len(),
            MAGIC.len() + NONCE_LEN,
            good.len() / 2,
            good.len() - 1,
        ] {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            fs::write(&path, &bad).expect("write");
            let r = SoftwareSecurityModule::open(Some(path.clone()), &SEAL);
            assert!(matches!(r, Err(SecurityError::Storage(_))), "flip at {i}");
        }
        for bad in [
            Vec::new(),
            good[..20].to_vec(),
            b"not a key store at all, just text".to_vec(),
        ] {
            fs::write(&path, &bad).expect("write");
            assert!(matches!(
                SoftwareSecurityModule::open(Some(path.clone()), &SEAL),
                Err(SecurityError::Storage(_))
            ));
        }
        // A sealed but malformed record set is refused as well.
        let sealed = seal(&SEAL, &[b'X', 16, 0, 0]).expect("seal");
        fs::write(&path, &sealed).expect("write");
        assert!(matches!(
            SoftwareSecurityModule::open(Some(path.clone()), &SEAL),
            Err(SecurityError::Storage(_))
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_store_file_means_no_keys() {
        let dir = temp_dir();
        let sm = SoftwareSecurityModule::open(Some(dir.join("absent.bin")), &SEAL).expect("open");
        assert!(!sm.has_key(KeySlot::Tmk));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn debug_shows_check_values_only() {
        let sm = signed_in(None);
        let text = format!("{sm:?}");
        assert!(text.contains("72E689DF"), "{text}");
        let keys = &json("messages.json")["keys"];
        for name in ["tmk", "pik", "mak", "tdk"] {
            let k = keys[name].as_str().expect("key");
            assert!(
                !text.contains(k) && !text.contains(&k.to_lowercase()),
                "{name} leaked"
            );
        }
    }
}
