//! The structured sales slip (签购单) of a transaction: a merchant copy (商户存根) and a cardholder copy
//! (持卡人存根), each a list of printer lines (text with alignment, bold and double size, and a QR code),
//! in zh-CN (bilingual Chinese and English labels, the default) or English (config `receipt.locale`). The
//! text lines of `TransactionResult.receipt` are the merchant copy rendered as plain text; a `Printer`
//! (hal.rs) receives the lines themselves.

use crate::model::TransactionResult;
use serde::{Deserialize, Serialize};

/// The slip's language (config `receipt.locale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Locale {
    /// Chinese labels with their English in brackets, Chinese transaction types (the CUP default).
    #[default]
    #[serde(rename = "zh-CN")]
    ZhCn,
    #[serde(rename = "en")]
    En,
}

/// Which copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Copy {
    Merchant,
    Cardholder,
}

/// Horizontal placement of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    Left,
    Center,
    Right,
}

/// One printer line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Text {
        text: String,
        align: Align,
        bold: bool,
        /// Double width and height.
        double: bool,
    },
    /// A QR code of `payload` (a QR transaction's voucher), centred.
    Qr { payload: String },
    /// The cardholder's electronic signature (signature.rs: a 1-bit bitmap, rows MSB first, 1 = ink); in
    /// JSON `bits` is hex.
    Signature {
        width: u16,
        height: u16,
        #[serde(serialize_with = "hex_bits")]
        bits: Vec<u8>,
    },
}

fn hex_bits<S: serde::Serializer>(bits: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode_upper(bits))
}

/// One copy of a slip (serialised for the JNI bridge, docs/ANDROID.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slip {
    pub copy: Copy,
    pub lines: Vec<Line>,
}

impl Slip {
    /// Plain text, one string per line (a QR line becomes its caption).
    pub fn text_lines(&self, locale: Locale) -> Vec<String> {
        self.lines
            .iter()
            .map(|l| match l {
                Line::Text { text, .. } => text.clone(),
                Line::Qr { payload } => match locale {
                    Locale::ZhCn => format!("[二维码 QR] {payload}"),
                    Locale::En => format!("[QR] {payload}"),
                },
                Line::Signature { width, height, .. } => match locale {
                    Locale::ZhCn => format!("[电子签名 E-SIGNATURE {width}x{height}]"),
                    Locale::En => format!("[E-SIGNATURE {width}x{height}]"),
                },
            })
            .collect()
    }
}

/// The Chinese transaction type of each kind (交易类型), by flow name.
const ZH_TYPES: &[(&str, &str)] = &[
    ("sale", "消费"),
    ("void", "消费撤销"),
    ("refund", "退货"),
    ("balance", "余额查询"),
    ("preauth", "预授权"),
    ("preauth_void", "预授权撤销"),
    ("preauth_complete", "预授权完成"),
    ("preauth_complete_void", "预授权完成撤销"),
    ("tip", "小费"),
    ("tip_void", "小费撤销"),
    ("qr_sale", "扫码消费"),
    ("qr_void", "扫码消费撤销"),
    ("qr_refund", "扫码退货"),
    ("qr_preauth", "扫码预授权"),
    ("qr_preauth_void", "扫码预授权撤销"),
    ("qr_complete", "扫码预授权完成"),
    ("qr_complete_void", "扫码预授权完成撤销"),
    ("offline_sale", "离线消费"),
    ("qr_order", "主扫消费"),
];

/// 交易类型 of a kind (its English label when the table has none).
pub fn zh_type(kind: &str) -> Option<&'static str> {
    ZH_TYPES.iter().find(|(k, _)| *k == kind).map(|(_, z)| *z)
}

/// What a slip shows besides the result.
pub struct SlipContext<'a> {
    /// The kind's English label (`SALE`, ...).
    pub label: &'a str,
    pub merchant_name: &'a str,
    pub tid: &'a str,
    pub mid: &'a str,
    pub locale: Locale,
    /// The cardholder's electronic signature, printed on the merchant copy in place of the signature line.
    pub signature: Option<&'a crate::signature::SignatureImage>,
}

fn money(fen: u64, locale: Locale) -> String {
    match locale {
        Locale::ZhCn => format!("RMB {}.{:02}", fen / 100, fen % 100),
        Locale::En => format!("CNY {}.{:02}", fen / 100, fen % 100),
    }
}

struct Builder {
    locale: Locale,
    lines: Vec<Line>,
}

impl Builder {
    fn text(&mut self, text: String, align: Align, bold: bool, double: bool) {
        self.lines.push(Line::Text {
            text,
            align,
            bold,
            double,
        });
    }

    /// A `label: value` line; zh-CN shows `中文(ENGLISH): value`.
    fn field(&mut self, zh: &str, en: &str, value: &str) {
        let text = match self.locale {
            Locale::ZhCn => format!("{zh}({en}): {value}"),
            Locale::En => format!("{en}: {value}"),
        };
        self.text(text, Align::Left, false, false);
    }

