//! The transaction table: one row per financial transaction kind (docs/PROTOCOL.md §4).
//! The executor reads a row and never branches on the kind itself; a new kind is a new row.

/// Every financial transaction kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Sale,
    Void,
    Refund,
    Balance,
    Preauth,
    PreauthVoid,
    PreauthComplete,
    PreauthCompleteVoid,
    Tip,
    TipVoid,
    QrSale,
    QrVoid,
    QrRefund,
    QrPreauth,
    QrPreauthVoid,
    QrComplete,
    QrCompleteVoid,
    /// A chip sale the card approved offline (Y1) within the floor limit, delivered as an advice.
    OfflineSale,
    /// Merchant-presented QR: the terminal shows the host's code and polls until paid (flows/qr_order.rs).
    QrOrder,
}

/// How the customer's means of payment reaches the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Means {
    /// A card is presented (reader or inline): 2 14 23 35 36 55, PIN per policy.
    Card,
    /// The customer's payment code is scanned: 59 `A3`, 22 `032`.
    QrCode,
    /// QR transaction on an original: 59 `A4` with the original's voucher, 22 `032`.
    QrVoucher,
    /// Card not present: 2 and 22 repeat the sale's (tips).
    OriginalCard,
    /// Merchant-presented QR: 59 `A5` the terminal's order number, 22 `032`; the host answers the code to
    /// show (docs/PROTOCOL.md §4.10).
    QrPresented,
}

/// Where field 4 comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountRule {
    /// The amount of the request.
    Input,
    /// No field 4 (balance inquiry).
    Absent,
    /// The original's current total, tip included (voids).
    OriginalTotal,
    /// Sale amount + the new tip (tip).
    SalePlusTip,
    /// The sale amount without the tip (tip void).
    SaleAmount,
}

/// How the original transaction is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginalRule {
    None,
    /// Looked up in the journal by STAN (current batch); the row must be one of these kinds.
    ByStan(&'static [Kind]),
    /// Named by reference / auth id / date / batch + STAN, possibly not in the journal; when it is, it is
    /// one of these kinds. The request must name the listed parts of the original.
    ByReference(&'static [Kind], &'static [RefPart]),
}

/// A part of an original named by reference (`original.<part>` in the request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefPart {
    Reference,
    Batch,
    Stan,
    AuthCode,
}

impl RefPart {
    /// The request field that carries it.
    pub fn field(self) -> &'static str {
        match self {
            RefPart::Reference => "original.reference",
            RefPart::Batch => "original.batch",
            RefPart::Stan => "original.stan",
            RefPart::AuthCode => "original.auth_code",
        }
    }
}

/// Safety class of the message (docs/PROTOCOL.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// 0100 / 0200: a pending reversal is recorded before sending.
    Reversible,
    /// 0220: the identical frame is resent until answered.
    Advice,
    /// Neither (balance inquiry).
    Plain,
    /// A merchant-presented QR order: never reversed; an order whose outcome is unknown is queried and
    /// closed (docs/PROTOCOL.md §4.10).
    Order,
}

/// What the terminal does first when a reversible request has no answer that counts (docs/PROTOCOL.md
/// §4.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// Reverse it (0400).
    Reverse,
    /// Ask the host for its status (0800 `391`) and reverse only when it was not paid, or when querying has
    /// failed as §4.11 states.
    QueryFirst,
}

/// What an approved transaction does to its original (journal effects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOriginal {
    None,
    /// Original becomes voided.
    Void,
    /// Amount added to the original's refunded total.
    Refund,
    /// Pre-auth marked completed.
    Complete,
    /// Completion voided and its pre-auth reopened.
    CompleteVoid,
    /// Tip set on the sale.
    Tip,
    /// Tip row voided and the sale's tip cleared.
    TipVoid,
}

/// Field 61 form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F61 {
    None,
    /// Original batch n6 + STAN n6 (void, completion void).
    BatchStan,
    /// Original batch + STAN + MMDD (refund, pre-auth void, completion, tip, tip void).
    BatchStanDate,
}

/// Whether 37 / 38 of the original are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    No,
    /// When the original has one.
    IfKnown,
    /// Must be known (request refused otherwise).
    Required,
}

