//! Software security module: keys in zeroizing memory, sealed at rest (AES-256-GCM) under a platform key.
//! OWNER: platform helper.
use super::*;
use std::path::PathBuf;

pub struct SoftwareSecurityModule {
    _store: Option<PathBuf>,
}

impl SoftwareSecurityModule {
    /// `store`: file holding the sealed keys (None: memory only). `seal_key`: 32 bytes from the platform
    /// (Android Keystore, a secure element...). Loads existing sealed keys.
    pub fn open(store: Option<PathBuf>, seal_key: &[u8; 32]) -> Result<Self, SecurityError> {
        todo!()
    }
}