    fn plain(&mut self, zh: &str, en: &str) {
        let text = match self.locale {
            Locale::ZhCn => zh.to_string(),
            Locale::En => en.to_string(),
        };
        self.text(text, Align::Left, false, false);
    }
}

/// One copy of the slip of a transaction result. Only the masked PAN appears.
pub fn build(r: &TransactionResult, ctx: &SlipContext<'_>, copy: Copy) -> Slip {
    let locale = ctx.locale;
    let mut b = Builder {
        locale,
        lines: Vec::new(),
    };
    let (title, copy_name) = match (locale, copy) {
        (Locale::ZhCn, Copy::Merchant) => ("POS签购单", "商户存根 MERCHANT COPY"),
        (Locale::ZhCn, Copy::Cardholder) => ("POS签购单", "持卡人存根 CARDHOLDER COPY"),
        (Locale::En, Copy::Merchant) => ("POS SALES SLIP", "MERCHANT COPY"),
        (Locale::En, Copy::Cardholder) => ("POS SALES SLIP", "CARDHOLDER COPY"),
    };
    match locale {
        Locale::ZhCn => {
            b.text(title.to_string(), Align::Center, true, true);
            b.text(copy_name.to_string(), Align::Center, true, false);
        }
        Locale::En => b.text(format!("{title} - {copy_name}"), Align::Center, true, false),
    }
    b.field("商户名称", "MERCHANT NAME", ctx.merchant_name);
    b.field("商户编号", "MERCHANT NO", ctx.mid);
    b.field("终端编号", "TERMINAL NO", ctx.tid);
    if let Some(org) = &r.card_org {
        b.field("卡组织", "CARD ORG", org);
    }
    if let Some(p) = &r.masked_pan {
        b.field("卡号", "CARD NO", p);
    }
    if let Some(v) = &r.voucher {
        b.field("扫码凭证", "QR VOUCHER", v);
    }
    let kind = match locale {
        Locale::ZhCn => format!("{}({})", zh_type(&r.kind).unwrap_or(ctx.label), ctx.label),
        Locale::En => ctx.label.to_string(),
    };
    match locale {
        Locale::ZhCn => b.text(
            format!("交易类型(TRANS TYPE): {kind}"),
            Align::Left,
            true,
            false,
        ),
        Locale::En => b.text(format!("TRANS TYPE: {kind}"), Align::Left, false, false),
    }
    match locale {
        Locale::ZhCn => {
            b.field("批次号", "BATCH NO", &format!("{:06}", r.batch));
            b.field("凭证号", "VOUCHER NO", &format!("{:06}", r.stan));
        }
        Locale::En => b.text(
            format!("BATCH NO: {:06}  VOUCHER NO: {:06}", r.batch, r.stan),
            Align::Left,
            false,
            false,
        ),
    }
    if let Some(x) = &r.reference {
        b.field("参考号", "REF NO", x);
    }
    if let Some(x) = &r.auth_code {
        b.field("授权码", "AUTH NO", x);
    }
    b.field("日期/时间", "DATE/TIME", &r.datetime.replace('T', " "));
    if r.kind == "tip" || r.kind == "tip_void" {
        let base = r
            .amount
            .saturating_sub(if r.kind == "tip" { r.tip } else { 0 });
        b.field("原金额", "BASE", &money(base, locale));
        b.field("小费", "TIP", &money(r.tip, locale));
        amount_line(&mut b, r.amount);
    } else if r.kind != "balance" {
        amount_line(&mut b, r.amount + r.tip);
        if r.tip > 0 {
            b.field("含小费", "TIP INCLUDED", &money(r.tip, locale));
        }
    }
    if let Some(bal) = r.balance {
        let sign = if bal < 0 { "-" } else { "" };
        b.field(
            "余额",
            "BALANCE",
            &format!("{sign}{}", money(bal.unsigned_abs(), locale)),
        );
    }
    b.field(
        "结果",
        "RESULT",
        &format!("{} {}", r.response_code, r.message),
    );
    if let Some(v) = &r.voucher {
        b.lines.push(Line::Qr { payload: v.clone() });
    }
    if r.approved && r.kind != "balance" && copy == Copy::Merchant {
        b.text(String::new(), Align::Left, false, false);
        b.plain("持卡人签名(CARDHOLDER SIGNATURE):", "CARDHOLDER SIGNATURE:");
        match ctx.signature {
            Some(img) => b.lines.push(Line::Signature {
                width: img.width,
                height: img.height,
                bits: img.bits.clone(),
            }),
            None => b.text(
                "______________________________".to_string(),
                Align::Left,
                false,
                false,
            ),
        }
        b.plain(
            "本人确认以上交易，同意将其记入本卡账户",
            "I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES",
        );
    }
    Slip {
        copy,
        lines: b.lines,
    }
}