/// One row of the table.
#[derive(Debug)]
pub struct KindDef {
    pub kind: Kind,
    /// Flow name (journal `kind`, JSON `kind`).
    pub name: &'static str,
    /// Receipt label.
    pub label: &'static str,
    /// Field 60.1 of the CUP profile: how the detail query (§4.9) names a record's kind. The wire
    /// data of a kind (MTI, 3, 25, 60.1, 60.3, delivery class, fields sent) is the acquirer profile's
    /// (docs/PROFILES.md, core/profiles/cup.json).
    pub type_code: &'static str,
    pub means: Means,
    pub amount: AmountRule,
    pub original: OriginalRule,
    /// PIN asked by default (card kinds; the config may override).
    pub pin_default: bool,
    pub on_original: OnOriginal,
    pub f37: Echo,
    pub f38: Echo,
    pub f61: F61,
    /// Field 63 sent in the request.
    pub f63: Option<&'static str>,
    /// Field 48 carries the tip (tip / tip void).
    pub f48_tip: bool,
    /// The answer's field 54 is the balance to report.
    pub f54_balance: bool,
    /// Settlement class (§5): counted as debit / credit when approved.
    pub settle: Settle,
    /// What an unknown outcome leads to first.
    pub unknown: Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    None,
    Debit,
    Credit,
}

use AmountRule as A;
use Echo as E;
use Kind as K;
use Means as M;
use OnOriginal as O;

const SALES: &[Kind] = &[K::Sale];
const QR_SALES: &[Kind] = &[K::QrSale, K::QrOrder];
const PREAUTHS: &[Kind] = &[K::Preauth];
const QR_PREAUTHS: &[Kind] = &[K::QrPreauth];
const COMPLETIONS: &[Kind] = &[K::PreauthComplete];
const QR_COMPLETIONS: &[Kind] = &[K::QrComplete];
const TIPS: &[Kind] = &[K::Tip];

// What a request must name of an original it gives by reference (checked in this order).
use RefPart as R;
const REF: &[RefPart] = &[R::Reference];
// A QR original's voucher comes from the request or the journal (checked when the original is resolved).
const QR_REF: &[RefPart] = &[R::Reference];
const AUTH: &[RefPart] = &[R::Batch, R::Stan, R::AuthCode];
const QR_AUTH: &[RefPart] = &[R::Batch, R::Stan];

