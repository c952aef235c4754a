//! The facade: config + HAL + security module + journal -> one method per operation.

use crate::api::*;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::flows::execute::TxInput;
use crate::flows::kinds::Kind;
use crate::flows::Engine;
use crate::hal::{CancelToken, Hal};
use crate::journal::Journal;
use crate::security::software::SoftwareSecurityModule;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// A terminal. All operations take `&self` (an internal lock serialises them); `cancel` may be called
/// from any thread while an operation waits.
pub struct Terminal {
    inner: Mutex<Engine>,
    cancel: CancelToken,
}

impl Terminal {
    pub fn new(config: Config, hal: Hal) -> Result<Terminal> {
        Self::open(config, hal, None)
    }

    pub fn with_security(
        config: Config,
        hal: Hal,
        security: Box<dyn crate::security::SecurityModule>,
    ) -> Result<Terminal> {
        Self::open(config, hal, Some(security))
    }

    fn open(
        config: Config,
        hal: Hal,
        security: Option<Box<dyn crate::security::SecurityModule>>,
    ) -> Result<Terminal> {
        config.validate()?;
        let profile = std::sync::Arc::new(crate::acquirer::Profile::from_config(
            config.profile.as_ref(),
        )?);
        log::info!(
            "acquirer profile {} (sha256 {})",
            profile.name,
            profile.sha256_hex()
        );
        let serial = match &hal.device {
            Some(d) => d.serial_number(),
            None => config
                .device
                .as_ref()
                .map(|d| d.serial.clone())
                .unwrap_or_default(),
        };
        if serial.is_empty() {
            return Err(Error::invalid(
                "device.serial",
                "device serial number required (config or DeviceInfo)",
            ));
        }
        let seal: Zeroizing<[u8; 32]> = match &config.seal_key {
            Some(h) => {
                let bytes = Zeroizing::new(
                    hex::decode(h)
                        .map_err(|_| Error::invalid("seal_key", "must be 64 hex digits"))?,
                );
                let mut k = Zeroizing::new([0u8; 32]);
                k.copy_from_slice(&bytes);
                k
            }
            None if config.production => {
                // The derived key below is computable by anyone who knows the TID and serial number: a production
                // terminal must be given a key the platform holds (Android Keystore, a secure element, a TEE).
                return Err(Error::invalid(
                    "seal_key",
                    "production is set: a platform-held seal_key (64 hex digits, from a hardware-backed store) is \
                     required; the key derived from TID and serial number is for simulators only",
                ));
            }
            None => {
                log::warn!("no seal_key configured: deriving one from TID and serial number (obfuscation only)");
                let mut data = b"possdk-seal".to_vec();
                data.extend_from_slice(config.tid.as_bytes());
                data.extend_from_slice(serial.as_bytes());
                Zeroizing::new(crate::crypto::sha256(&data))
            }
        };
        let journal = Journal::open(Path::new(&config.journal_path), &seal)?;
        let security = match security {
            Some(s) => s,
            None => Box::new(SoftwareSecurityModule::open_family(
                Some(PathBuf::from(format!("{}.keys", config.journal_path))),
                &seal,
                config.key_family,
            )?),
        };
        let cancel = CancelToken::new();
        let engine = Engine::open(
            config,
            hal,
            security,
            journal,
            cancel.clone(),
            serial,
            profile,
        )?;
        Ok(Terminal {
            inner: Mutex::new(engine),
            cancel,
        })
    }

    fn run<T>(&self, f: impl FnOnce(&mut Engine) -> Result<T>) -> Result<T> {
        let mut engine = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.cancel.reset();
        f(&mut engine)
    }

    /// `run` for a financial operation: an error from before the request was journalled (signed out, an
    /// original that does not apply, ...) says `not_sent`.
    fn run_tx(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<TransactionResult>,
    ) -> Result<TransactionResult> {
        self.run(f)
            .map_err(|e| e.or_outcome(crate::Outcome::NotSent))
    }

    /// Benchmarks and tests only (feature `instrument`, which the shipped libraries never enable): count the
    /// journal's commits from now on and choose `synchronous = FULL` (`durable`, the product's setting) or
    /// `OFF`, so the terminal's own work per operation can be told from the disk's. Returns the counter.
    #[cfg(feature = "instrument")]
    pub fn instrument_journal(
        &self,
        durable: bool,
    ) -> Result<std::sync::Arc<std::sync::atomic::AtomicU64>> {
        self.run(|e| Ok(e.journal_mut().instrument(durable)?))
    }

