//! The one copy of every test constant: the test terminal and device, the test cards, QR payment codes,
//! the fixed keys and the seal key of the tests. possdk-host provisions itself from here by default
//! (docs/PROTOCOL.md §12), so a terminal configured with these values works against it out of the box.
//!
//! None of these values may reach a shipped library; the e2e test `shipped_libraries` checks the built
//! cdylibs for every one of them.

/// Terminal id (field 41) of the test terminal.
pub const TID: &str = "12345678";
/// Merchant id (field 42) of the test terminal.
pub const MID: &str = "123456789012345";
/// Serial number of the test device (activation DF41).
pub const DEVICE_SN: &str = "SN0001";
/// Activation token of the test device (DF42).
pub const DEVICE_TOKEN: &str = "TOKEN0001";

/// An approved QR payment code (18 digits starting `13` or `28`).
pub const QR_CODE: &str = "134567890123456789";
/// A second approved QR payment code (a different payer).
pub const QR_CODE_2: &str = "284567890123456789";
/// A QR payment code the host declines with `51` (every code ending `0051` does).
pub const QR_CODE_DECLINED_51: &str = "280000000000000051";

/// The TMK possdk-host hands out with `fixed_keys` (tests/vectors/messages.json `keys.tmk`).
pub const FIXED_TMK: &str = "B673E99226D9EAD6378A29AD433EE6FB";
/// The PIN key of every fixed-keys sign-in (messages.json `keys.pik`).
pub const FIXED_PIK: &str = "7AC2B361CD68EA5D868CBC85F7AEC454";
/// The MAC key of every fixed-keys sign-in (messages.json `keys.mak`).
pub const FIXED_MAK: &str = "04F4108A1C9B3DB0CD62FD264CABDA10";
/// The track key of every fixed-keys sign-in (messages.json `keys.tdk`).
pub const FIXED_TDK: &str = "0123456789ABCDEFFEDCBA9876543210";

/// The SM4 TMK possdk-host hands an SM-family terminal with `fixed_keys` (tests/vectors/sm.json `sign_in_f62.tmk`).
pub const FIXED_SM_TMK: &str = "3C5A1E9F0B7D24E8C6419A2F5D83B07E";
/// The SM4 PIN key of every fixed-keys sign-in of an SM-family terminal (sm.json `sign_in_f62.pik`).
pub const FIXED_SM_PIK: &str = "7AC2B3618E4F5D09A1C63E2B94F0D857";
/// The SM4 MAC key of every fixed-keys SM sign-in (sm.json `sign_in_f62.mak`).
pub const FIXED_SM_MAK: &str = "04F4108A1C9B3DB0CD62FD264CABDA10";
/// The SM4 track key of every fixed-keys SM sign-in (sm.json `sign_in_f62.tdk`).
pub const FIXED_SM_TDK: &str = "0123456789ABCDEFFEDCBA9876543210";
/// The host SM2 private key (scalar d) possdk-host uses with `fixed_keys` (sm.json
/// `sm2_tmk_download.host_private_key`, the key of tests/vectors/sm2/host_sm2_priv.pem).
pub const FIXED_HOST_SM2_PRIVATE: &str =
    "15A80B77032F5161FA74EF782FB54F6B04CAEC106D951041FA3CF19E207FAC68";

/// Issuer master key for application cryptograms of the test issuer (docs/PROTOCOL.md §8.5): the simulated
/// chip cards compute their ARQC under keys derived from it and possdk-host verifies them with it.
pub const IMK_AC: &str = "0123456789ABCDEFFEDCBA9876543210";

/// RID under which possdk-host publishes its RSA key (0800/352, named again in the 350 TMK download).
pub const HOST_KEY_RID: [u8; 5] = [0xA0, 0x00, 0x00, 0x03, 0x33];
/// Index of the host RSA key under [`HOST_KEY_RID`].
pub const HOST_KEY_INDEX: u8 = 0x01;

/// The key that seals the terminal's key store and PANs at rest in tests (config `seal_key`).
pub const SEAL_KEY_HEX: &str = "8f3a51c2d4e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80";

/// [`SEAL_KEY_HEX`] as bytes, for APIs that take the key itself.
pub fn seal_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    hex::decode_to_slice(SEAL_KEY_HEX, &mut key).expect("SEAL_KEY_HEX is 32 bytes of hex");
    key
}

/// Card organisation from the BIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Org {
    Cup,
    Visa,
}

/// Whether the issuer honours the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardStatus {
    Active,
    /// Declined `41`.
    Lost,
    /// Declined `43`.
    Stolen,
}

