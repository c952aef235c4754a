//! Software security module: keys in zeroizing memory, sealed at rest (AES-256-GCM) under a platform key.
//!
//! Both key families (docs/PROTOCOL.md §11): the module is opened in one, TDES or SM, and every key it holds is of
//! that family (TDES keys, or SM4 keys with an SM2 TMK transport).
//!
//! Sealed store layout: `MAGIC (8) || crypto::seal(seal key, records, aad = MAGIC)` (nonce 12 || ct || tag 16), where
//! `records` is a sequence of `slot tag (1) || key length (1) || key bytes` (`T` TMK, `P` PIK, `M` MAK, `D` TDK),
//! preceded for the SM family by the record `F`, 1 byte, `S` (a store without `F` is TDES, as stores written
//! before the SM family were). A store of the other family is refused when the module opens.
//! The file is replaced atomically (temp file, fsync, rename, directory fsync) on every key change. The pending
//! TMK and the transport key R never leave memory. Its tests are core/tests/security_software.rs.
use super::*;
use crate::crypto::sm4::Sm4Key;
use crate::crypto::{mac, pin_block, sm, tdes, DesKey};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"POSKEYS1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Length of every key the host sends (double-length TDES; a single-DES MAK arrives as K||K).
const WIRE_KEY_LEN: usize = 16;
/// The value of the family record `F` for the SM family.
const FAMILY_SM: u8 = b'S';

pub struct SoftwareSecurityModule {
    store: Option<PathBuf>,
    seal_key: Zeroizing<[u8; 32]>,
    family: KeyFamily,
    keys: KeySet,
    /// TMK received and verified, unusable until `activate_tmk` (memory only).
    pending_tmk: Option<Key>,
    /// Transport key R of a TMK download in progress (memory only).
    transport_key: Option<Key>,
}

/// One key of the module's family. Both zeroize on drop.
// A handful of keys live at once; the TDES schedule inline (not boxed) keeps key material off extra heap blocks.
#[allow(clippy::large_enum_variant)]
enum Key {
    Des(DesKey),
    Sm4(Sm4Key),
}

impl Key {
    fn from_bytes(family: KeyFamily, bytes: &[u8]) -> Result<Key, CryptoError> {
        Ok(match family {
            KeyFamily::Tdes => Key::Des(DesKey::from_bytes(bytes)?),
            KeyFamily::Sm => Key::Sm4(Sm4Key::from_bytes(bytes)?),
        })
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Des(k) => k.as_bytes(),
            Key::Sm4(k) => k.as_bytes(),
        }
    }

    fn kcv(&self) -> [u8; 4] {
        match self {
            Key::Des(k) => k.kcv(),
            Key::Sm4(k) => k.kcv(),
        }
    }

    fn duplicate(&self) -> Result<Key, CryptoError> {
        Ok(match self {
            Key::Des(k) => Key::Des(DesKey::from_bytes(k.as_bytes())?),
            Key::Sm4(k) => Key::Sm4(Sm4Key::from_bytes(k.as_bytes())?),
        })
    }

    /// ECB-encrypt one block of the key's cipher (8 bytes TDES, 16 bytes SM4).
    fn encrypt_block(&self, block: &[u8]) -> Result<Vec<u8>, SecurityError> {
        match self {
            Key::Des(k) => {
                let mut b: [u8; 8] = block
                    .try_into()
                    .map_err(|_| CryptoError::DataLength(block.len()))?;
                tdes::encrypt_block(k, &mut b);
                Ok(b.to_vec())
            }
            Key::Sm4(k) => {
                let mut b: [u8; 16] = block
                    .try_into()
                    .map_err(|_| CryptoError::DataLength(block.len()))?;
                k.encrypt_block(&mut b);
                Ok(b.to_vec())
            }
        }
    }
}

/// The persistent key slots.
#[derive(Default)]
struct KeySet {
    tmk: Option<Key>,
    pik: Option<Key>,
    mak: Option<Key>,
    tdk: Option<Key>,
}

impl KeySet {
    fn get(&self, slot: KeySlot) -> Option<&Key> {
        match slot {
            KeySlot::Tmk => self.tmk.as_ref(),
            KeySlot::Pik => self.pik.as_ref(),
            KeySlot::Mak => self.mak.as_ref(),
            KeySlot::Tdk => self.tdk.as_ref(),
        }
    }

