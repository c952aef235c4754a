//! A message: MTI + fields. Text fields (n, z, an, ans) hold ASCII (`z` uses 'D' for the separator);
//! b fields hold raw bytes. Values are zeroized on drop (they carry PANs and tracks).
use std::collections::BTreeMap;

/// Message type indicator as its 4 decimal digits (0200 -> Mti(200)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mti(pub u16);
impl Mti {
    pub fn response(self) -> Mti {
        Mti(self.0 + 10)
    }
}
impl std::fmt::Display for Mti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    pub mti: Mti,
    fields: BTreeMap<u8, Vec<u8>>,
}

impl Message {
    pub fn new(mti: Mti) -> Self {
        todo!()
    }
    pub fn set(&mut self, field: u8, value: impl Into<Vec<u8>>) -> &mut Self {
        todo!()
    }
    pub fn set_str(&mut self, field: u8, value: &str) -> &mut Self {
        todo!()
    }
    pub fn get(&self, field: u8) -> Option<&[u8]> {
        todo!()
    }
    /// Text field as &str (None if absent or binary/non-UTF-8).
    pub fn get_str(&self, field: u8) -> Option<&str> {
        todo!()
    }
    pub fn remove(&mut self, field: u8) -> Option<Vec<u8>> {
        todo!()
    }
    pub fn has(&self, field: u8) -> bool {
        todo!()
    }
    pub fn fields(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.fields.iter().map(|(k, v)| (*k, v.as_slice()))
    }
}
