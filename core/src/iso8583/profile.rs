//! THE field table: the only place that knows how a field is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    N,
    Z,
    An,
    Ans,
    B,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Fixed,
    LL,
    LLL,
}
/// How the masked rendering shows a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    Clear,
    Pan,
    Hidden,
}
#[derive(Debug)]
pub struct FieldDef {
    pub number: u8,
    pub name: &'static str,
    pub format: Format,
    pub length: Length,
    /// Fixed length or maximum (digits for n/z, bytes otherwise, bits/8 for b).
    pub max: usize,
    /// Fixed n field sent left-aligned (field 22).
    pub left_aligned: bool,
    pub secrecy: Secrecy,
}
pub fn field(number: u8) -> Option<&'static FieldDef> {
    todo!()
}