    fn entries(&self) -> impl Iterator<Item = (u8, &Key)> {
        [
            (b'T', &self.tmk),
            (b'P', &self.pik),
            (b'M', &self.mak),
            (b'D', &self.tdk),
        ]
        .into_iter()
        .filter_map(|(tag, k)| k.as_ref().map(|k| (tag, k)))
    }

    fn serialize(&self, family: KeyFamily) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(3 + 4 * 26));
        if family == KeyFamily::Sm {
            out.extend_from_slice(&[b'F', 1, FAMILY_SM]);
        }
        for (tag, key) in self.entries() {
            let bytes = key.as_bytes();
            out.push(tag);
            // Keys hold 8, 16 or 24 bytes: always fits in one byte.
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
        }
        out
    }

    /// The records of a store opened in `family`; a store of the other family is refused.
    fn deserialize(data: &[u8], family: KeyFamily) -> Result<KeySet, SecurityError> {
        let stored = match data {
            [b'F', 1, FAMILY_SM, ..] => KeyFamily::Sm,
            [b'F', ..] => return Err(SecurityError::Storage("unknown key family record".into())),
            _ => KeyFamily::Tdes,
        };
        if stored != family {
            return Err(SecurityError::Storage(format!(
                "the key store holds {stored} keys but the terminal is configured for the {family} key family"
            )));
        }
        let mut set = KeySet::default();
        let mut i = if stored == KeyFamily::Sm { 3 } else { 0 };
        while i < data.len() {
            let (Some(&tag), Some(&len)) = (data.get(i), data.get(i + 1)) else {
                return Err(SecurityError::Storage("key record truncated".into()));
            };
            let len = usize::from(len);
            let Some(bytes) = data.get(i + 2..i + 2 + len) else {
                return Err(SecurityError::Storage("key record truncated".into()));
            };
            let key = Key::from_bytes(family, bytes)
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
    /// (Android Keystore, a secure element...). Loads existing sealed keys. The TDES family.
    pub fn open(store: Option<PathBuf>, seal_key: &[u8; 32]) -> Result<Self, SecurityError> {
        Self::open_family(store, seal_key, KeyFamily::Tdes)
    }

    /// [`open`](Self::open) in a given key family; a store that holds keys of the other family is refused.
    pub fn open_family(
        store: Option<PathBuf>,
        seal_key: &[u8; 32],
        family: KeyFamily,
    ) -> Result<Self, SecurityError> {
        let seal_key = Zeroizing::new(*seal_key);
        let keys = match &store {
            Some(path) => match fs::read(path) {
                Ok(sealed) => {
                    let sealed = Zeroizing::new(sealed);
                    let plain = unseal(&seal_key, &sealed)?;
                    let keys = KeySet::deserialize(&plain, family)?;
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
            family,
            keys,
            pending_tmk: None,
            transport_key: None,
        })
    }

    /// Seal and write `keys` to the store (no-op without a store).
    fn persist(&self, keys: &KeySet) -> Result<(), SecurityError> {
        if let Some(path) = &self.store {
            let plain = keys.serialize(self.family);
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

    fn key(&self, slot: KeySlot) -> Result<&Key, SecurityError> {
        self.keys.get(slot).ok_or(SecurityError::MissingKey(slot))
    }
}

impl fmt::Debug for SoftwareSecurityModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cv = |k: Option<&Key>| k.map(|k| hex::encode_upper(k.kcv()));
        f.debug_struct("SoftwareSecurityModule")
            .field("store", &self.store)
            .field("family", &self.family)
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

/// Decrypt a 16-byte key under `kek` in the kek's family (TDES-ECB or SM4-ECB) and verify its check value.
fn unwrap_in_family(
    kek: &Key,
    encrypted: &[u8],
    check_value: &[u8],
    slot: KeySlot,
) -> Result<Key, SecurityError> {
    match kek {
        Key::Des(k) => unwrap_key(k, encrypted, check_value, slot).map(Key::Des),
        Key::Sm4(k) => match sm::unwrap_key(k, encrypted, check_value) {
            Ok(key) => Ok(Key::Sm4(key)),
            Err(CryptoError::CheckValue) => {
                log::warn!("check value of the received {slot:?} does not match");
                Err(SecurityError::KeyCheck(slot))
            }
            Err(e) => Err(e.into()),
        },
    }
}

impl SecurityModule for SoftwareSecurityModule {
    fn key_family(&self) -> KeyFamily {
        self.family
    }

    fn begin_tmk_download(&mut self, host_key: &HostKey) -> Result<TmkTransport, SecurityError> {
        if host_key.family() != self.family {
            return Err(SecurityError::Family(self.family));
        }
        let mut r = Zeroizing::new([0u8; WIRE_KEY_LEN]);
        crate::crypto::random_bytes(&mut r[..])?;
        let key = Key::from_bytes(self.family, &r[..])?;
        let encrypted_key = match host_key {
            HostKey::Rsa(k) => k.encrypt_pkcs1v15(&r[..])?,
            HostKey::Sm2(k) => k.encrypt(&r[..])?,
        };
        let check_value = key.kcv();
        self.transport_key = Some(key);
        self.pending_tmk = None;
        log::debug!("TMK download started ({} family)", self.family);
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
        let tmk = unwrap_in_family(&r, encrypted_tmk, check_value, KeySlot::Tmk)?;
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
        let new_pik = unwrap_in_family(tmk, &pik.encrypted, &pik.check_value, KeySlot::Pik)?;
        let new_mak = unwrap_in_family(tmk, &mak.encrypted, &mak.check_value, KeySlot::Mak)?;
        let new_tdk = unwrap_in_family(tmk, &tdk.encrypted, &tdk.check_value, KeySlot::Tdk)?;
        let tmk_copy = tmk.duplicate()?;
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
        self.keys.get(slot).map(Key::kcv)
    }

    fn pin_block(&mut self, pin: &str, pan: &str) -> Result<Vec<u8>, SecurityError> {
        Ok(match self.key(KeySlot::Pik)? {
            Key::Des(pik) => pin_block::iso0_encrypt(pik, pin, pan)?.to_vec(),
            Key::Sm4(pik) => sm::pin_block_encrypt(pik, pin, pan)?.to_vec(),
        })
    }

    fn mac(&mut self, data: &[u8]) -> Result<[u8; 8], SecurityError> {
        Ok(match self.key(KeySlot::Mak)? {
            Key::Des(mak) => mac::cup_ecb(mak, data),
            Key::Sm4(mak) => sm::cup_sm4_mac(mak, data),
        })
    }

    fn pin_block_in(
        &mut self,
        format: super::PinFormat,
        pin: &str,
        pan: &str,
    ) -> Result<Vec<u8>, SecurityError> {
        match (format, self.key(KeySlot::Pik)?) {
            (super::PinFormat::Iso0, _) => self.pin_block(pin, pan),
            (_, Key::Des(pik)) => Ok(pin_block::encrypt(format, pik, pin, pan)?.to_vec()),
            (_, Key::Sm4(_)) => Err(SecurityError::Storage(format!(
                "the {} PIN block needs a TDES PIK (key_family tdes)",
                format.name()
            ))),
        }
    }

    fn mac_with(
        &mut self,
        alg: super::MacAlgorithm,
        data: &[u8],
    ) -> Result<[u8; 8], SecurityError> {
        match alg {
            super::MacAlgorithm::CupEcb => self.mac(data),
            super::MacAlgorithm::X919 => match self.key(KeySlot::Mak)? {
                Key::Des(mak) => Ok(mac::x9_19(mak, data)?),
                Key::Sm4(_) => Err(SecurityError::Storage(
                    "the X9.19 MAC needs a TDES MAK (key_family tdes)".into(),
                )),
            },
        }
    }

    fn encrypt_track_block(&mut self, block: &[u8]) -> Result<Vec<u8>, SecurityError> {
        self.key(KeySlot::Tdk)?.encrypt_block(block)
    }

    fn clear_working_keys(&mut self) -> Result<(), SecurityError> {
        let tmk = match &self.keys.tmk {
            Some(k) => Some(k.duplicate()?),
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