impl CardStatus {
    /// The name possdk-host's provisioning uses (`active`, `lost`, `stolen`).
    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::Active => "active",
            CardStatus::Lost => "lost",
            CardStatus::Stolen => "stolen",
        }
    }
}

/// One provisioned test card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestCard {
    pub pan: &'static str,
    pub pin: &'static str,
    /// YYMM
    pub expiry: &'static str,
    pub service_code: &'static str,
    pub org: Org,
    pub status: CardStatus,
    /// Opening balance in fen.
    pub balance: u64,
    /// Card sequence number (chip cards).
    pub psn: Option<&'static str>,
}

impl TestCard {
    pub fn is_chip(&self) -> bool {
        self.psn.is_some()
    }
}

/// Magstripe, approves.
pub const CUP_SWIPE: TestCard = TestCard {
    pan: "6225880123456789",
    pin: "123456",
    expiry: "3012",
    service_code: "101",
    org: Org::Cup,
    status: CardStatus::Active,
    balance: 1_000_000,
    psn: None,
};
/// Magstripe with 1 yuan: anything larger is declined `51`.
pub const CUP_LOW_BALANCE: TestCard = TestCard {
    pan: "6225881111111111",
    pin: "111111",
    expiry: "3012",
    service_code: "101",
    org: Org::Cup,
    status: CardStatus::Active,
    balance: 100,
    psn: None,
};
/// Expired in January 2020: declined `54`.
pub const CUP_EXPIRED: TestCard = TestCard {
    pan: "6225882222222222",
    pin: "222222",
    expiry: "2001",
    service_code: "101",
    org: Org::Cup,
    status: CardStatus::Active,
    balance: 1_000_000,
    psn: None,
};
/// Reported lost: declined `41`.
pub const CUP_LOST: TestCard = TestCard {
    pan: "6225883333333333",
    pin: "333333",
    expiry: "3012",
    service_code: "101",
    org: Org::Cup,
    status: CardStatus::Lost,
    balance: 1_000_000,
    psn: None,
};
/// CUP chip card (contact and contactless).
pub const CUP_CHIP: TestCard = TestCard {
    pan: "6225884444444444",
    pin: "444444",
    expiry: "3012",
    service_code: "201",
    org: Org::Cup,
    status: CardStatus::Active,
    balance: 500_000,
    psn: Some("001"),
};
/// Visa chip card (a foreign card: settled in the foreign totals).
pub const VISA_CHIP: TestCard = TestCard {
    pan: "4761340000000019",
    pin: "1234",
    expiry: "3012",
    service_code: "201",
    org: Org::Visa,
    status: CardStatus::Active,
    balance: 1_000_000,
    psn: Some("001"),
};

/// Every test card, in provisioning order.
pub const ALL: [TestCard; 6] = [
    CUP_SWIPE,
    CUP_LOW_BALANCE,
    CUP_EXPIRED,
    CUP_LOST,
    CUP_CHIP,
    VISA_CHIP,
];

/// The provisioned card with this PAN.
pub fn by_pan(pan: &str) -> Option<&'static TestCard> {
    ALL.iter().find(|c| c.pan == pan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_match_the_provisioning_table() {
        assert_eq!(ALL.len(), 6);
        assert_eq!(by_pan("6225884444444444").map(|c| c.balance), Some(500_000));
        assert_eq!(by_pan("6225881111111111").map(|c| c.balance), Some(100));
        assert!(CUP_CHIP.is_chip() && VISA_CHIP.is_chip() && !CUP_SWIPE.is_chip());
        assert_eq!(CUP_EXPIRED.expiry, "2001");
        assert_eq!(VISA_CHIP.org, Org::Visa);
        assert_eq!(CUP_LOST.status.as_str(), "lost");
        assert!(by_pan("0000").is_none());
    }

    #[test]
    fn keys_are_double_length_and_the_seal_key_is_32_bytes() {
        for k in [
            FIXED_TMK,
            FIXED_PIK,
            FIXED_MAK,
            FIXED_TDK,
            IMK_AC,
            FIXED_SM_TMK,
            FIXED_SM_PIK,
            FIXED_SM_MAK,
            FIXED_SM_TDK,
        ] {
            assert_eq!(hex::decode(k).map(|b| b.len()), Ok(16), "{k}");
        }
        assert_eq!(hex::encode(seal_key()), SEAL_KEY_HEX);
    }

    #[test]
    fn qr_codes_have_the_payment_code_shape() {
        for code in [QR_CODE, QR_CODE_2, QR_CODE_DECLINED_51] {
            assert_eq!(code.len(), 18);
            assert!(code.starts_with("13") || code.starts_with("28"));
        }
        assert!(QR_CODE_DECLINED_51.ends_with("0051"));
    }
}