#[rustfmt::skip]
pub const KINDS: &[KindDef] = &[
    //        kind                    name                     label                    60.1  means            amount             original                          pin    on original        37            38            61                  63          48     settle
    KindDef { kind: K::Sale,                name: "sale",                  label: "SALE",                 type_code: "22", means: M::Card,         amount: A::Input,         original: OriginalRule::None,                     pin_default: true,  on_original: O::None,         f37: E::No,       f38: E::No,       f61: F61::None,          f63: None,        f48_tip: false, f54_balance: false, settle: Settle::Debit, unknown: Unknown::Reverse },
    KindDef { kind: K::Void,                name: "void",                  label: "VOID",                 type_code: "23", means: M::Card,         amount: A::OriginalTotal, original: OriginalRule::ByStan(SALES),        pin_default: true,  on_original: O::Void,         f37: E::Required, f38: E::IfKnown,  f61: F61::BatchStan,     f63: None,        f48_tip: false, f54_balance: false, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::Refund,              name: "refund",                label: "REFUND",               type_code: "25", means: M::Card,         amount: A::Input,         original: OriginalRule::ByReference(SALES, REF), pin_default: true,  on_original: O::Refund,       f37: E::Required, f38: E::No,       f61: F61::BatchStanDate, f63: Some("CUP"), f48_tip: false, f54_balance: false, settle: Settle::Credit, unknown: Unknown::Reverse },
    KindDef { kind: K::Balance,             name: "balance",               label: "BALANCE INQUIRY",      type_code: "01", means: M::Card,         amount: A::Absent,        original: OriginalRule::None,                     pin_default: true,  on_original: O::None,         f37: E::No,       f38: E::No,       f61: F61::None,          f63: None,        f48_tip: false, f54_balance: true, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::Preauth,             name: "preauth",               label: "PRE-AUTH",             type_code: "10", means: M::Card,         amount: A::Input,         original: OriginalRule::None,                     pin_default: true,  on_original: O::None,         f37: E::No,       f38: E::No,       f61: F61::None,          f63: None,        f48_tip: false, f54_balance: false, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::PreauthVoid,         name: "preauth_void",          label: "PRE-AUTH VOID",        type_code: "11", means: M::Card,         amount: A::Input,         original: OriginalRule::ByReference(PREAUTHS, AUTH),pin_default: true,  on_original: O::Void,         f37: E::No,       f38: E::Required, f61: F61::BatchStanDate, f63: None,        f48_tip: false, f54_balance: false, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::PreauthComplete,     name: "preauth_complete",      label: "PRE-AUTH COMPLETION",  type_code: "20", means: M::Card,         amount: A::Input,         original: OriginalRule::ByReference(PREAUTHS, AUTH),pin_default: true,  on_original: O::Complete,     f37: E::No,       f38: E::Required, f61: F61::BatchStanDate, f63: None,        f48_tip: false, f54_balance: false, settle: Settle::Debit, unknown: Unknown::Reverse },
    KindDef { kind: K::PreauthCompleteVoid, name: "preauth_complete_void", label: "COMPLETION VOID",      type_code: "21", means: M::Card,         amount: A::OriginalTotal, original: OriginalRule::ByStan(COMPLETIONS),  pin_default: true,  on_original: O::CompleteVoid, f37: E::Required, f38: E::IfKnown,  f61: F61::BatchStan,     f63: None,        f48_tip: false, f54_balance: false, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::Tip,                 name: "tip",                   label: "TIP",                  type_code: "34", means: M::OriginalCard, amount: A::SalePlusTip,   original: OriginalRule::ByStan(SALES),        pin_default: false, on_original: O::Tip,          f37: E::Required, f38: E::IfKnown,  f61: F61::BatchStanDate, f63: None,        f48_tip: true,  f54_balance: false, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::TipVoid,             name: "tip_void",              label: "TIP VOID",             type_code: "35", means: M::OriginalCard, amount: A::SaleAmount,    original: OriginalRule::ByStan(TIPS),         pin_default: false, on_original: O::TipVoid,      f37: E::Required, f38: E::IfKnown,  f61: F61::BatchStanDate, f63: None,        f48_tip: true,  f54_balance: false, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::QrSale,              name: "qr_sale",               label: "QR SALE",              type_code: "22", means: M::QrCode,       amount: A::Input,         original: OriginalRule::None,                     pin_default: false, on_original: O::None,         f37: E::No,       f38: E::No,       f61: F61::None,          f63: None,        f48_tip: false, f54_balance: false, settle: Settle::Debit, unknown: Unknown::QueryFirst },
    KindDef { kind: K::QrVoid,              name: "qr_void",               label: "QR VOID",              type_code: "23", means: M::QrVoucher,    amount: A::OriginalTotal, original: OriginalRule::ByStan(QR_SALES),     pin_default: false, on_original: O::Void,         f37: E::Required, f38: E::IfKnown,  f61: F61::BatchStan,     f63: None,        f48_tip: false, f54_balance: false, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::QrRefund,            name: "qr_refund",             label: "QR REFUND",            type_code: "25", means: M::QrVoucher,    amount: A::Input,         original: OriginalRule::ByReference(QR_SALES, QR_REF),pin_default: false, on_original: O::Refund,       f37: E::Required, f38: E::No,       f61: F61::BatchStanDate, f63: None,        f48_tip: false, f54_balance: false, settle: Settle::Credit, unknown: Unknown::Reverse },
    KindDef { kind: K::QrPreauth,           name: "qr_preauth",            label: "QR PRE-AUTH",          type_code: "10", means: M::QrCode,       amount: A::Input,         original: OriginalRule::None,                     pin_default: false, on_original: O::None,         f37: E::No,       f38: E::No,       f61: F61::None,          f63: None,        f48_tip: false, f54_balance: false, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::QrPreauthVoid,       name: "qr_preauth_void",       label: "QR PRE-AUTH VOID",     type_code: "11", means: M::QrVoucher,    amount: A::Input,         original: OriginalRule::ByReference(QR_PREAUTHS, QR_AUTH), pin_default: false, on_original: O::Void,     f37: E::No,       f38: E::IfKnown,  f61: F61::BatchStanDate, f63: None,        f48_tip: false, f54_balance: false, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::QrComplete,          name: "qr_complete",           label: "QR COMPLETION",        type_code: "20", means: M::QrVoucher,    amount: A::Input,         original: OriginalRule::ByReference(QR_PREAUTHS, QR_AUTH), pin_default: false, on_original: O::Complete, f37: E::No,       f38: E::IfKnown,  f61: F61::BatchStanDate, f63: None,        f48_tip: false, f54_balance: false, settle: Settle::Debit, unknown: Unknown::Reverse },
    KindDef { kind: K::QrCompleteVoid,      name: "qr_complete_void",      label: "QR COMPLETION VOID",   type_code: "21", means: M::QrVoucher,    amount: A::OriginalTotal, original: OriginalRule::ByStan(QR_COMPLETIONS),pin_default: false, on_original: O::CompleteVoid, f37: E::Required, f38: E::IfKnown, f61: F61::BatchStan,  f63: None,        f48_tip: false, f54_balance: false, settle: Settle::None, unknown: Unknown::Reverse },
    KindDef { kind: K::OfflineSale,         name: "offline_sale",          label: "OFFLINE SALE",         type_code: "30", means: M::Card,         amount: A::Input,         original: OriginalRule::None,                     pin_default: false, on_original: O::None,         f37: E::No,       f38: E::No,       f61: F61::None,          f63: None,        f48_tip: false, f54_balance: false, settle: Settle::Debit, unknown: Unknown::Reverse },
    KindDef { kind: K::QrOrder,             name: "qr_order",              label: "QR ORDER",             type_code: "22", means: M::QrPresented,  amount: A::Input,         original: OriginalRule::None,                     pin_default: false, on_original: O::None,         f37: E::No,       f38: E::No,       f61: F61::None,          f63: None,        f48_tip: false, f54_balance: false, settle: Settle::Debit, unknown: Unknown::QueryFirst },
];