    /// Stop a waiting operation (card, PIN, QR or host). If the request was already sent, it is reversed.
    pub fn cancel(&self) {
        self.cancel.cancel()
    }

    /// Run a typed request; the typed result (`api::call_json` makes it JSON).
    pub fn execute(&self, request: Request) -> Result<Response> {
        Ok(match request {
            Request::Activate { device_token } => {
                Response::Activation(self.activate(&device_token)?)
            }
            Request::DownloadMasterKey => Response::MasterKey(self.download_master_key()?),
            Request::SignIn => Response::SignIn(self.sign_in()?),
            Request::SignOff => Response::SignOff(self.sign_off()?),
            Request::Echo => Response::Echo(self.echo()?),
            Request::DownloadCapks => Response::Download(self.download_capks()?),
            Request::DownloadAids => Response::Download(self.download_aids()?),
            Request::Sale { amount, payment } => Response::Transaction(self.sale(amount, payment)?),
            Request::Preauth { amount, payment } => {
                Response::Transaction(self.preauth(amount, payment)?)
            }
            Request::Void { stan, card } => Response::Transaction(self.void(stan, card)?),
            Request::Refund {
                amount,
                original,
                card: None,
                qr: true,
            } => Response::Transaction(self.qr_refund(amount, original)?),
            Request::Refund {
                amount,
                original,
                card,
                ..
            } => Response::Transaction(self.refund(amount, original, card)?),
            Request::PreauthVoid {
                amount,
                original,
                card,
            } => Response::Transaction(self.preauth_void(amount, original, card)?),
            Request::PreauthComplete {
                amount,
                original,
                card,
            } => Response::Transaction(self.preauth_complete(amount, original, card)?),
            Request::PreauthCompleteVoid { stan, card } => {
                Response::Transaction(self.preauth_complete_void(stan, card)?)
            }
            Request::Tip { stan, tip } => Response::Transaction(self.tip(stan, tip)?),
            Request::TipVoid { stan } => Response::Transaction(self.tip_void(stan)?),
            Request::Balance { card } => Response::Transaction(self.balance(card)?),
            Request::QrOrder { amount } => Response::Transaction(self.qr_order(amount)?),
            Request::QrQuery { order, voucher } => {
                Response::Transaction(self.qr_query(order, voucher)?)
            }
            Request::QueryDetails { batch } => Response::Details(self.query_details(batch)?),
            Request::Settle => Response::Settlement(self.settle()?),
            Request::Journal { batch } => Response::Journal(self.journal(batch)?),
            Request::Reprint { stan, batch } => Response::Transaction(self.reprint(stan, batch)?),
            Request::Status => Response::Status(self.status()?),
        })
    }