fn amount_line(b: &mut Builder, fen: u64) {
    let text = match b.locale {
        Locale::ZhCn => format!("金额(AMOUNT): {}", money(fen, b.locale)),
        Locale::En => format!("AMOUNT: {}", money(fen, b.locale)),
    };
    b.text(text, Align::Left, true, b.locale == Locale::ZhCn);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(kind: &str) -> TransactionResult {
        TransactionResult {
            outcome: crate::Outcome::Approved,
            approved: true,
            response_code: "00".into(),
            message: "Approved".into(),
            kind: kind.into(),
            stan: 2,
            batch: 1,
            amount: 1234,
            tip: 0,
            reference: Some("112510154502".into()),
            auth_code: Some("A1B2C3".into()),
            masked_pan: Some("622588******6789".into()),
            voucher: None,
            card_org: Some("CUP".into()),
            datetime: "2026-11-25T10:15:45".into(),
            balance: None,
            receipt: vec![],
            qr_state: None,
            qr_payload: None,
        }
    }

    fn ctx(locale: Locale) -> SlipContext<'static> {
        SlipContext {
            label: "SALE",
            merchant_name: "Demo Shop",
            tid: "12345678",
            mid: "123456789012345",
            locale,
            signature: None,
        }
    }

    #[test]
    fn a_signature_replaces_the_signature_line_on_the_merchant_copy() {
        let img = crate::signature::SignatureImage {
            width: 8,
            height: 2,
            bits: vec![0x81, 0x7E],
        };
        let mut c = ctx(Locale::ZhCn);
        c.signature = Some(&img);
        let m = build(&result("sale"), &c, Copy::Merchant);
        assert!(m.lines.contains(&Line::Signature {
            width: 8,
            height: 2,
            bits: vec![0x81, 0x7E]
        }));
        assert!(m
            .text_lines(Locale::ZhCn)
            .contains(&"[电子签名 E-SIGNATURE 8x2]".to_string()));
        let json = serde_json::to_string(&m).unwrap();
        assert!(
            json.contains(r#"{"type":"signature","width":8,"height":2,"bits":"817E"}"#),
            "{json}"
        );
        let h = build(&result("sale"), &c, Copy::Cardholder);
        assert!(!h.lines.iter().any(|l| matches!(l, Line::Signature { .. })));
    }

    #[test]
    fn every_kind_has_its_chinese_type() {
        for d in crate::flows::kinds::KINDS {
            assert!(zh_type(d.name).is_some(), "{} has no 交易类型", d.name);
        }
    }

    #[test]
    fn the_chinese_slip_is_bilingual_with_both_copies() {
        let r = result("sale");
        let m = build(&r, &ctx(Locale::ZhCn), Copy::Merchant);
        let all = m.text_lines(Locale::ZhCn).join("\n");
        for needle in [
            "POS签购单",
            "商户存根 MERCHANT COPY",
            "商户名称(MERCHANT NAME): Demo Shop",
            "卡号(CARD NO): 622588******6789",
            "交易类型(TRANS TYPE): 消费(SALE)",
            "批次号(BATCH NO): 000001",
            "凭证号(VOUCHER NO): 000002",
            "参考号(REF NO): 112510154502",
            "授权码(AUTH NO): A1B2C3",
            "金额(AMOUNT): RMB 12.34",
            "持卡人签名",
        ] {
            assert!(all.contains(needle), "missing {needle} in\n{all}");
        }
        assert!(!all.contains("6225880123456789"));
        // The title is centred, bold and double size; the amount bold.
        assert_eq!(
            m.lines[0],
            Line::Text {
                text: "POS签购单".into(),
                align: Align::Center,
                bold: true,
                double: true
            }
        );
        let c = build(&r, &ctx(Locale::ZhCn), Copy::Cardholder);
        let all = c.text_lines(Locale::ZhCn).join("\n");
        assert!(all.contains("持卡人存根 CARDHOLDER COPY"));
        assert!(
            !all.contains("持卡人签名"),
            "the cardholder copy is not signed"
        );
        let mut v = result("preauth_complete_void");
        v.kind = "preauth_complete_void".into();
        let all = build(&v, &ctx(Locale::ZhCn), Copy::Merchant)
            .text_lines(Locale::ZhCn)
            .join("\n");
        assert!(all.contains("预授权完成撤销"), "{all}");
    }

    #[test]
    fn a_qr_transaction_carries_its_voucher_as_a_qr_line() {
        let mut r = result("qr_sale");
        r.masked_pan = None;
        r.voucher = Some("26112518000000000003".into());
        let s = build(&r, &ctx(Locale::En), Copy::Merchant);
        assert!(s.lines.contains(&Line::Qr {
            payload: "26112518000000000003".into()
        }));
        assert!(s
            .text_lines(Locale::En)
            .contains(&"[QR] 26112518000000000003".to_string()));
    }
}