/// Kinds a chip card may approve offline (Y1, first GENERATE AC answering a TC) within the floor limit, and
/// the row such a transaction is then recorded and advised as (docs/PROTOCOL.md §8.7).
pub const OFFLINE_TWINS: &[(Kind, Kind)] = &[(Kind::Sale, Kind::OfflineSale)];

/// The row of a kind. The table lists the kinds in declaration order (tested), so the kind is its index:
/// every kind has its row, and no kind can fall back to another's.
pub fn def(kind: Kind) -> &'static KindDef {
    let d = &KINDS[kind as usize];
    debug_assert_eq!(d.kind, kind);
    d
}

/// The row for a flow name (`sale`, `qr_void`, ...).
pub fn by_name(name: &str) -> Option<&'static KindDef> {
    KINDS.iter().find(|d| d.name == name)
}

impl KindDef {
    pub fn is_qr(&self) -> bool {
        matches!(
            self.means,
            Means::QrCode | Means::QrVoucher | Means::QrPresented
        )
    }
}

/// Kind name for a 60.1 type code as the detail query reports it.
pub fn name_for_type(type_code: &str, qr: bool) -> Option<&'static str> {
    KINDS
        .iter()
        .find(|d| d.type_code == type_code && d.is_qr() == qr)
        .or_else(|| KINDS.iter().find(|d| d.type_code == type_code))
        .map(|d| d.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_exactly_one_row_and_unique_name() {
        let all = [
            K::Sale,
            K::Void,
            K::Refund,
            K::Balance,
            K::Preauth,
            K::PreauthVoid,
            K::PreauthComplete,
            K::PreauthCompleteVoid,
            K::Tip,
            K::TipVoid,
            K::QrSale,
            K::QrVoid,
            K::QrRefund,
            K::QrPreauth,
            K::QrPreauthVoid,
            K::QrComplete,
            K::QrCompleteVoid,
            K::OfflineSale,
            K::QrOrder,
        ];
        assert_eq!(KINDS.len(), all.len());
        for (i, d) in KINDS.iter().enumerate() {
            assert_eq!(d.kind as usize, i, "{} out of order", d.name);
        }
        for k in all {
            assert_eq!(KINDS.iter().filter(|d| d.kind == k).count(), 1, "{k:?}");
            assert_eq!(def(k).kind, k);
            assert_eq!(by_name(def(k).name).map(|d| d.kind), Some(k));
        }
    }

    #[test]
    fn qr_kinds_ask_no_pin() {
        for d in KINDS {
            assert_eq!(d.type_code.len(), 2);
            if d.is_qr() {
                assert!(!d.pin_default, "{}", d.name);
            }
        }
    }

    #[test]
    fn detail_types_map_back() {
        assert_eq!(name_for_type("22", false), Some("sale"));
        assert_eq!(name_for_type("22", true), Some("qr_sale"));
        assert_eq!(name_for_type("34", true), Some("tip"));
        assert_eq!(name_for_type("99", false), None);
    }
}