    pub fn activate(&self, device_token: &str) -> Result<ActivationResult> {
        self.run(|e| e.activate(device_token))
    }
    pub fn download_master_key(&self) -> Result<MasterKeyResult> {
        self.run(|e| e.download_master_key())
    }
    pub fn sign_in(&self) -> Result<SignInResult> {
        self.run(|e| e.sign_in())
    }
    /// Sign off at the host; the working keys are erased whatever it answers.
    pub fn sign_off(&self) -> Result<SignOffResult> {
        self.run(|e| e.sign_off())
    }
    /// Echo test: a round trip to the gateway that changes nothing.
    pub fn echo(&self) -> Result<EchoResult> {
        self.run(|e| e.echo())
    }
    pub fn download_capks(&self) -> Result<DownloadResult> {
        self.run(|e| e.download_capks())
    }
    pub fn download_aids(&self) -> Result<DownloadResult> {
        self.run(|e| e.download_aids())
    }
    pub fn sale(&self, amount: u64, payment: Payment) -> Result<TransactionResult> {
        self.pay(Kind::Sale, Kind::QrSale, amount, payment)
    }
    pub fn preauth(&self, amount: u64, payment: Payment) -> Result<TransactionResult> {
        self.pay(Kind::Preauth, Kind::QrPreauth, amount, payment)
    }
    pub fn void(&self, stan: u32, card: Option<CardInput>) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.ensure_signed_in()?;
            let kind = e.kind_for_original(stan, Kind::Void, Kind::QrVoid)?;
            e.transact(
                kind,
                TxInput {
                    original_stan: Some(stan),
                    card,
                    ..Default::default()
                },
            )
        })
    }
    pub fn refund(
        &self,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        self.by_reference(Kind::Refund, Kind::QrRefund, amount, original, card)
    }
    /// A refund of a QR payment (`original.voucher`, or by reference alone where the host allows it,
    /// config `qr.refund_by_reference`; docs/PROTOCOL.md §4.2).
    pub fn qr_refund(&self, amount: u64, original: OriginalRef) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.transact(
                Kind::QrRefund,
                TxInput {
                    amount: Some(amount),
                    original_ref: Some(original),
                    ..Default::default()
                },
            )
        })
    }
    pub fn preauth_void(
        &self,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        self.by_reference(
            Kind::PreauthVoid,
            Kind::QrPreauthVoid,
            amount,
            original,
            card,
        )
    }
    pub fn preauth_complete(
        &self,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        self.by_reference(
            Kind::PreauthComplete,
            Kind::QrComplete,
            amount,
            original,
            card,
        )
    }

    /// A new payment (sale, pre-authorisation) by card or by QR payment code.
    fn pay(
        &self,
        card_kind: Kind,
        qr_kind: Kind,
        amount: u64,
        payment: Payment,
    ) -> Result<TransactionResult> {
        let (kind, input) = match payment {
            Payment::Card(card) => (
                card_kind,
                TxInput {
                    card,
                    ..Default::default()
                },
            ),
            Payment::Qr(qr_code) => (
                qr_kind,
                TxInput {
                    qr_code,
                    ..Default::default()
                },
            ),
        };
        let input = TxInput {
            amount: Some(amount),
            ..input
        };
        self.run_tx(|e| e.transact(kind, input))
    }

    /// A transaction on an original named by reference (refund, pre-auth void, completion): the QR
    /// kind when the original is a QR voucher, else the card kind.
    fn by_reference(
        &self,
        card_kind: Kind,
        qr_kind: Kind,
        amount: u64,
        original: OriginalRef,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        self.run_tx(|e| {
            let kind = if original.voucher.is_some() || e.original_is_qr(&original)? {
                qr_kind
            } else {
                card_kind
            };
            e.transact(
                kind,
                TxInput {
                    amount: Some(amount),
                    original_ref: Some(original),
                    card,
                    ..Default::default()
                },
            )
        })
    }
    pub fn preauth_complete_void(
        &self,
        stan: u32,
        card: Option<CardInput>,
    ) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.ensure_signed_in()?;
            let kind =
                e.kind_for_original(stan, Kind::PreauthCompleteVoid, Kind::QrCompleteVoid)?;
            e.transact(
                kind,
                TxInput {
                    original_stan: Some(stan),
                    card,
                    ..Default::default()
                },
            )
        })
    }
    pub fn tip(&self, stan: u32, tip: u64) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.transact(
                Kind::Tip,
                TxInput {
                    original_stan: Some(stan),
                    tip: Some(tip),
                    ..Default::default()
                },
            )
        })
    }
    pub fn tip_void(&self, stan: u32) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.transact(
                Kind::TipVoid,
                TxInput {
                    original_stan: Some(stan),
                    ..Default::default()
                },
            )
        })
    }
    pub fn balance(&self, card: Option<CardInput>) -> Result<TransactionResult> {
        self.run_tx(|e| {
            e.transact(
                Kind::Balance,
                TxInput {
                    card,
                    ..Default::default()
                },
            )
        })
    }
    /// Merchant-presented QR order: the host's code is shown (QR display, and `qr_payload` in the result)
    /// and its status polled until it is paid, expired or closed; `cancel` closes it at the host.
    pub fn qr_order(&self, amount: u64) -> Result<TransactionResult> {
        self.run_tx(|e| e.qr_order(amount))
    }
    /// One QR status query for a journal QR payment (`order`, its STAN) or a voucher.
    pub fn qr_query(
        &self,
        order: Option<u32>,
        voucher: Option<String>,
    ) -> Result<TransactionResult> {
        self.run_tx(|e| e.qr_query(order, voucher))
    }
    pub fn query_details(&self, batch: Option<u32>) -> Result<DetailQueryResult> {
        self.run(|e| e.query_details(batch))
    }
    pub fn settle(&self) -> Result<SettlementResult> {
        self.run(|e| e.settle())
    }
    pub fn journal(&self, batch: Option<u32>) -> Result<JournalResult> {
        self.run(|e| e.journal_result(batch))
    }
    /// A journal transaction's result and receipt again, marked as a reprint.
    pub fn reprint(&self, stan: u32, batch: Option<u32>) -> Result<TransactionResult> {
        self.run(|e| e.reprint(stan, batch))
    }
    pub fn status(&self) -> Result<StatusResult> {
        self.run(|e| e.status())
    }
}
