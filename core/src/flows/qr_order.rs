//! QR payments whose outcome the terminal learns by asking (docs/PROTOCOL.md §4.10, §4.11): the
//! merchant-presented order (the terminal shows the host's code and polls its status until it is paid,
//! expired or closed), the QR status query, the order close, and the query that goes before the reversal
//! of a customer-presented QR payment whose outcome is unknown.
//!
//! Which kinds are orders (the merchant-presented means, `Means::QrPresented`, whose profile rows have
//! delivery `order`: the profile loader holds the two together) and which are queried before they are
//! reversed (`Unknown::QueryFirst`) are columns of kinds.rs and the profile; nothing here names a kind
//! but the order op itself.

use super::build::{self, qr_get, qr_tlv, Prepared};
use super::execute::Reply;
use super::kinds::{self, Kind, KindDef, Means, Unknown, KINDS};
use super::{digits, rc_of, transport_error, validate_echo, Dest, Engine};
use crate::error::{Error, ErrorKind, Outcome, Result};
use crate::hal::{CancelToken, Event, QrShow, TransportError};
use crate::iso8583::{Message, Mti};
use crate::journal::{PendingReversal, TxOutcome, TxRecord, TxState};
use crate::model::TransactionResult;
use std::time::{Duration, Instant};

/// Field 39 of a customer-presented QR payment the customer is still confirming in the wallet
/// (**private**, docs/PROTOCOL.md §4.11): its outcome is learnt by querying.
pub const PAYING_CODE: &str = "Q0";

/// A QR payment's state at the host (59 `A6` of a status query or close answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrState {
    /// `W`: the order's code is waiting to be scanned.
    Waiting,
    /// `U`: the customer scanned it and is confirming (entering the wallet password).
    Paying,
    /// `P`: paid.
    Paid,
    /// `N`: the payment failed or was refused; nothing was taken.
    NotPaid,
    /// `C`: closed before it was paid.
    Closed,
    /// `E`: expired before it was paid.
    Expired,
    /// 39 `25`: the host has no such payment (the request never arrived).
    NotFound,
}

impl QrState {
    fn from_code(code: &str) -> Option<QrState> {
        Some(match code {
            "W" => QrState::Waiting,
            "U" => QrState::Paying,
            "P" => QrState::Paid,
            "N" => QrState::NotPaid,
            "C" => QrState::Closed,
            "E" => QrState::Expired,
            _ => return None,
        })
    }

    /// The name the app sees (`qr_state`, the `qr_polling` event).
    pub fn name(self) -> &'static str {
        match self {
            QrState::Waiting => "waiting",
            QrState::Paying => "paying",
            QrState::Paid => "paid",
            QrState::NotPaid => "not_paid",
            QrState::Closed => "closed",
            QrState::Expired => "expired",
            QrState::NotFound => "not_found",
        }
    }

    /// No later query can change it.
    pub fn is_final(self) -> bool {
        !matches!(self, QrState::Waiting | QrState::Paying)
    }

    fn text(self) -> &'static str {
        match self {
            QrState::Waiting => "QR code waiting to be scanned",
            QrState::Paying => "customer is paying",
            QrState::Paid => "Approved",
            QrState::NotPaid => "QR payment not made",
            QrState::Closed => "QR order closed, nothing paid",
            QrState::Expired => "QR order expired, nothing paid",
            QrState::NotFound => "the host has no such QR payment",
        }
    }
}

/// The host has no order for a request it never received: nothing was created, nothing can be paid.
fn not_created(stan: u32) -> Error {
    Error::new(
        ErrorKind::HostRejected,
        format!("the host has no QR order {stan:06}: nothing was created"),
    )
    .with_outcome(Outcome::NotSent)
    .or_stan(stan)
}

/// A status query or close answer that counts.
pub(crate) struct QrStatus {
    pub state: QrState,
    pub resp: Message,
}

/// How a query or close names the payment: the original's batch and STAN (field 61) and its voucher (59
/// `A4`), whichever are known.
#[derive(Debug, Clone, Default)]
pub(crate) struct QrTarget {
    pub batch_stan: Option<(u32, u32)>,
    pub voucher: Option<String>,
}

impl QrTarget {
    fn of(row: &TxRecord) -> QrTarget {
        QrTarget {
            batch_stan: Some((row.batch, row.stan)),
            voucher: row.voucher.clone(),
        }
    }
}

/// Whether a kind is an order: merchant-presented, delivery `order` in every profile that carries it
/// (acquirer/mod.rs refuses anything else), so a journal row is an order whatever profile wrote it.
fn is_order(d: &KindDef) -> bool {
    d.means == Means::QrPresented
}

/// The kinds whose pending rows are open orders (resolved by a status query, never failed as orphans).
pub(crate) fn open_order_kinds() -> Vec<&'static str> {
    KINDS
        .iter()
        .filter(|d| is_order(d))
        .map(|d| d.name)
        .collect()
}

/// Which 0800 a QR status message is: 60.3 is the profile's `management.qr_query` (`391`) or
/// `management.qr_close` (`392`), both **private** (docs/PROTOCOL.md §4.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QrAsk {
    Query,
    Close,
}

/// A decision of the query that goes before a reversal.
pub(crate) enum BeforeReversal {
    /// The host says it was paid: recorded approved, the reversal is dropped.
    Paid,
    /// Send the reversal.
    Reverse,
}

impl Engine {
    /// One status query (`391`) or close (`392`): 0800 to the gateway, MAC'd, never cancelled by the app
    /// (it settles where money stands). An answer that counts has the echoes, a 39, and when 39 is `00` a
    /// MAC that verifies and a 59 `A6`; 39 `25` is `NotFound`; any other 39 is an error.
    pub(crate) fn qr_status(&mut self, ask: QrAsk, target: &QrTarget) -> Result<QrStatus> {
        // 60.3 from the profile's management table (`qr_query`, `qr_close`).
        let code = match ask {
            QrAsk::Query => self.profile.management.qr_query.clone(),
            QrAsk::Close => self.profile.management.qr_close.clone(),
        };
        let batch = self.journal.batch()?;
        let stan = self.journal.next_stan()?;
        let mut msg = Message::new(Mti(800));
        msg.set_str(11, &digits(u64::from(stan), 6));
        msg.set_str(41, &self.cfg.tid.clone());
        msg.set_str(42, &self.cfg.mid.clone());
        if let Some(v) = &target.voucher {
            msg.set_str(59, &qr_tlv("A4", v));
        }
        let sf = &self.profile.subfields;
        msg.set_str(60, &sf.field60("00", batch, &code, None));
        if let Some((b, s)) = target.batch_stan {
            msg.set_str(61, &sf.field61(b, s, None));
        }
        let frame = self.encode(Dest::Gateway, &mut msg, true)?;
        let never = CancelToken::new();
        let raw = self
            .exchange_raw(Dest::Gateway, &frame, &never)
            .map_err(|e| transport_error(&e))?;
        let resp = self.decode(&raw)?;
        validate_echo(&msg, &resp.message, &[11, 41, 42], true)?;
        let rc = rc_of(&resp.message);
        if rc == "00" && !self.response_mac_ok(&raw, &resp.message) {
            self.sign_out("QR status answer MAC invalid")?;
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                "QR status answer MAC invalid; sign in again",
            ));
        }
        self.note_header(&resp.header)?;
        let state = match rc.as_str() {
            "00" => resp
                .message
                .get_str(59)
                .and_then(|f| qr_get(f, "A6"))
                .and_then(|s| QrState::from_code(&s))
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidResponse,
                        "QR status answer without a valid 59 A6",
                    )
                })?,
            "25" => QrState::NotFound,
            "" => {
                return Err(Error::new(
                    ErrorKind::InvalidResponse,
                    "QR status answer without field 39",
                ))
            }
            other => return Err(super::rejected("QR status query", other)),
        };
        Ok(QrStatus {
            state,
            resp: resp.message,
        })
    }

    /// Record a final state the host gave for a journal row: paid is approved (37, 38, 59 `A4`, 12, 13 of
    /// the answer) and ends any reversal owed for it; the other final states are declined (`not_found`:
    /// failed, the host never had it). Pending states change nothing.
    fn record_qr_state(&mut self, row: &TxRecord, st: &QrStatus) -> Result<()> {
        let outcome = match st.state {
            QrState::Waiting | QrState::Paying => return Ok(()),
            QrState::Paid => self.outcome_of(&st.resp, row.voucher.as_deref(), None),
            QrState::NotPaid => TxOutcome {
                state: Some(TxState::Declined),
                // The payment's own code when the host gives it (59 `A9`), else "do not honour".
                response_code: Some(
                    st.resp
                        .get_str(59)
                        .and_then(|f| qr_get(f, "A9"))
                        .filter(|c| c.len() == 2 && c != "00")
                        .unwrap_or_else(|| "05".to_string()),
                ),
                ..Default::default()
            },
            QrState::Closed | QrState::Expired => TxOutcome {
                state: Some(TxState::Declined),
                response_code: Some(String::new()),
                ..Default::default()
            },
            QrState::NotFound => TxOutcome {
                state: Some(TxState::Failed),
                response_code: Some("25".to_string()),
                ..Default::default()
            },
        };
        self.journal.record_outcome(row.id, &outcome, &[], true)?;
        log::info!(
            "{} {:06}: the host says {}",
            row.kind,
            row.stan,
            st.state.name()
        );
        Ok(())
    }

    /// The result of a journal row whose QR state is known.
    fn qr_result(
        &mut self,
        def: &KindDef,
        id: i64,
        state: QrState,
        payload: Option<String>,
    ) -> Result<TransactionResult> {
        let mut result = self.tx_result(def, id, None)?;
        if state != QrState::Paid {
            result.message = state.text().to_string();
        }
        result.qr_state = Some(state.name().to_string());
        result.qr_payload = payload;
        Ok(result)
    }

    /// Wait `d`, or less when the app cancels. True when cancelled.
    fn pause(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.cancel.is_cancelled() {
                return true;
            }
            let now = Instant::now();
            if now >= end {
                return false;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
    }

    // ---- merchant-presented order ----

    /// `qr_order`: ask the host for an order and its code, show the code, poll its status until it is
    /// paid, expired or closed; on cancel or after `qr.order_timeout_ms`, close it. The order is journalled
    /// before it is sent; one whose outcome stays unknown is resolved before the next transaction.
    pub(crate) fn qr_order(&mut self, amount: u64) -> Result<TransactionResult> {
        self.ensure_signed_in()?;
        build::validate_amount("amount", amount)?;
        self.before_financial()?;
        let def = kinds::def(Kind::QrOrder);
        let prepared = Prepared {
            def,
            amount: Some(amount),
            tip: 0,
            card: None,
            pin_block: None,
            qr_code: None,
            original: None,
        };
        let sent = self.record(&prepared)?;
        let stan = sent.stan;
        self.run_order(def, sent.id, stan, amount, &sent.req, &sent.frame)
            .map_err(|e| e.or_outcome(Outcome::ReversalPending).or_stan(stan))
    }

    fn run_order(
        &mut self,
        def: &'static KindDef,
        id: i64,
        stan: u32,
        amount: u64,
        req: &Message,
        frame: &[u8],
    ) -> Result<TransactionResult> {
        let mut payload = None;
        match self.send_checked(req, frame, Dest::Gateway, true) {
            Reply::Answer { resp, raw, header } => {
                if !self.answer_mac_ok(&raw, &resp) {
                    log::warn!(
                        "{} {stan:06}: answer MAC invalid: querying the order",
                        def.name
                    );
                } else {
                    self.note_header(&header)?;
                    let rc = rc_of(&resp);
                    if rc != "00" {
                        let outcome = self.outcome_of(&resp, None, None);
                        self.journal.record_outcome(id, &outcome, &[], true)?;
                        let result = self.tx_result(def, id, Some(&resp))?;
                        log::info!("{} {stan:06}: refused {rc}", def.name);
                        self.emit(Event::Done {
                            approved: false,
                            response_code: rc,
                        });
                        return Ok(result);
                    }
                    let f59 = resp.get_str(59).unwrap_or("");
                    let voucher = qr_get(f59, "A4");
                    payload = qr_get(f59, "A7").filter(|p| !p.is_empty());
                    let validity = qr_get(f59, "A8")
                        .and_then(|s| s.parse::<u64>().ok())
                        .unwrap_or(0);
                    // The order exists at the host: keep its voucher and reference with the row.
                    self.journal.record_outcome(
                        id,
                        &TxOutcome {
                            voucher,
                            reference: resp
                                .get_str(37)
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty()),
                            host_date: resp.get_str(13).map(str::to_string),
                            host_time: resp.get_str(12).map(str::to_string),
                            ..Default::default()
                        },
                        &[],
                        false,
                    )?;
                    match &payload {
                        Some(p) => {
                            log::info!("{} {stan:06}: order created, showing its code", def.name);
                            if let Some(d) = self.qr_display.as_mut() {
                                let show = QrShow {
                                    payload: p.clone(),
                                    amount,
                                    expires_in: Duration::from_secs(validity),
                                    stan,
                                };
                                if let Err(e) = d.show_qr(&show) {
                                    log::warn!("QR display: {e}");
                                }
                            }
                        }
                        None => log::warn!(
                            "{} {stan:06}: order created without a code (59 A7): closing it",
                            def.name
                        ),
                    }
                }
            }
            Reply::NoAnswer(e) if !e.maybe_sent() => {
                self.record_failed(id)?;
                return Err(transport_error(&e).with_outcome(Outcome::NotSent));
            }
            Reply::NoAnswer(TransportError::Cancelled { .. }) => {
                log::info!("{} {stan:06}: cancelled while sending: closing", def.name);
            }
            Reply::NoAnswer(e) => {
                log::warn!(
                    "{} {stan:06}: {}: querying the order",
                    def.name,
                    transport_error(&e).message
                );
            }
            Reply::Invalid(e) => {
                log::warn!("{} {stan:06}: {}: querying the order", def.name, e.message);
            }
        }
        let result = self.poll_order(def, id, stan, payload.clone());
        if let Some(d) = self.qr_display.as_mut() {
            d.clear_qr();
        }
        let result = result?;
        if let Ok(r) = &result {
            self.emit(Event::Done {
                approved: r.approved,
                response_code: r.response_code.clone(),
            });
        }
        result
    }

    /// Poll until a final state, the app's cancel or the order timeout; then close. `Ok(Err(_))`: the
    /// order ended without payment because the app cancelled it.
    fn poll_order(
        &mut self,
        def: &'static KindDef,
        id: i64,
        stan: u32,
        payload: Option<String>,
    ) -> Result<Result<TransactionResult>> {
        let interval = Duration::from_millis(self.cfg.qr.poll_interval_ms);
        let deadline = Instant::now() + Duration::from_millis(self.cfg.qr.order_timeout_ms);
        // Without a code shown nobody can pay it: one query, then the close.
        let mut cancelled = false;
        let mut poll = 0u32;
        while payload.is_some() || poll == 0 {
            if self.cancel.is_cancelled() {
                cancelled = true;
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
            if self.pause(interval.min(deadline.saturating_duration_since(Instant::now()))) {
                cancelled = true;
                break;
            }
            poll += 1;
            let row = self.order_row(id)?;
            match self.qr_status(QrAsk::Query, &QrTarget::of(&row)) {
                Ok(st) => {
                    self.emit(Event::QrPolling {
                        stan,
                        poll,
                        state: st.state.name().to_string(),
                    });
                    if st.state.is_final() {
                        self.record_qr_state(&row, &st)?;
                        if st.state == QrState::NotFound {
                            return Ok(Err(not_created(stan)));
                        }
                        return Ok(Ok(self.qr_result(def, id, st.state, payload)?));
                    }
                }
                Err(e) => {
                    self.emit(Event::QrPolling {
                        stan,
                        poll,
                        state: "unknown".to_string(),
                    });
                    log::warn!("{} {stan:06}: status query failed: {}", def.name, e.message);
                }
            }
            if payload.is_none() {
                break;
            }
        }
        // Cancelled, timed out, or no code: close it. The answer says where the money is.
        let row = self.order_row(id)?;
        let why = if cancelled {
            "cancelled"
        } else {
            "not paid in time"
        };
        match self.qr_status(QrAsk::Close, &QrTarget::of(&row)) {
            Ok(st) if st.state.is_final() => {
                self.record_qr_state(&row, &st)?;
                if st.state == QrState::NotFound {
                    return Ok(Err(not_created(stan)));
                }
                let result = self.qr_result(def, id, st.state, payload)?;
                if st.state == QrState::Paid {
                    log::info!("{} {stan:06}: closing found it paid", def.name);
                    return Ok(Ok(result));
                }
                if cancelled {
                    return Ok(Err(Error::new(
                        ErrorKind::Cancelled,
                        format!("cancelled: the QR order {stan:06} is {}", st.state.name()),
                    )
                    .with_outcome(result.outcome)
                    .or_stan(stan)));
                }
                Ok(Ok(result))
            }
            Ok(st) => Err(Error::new(
                ErrorKind::HostTimeout,
                format!(
                    "{why}: the host did not close the QR order {stan:06} ({}); it is queried and closed before the next transaction",
                    st.state.name()
                ),
            )
            .with_outcome(Outcome::ReversalPending)),
            Err(e) => Err(Error {
                message: format!(
                    "{why}: closing the QR order {stan:06} failed ({}); it is queried and closed before the next transaction",
                    e.message
                ),
                ..e
            }
            .with_outcome(Outcome::ReversalPending)),
        }
    }

    /// Every open order, oldest kind first.
    fn open_orders(&self) -> Result<Vec<TxRecord>> {
        let mut open = Vec::new();
        for d in KINDS.iter().filter(|d| is_order(d)) {
            open.extend(self.journal.pending_of_kind(d.name)?);
        }
        Ok(open)
    }

    fn order_row(&self, id: i64) -> Result<TxRecord> {
        self.journal
            .get(id)?
            .ok_or_else(|| Error::internal("journal row vanished"))
    }

    /// Before any other financial message and before settlement: every open order (a crash, a lost
    /// answer, a close that failed) is queried, and closed when it is not final. An order that stays open
    /// stops everything else, like an undelivered reversal (docs/PROTOCOL.md §4.10).
    pub(crate) fn resolve_open_orders(&mut self) -> Result<()> {
        for row in self.open_orders()? {
            log::warn!(
                "{} {:06} is open: querying it before anything else",
                row.kind,
                row.stan
            );
            let target = QrTarget::of(&row);
            let st = match self.qr_status(QrAsk::Query, &target) {
                Ok(st) if st.state.is_final() => st,
                Ok(_) => match self.qr_status(QrAsk::Close, &target) {
                    Ok(st) => st,
                    Err(e) => {
                        log::warn!("closing {:06} failed: {}", row.stan, e.message);
                        continue;
                    }
                },
                Err(e) => {
                    log::warn!("querying {:06} failed: {}", row.stan, e.message);
                    continue;
                }
            };
            self.emit(Event::QrPolling {
                stan: row.stan,
                poll: 1,
                state: st.state.name().to_string(),
            });
            self.record_qr_state(&row, &st)?;
        }
        let open = self.open_orders()?;
        if open.is_empty() {
            return Ok(());
        }
        let stans: Vec<String> = open.iter().map(|r| format!("{:06}", r.stan)).collect();
        Err(Error::new(
            ErrorKind::HostTimeout,
            format!(
                "the QR order {} is still open at the host and could not be resolved; nothing else is sent until it is",
                stans.join(", ")
            ),
        ))
    }

    // ---- customer-presented payment with an unknown outcome ----

    /// Before the first attempt of a reversal: for a kind queried first (`Unknown::QueryFirst`), ask the
    /// host. Paid: recorded approved and the reversal dropped. Not paid, not found, closed or expired:
    /// reverse. Still paying: ask again after `qr.poll_interval_ms`, up to `qr.paying_polls` answers, then
    /// reverse. No answer that counts `qr.query_attempts` times in a row: reverse. Once a 0400 has been
    /// tried, the app may have been told `reversal_pending`: from then on it is only reversed
    /// (docs/PROTOCOL.md §4.11).
    pub(crate) fn query_before_reversal(
        &mut self,
        rev: &PendingReversal,
    ) -> Result<BeforeReversal> {
        if rev.attempts > 0 {
            return Ok(BeforeReversal::Reverse);
        }
        let Some(row) = self.journal.get(rev.tx_id)? else {
            return Ok(BeforeReversal::Reverse);
        };
        let queried = kinds::by_name(&row.kind).is_some_and(|d| d.unknown == Unknown::QueryFirst);
        if !queried || row.state != TxState::Pending {
            return Ok(BeforeReversal::Reverse);
        }
        let interval = Duration::from_millis(self.cfg.qr.poll_interval_ms);
        let target = QrTarget::of(&row);
        let (mut failures, mut paying, mut poll) = (0u32, 0u32, 0u32);
        loop {
            poll += 1;
            match self.qr_status(QrAsk::Query, &target) {
                Ok(st) => {
                    failures = 0;
                    self.emit(Event::QrPolling {
                        stan: row.stan,
                        poll,
                        state: st.state.name().to_string(),
                    });
                    match st.state {
                        QrState::Paid => {
                            self.record_qr_state(&row, &st)?;
                            return Ok(BeforeReversal::Paid);
                        }
                        QrState::Waiting | QrState::Paying => {
                            paying += 1;
                            if paying >= self.cfg.qr.paying_polls {
                                log::warn!(
                                    "{} {:06}: still paying after {paying} queries: reversing",
                                    row.kind,
                                    row.stan
                                );
                                return Ok(BeforeReversal::Reverse);
                            }
                        }
                        _ => return Ok(BeforeReversal::Reverse),
                    }
                }
                Err(e) => {
                    failures += 1;
                    log::warn!(
                        "{} {:06}: status query failed ({failures}): {}",
                        row.kind,
                        row.stan,
                        e.message
                    );
                    if failures >= self.cfg.qr.query_attempts {
                        return Ok(BeforeReversal::Reverse);
                    }
                }
            }
            if self.pause(interval) {
                log::info!(
                    "{} {:06}: cancelled while paying: reversing",
                    row.kind,
                    row.stan
                );
                return Ok(BeforeReversal::Reverse);
            }
        }
    }

    /// After a reversible request of a kind queried first had no answer that counts: when the query
    /// found it paid, the result is the approval; otherwise the error stands.
    pub(super) fn paid_after_all(
        &mut self,
        def: &KindDef,
        id: i64,
        err: Error,
    ) -> Result<TransactionResult> {
        if def.unknown == Unknown::QueryFirst {
            if let Some(row) = self.journal.get(id)? {
                if row.state == TxState::Approved {
                    let result = self.qr_result(def, id, QrState::Paid, None)?;
                    log::info!("{} {:06}: paid after all", def.name, row.stan);
                    self.emit(Event::Done {
                        approved: true,
                        response_code: result.response_code.clone(),
                    });
                    return Ok(result);
                }
            }
        }
        Err(err)
    }

    // ---- qr_query ----

    /// `qr_query`: one status query for a QR payment named by the STAN of a journal row (`order`) or by
    /// its voucher. A journal row still pending learns its final state (an open order, or a payment whose
    /// reversal is owed and that turns out paid); otherwise nothing local changes.
    pub(crate) fn qr_query(
        &mut self,
        order: Option<u32>,
        voucher: Option<String>,
    ) -> Result<TransactionResult> {
        self.ensure_signed_in()?;
        let row = match (order, &voucher) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid("voucher", "give order or voucher, not both"))
            }
            (None, None) => return Err(Error::invalid("order", "order or voucher required")),
            (Some(stan), None) => {
                let row = self.row_by_stan(stan, None)?;
                if !kinds::by_name(&row.kind).is_some_and(|d| d.is_qr()) {
                    return Err(Error::invalid(
                        "order",
                        format!("transaction {stan:06} is not a QR payment"),
                    ));
                }
                Some(row)
            }
            (None, Some(v)) => {
                if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(Error::invalid(
                        "voucher",
                        "must be 1 to 64 letters or digits",
                    ));
                }
                let batch = self.journal.batch()?;
                self.journal
                    .list(batch)?
                    .into_iter()
                    .rev()
                    .find(|r| r.voucher.as_deref() == Some(v.as_str()) && r.original_id.is_none())
            }
        };
        let target = match &row {
            Some(r) => QrTarget::of(r),
            None => QrTarget {
                batch_stan: None,
                voucher: voucher.clone(),
            },
        };
        let st = self
            .qr_status(QrAsk::Query, &target)
            .map_err(|e| e.or_outcome(Outcome::NotSent))?;
        self.emit(Event::QrPolling {
            stan: row.as_ref().map(|r| r.stan).unwrap_or(0),
            poll: 1,
            state: st.state.name().to_string(),
        });
        if let Some(r) = &row {
            let def = kinds::by_name(&r.kind)
                .ok_or_else(|| Error::internal("unknown kind in the journal"))?;
            let pending = r.state == TxState::Pending;
            // A reversal already tried may have been promised to the app (`reversal_pending`): it goes.
            let reversal_untried = self
                .journal
                .pending_reversals()?
                .iter()
                .any(|rev| rev.tx_id == r.id && rev.attempts == 0);
            // A pending order takes any final state; a payment whose reversal is owed and untried only
            // "paid" (the reversal itself settles the rest).
            if pending
                && (is_order(def) && st.state.is_final()
                    || st.state == QrState::Paid && reversal_untried)
            {
                self.record_qr_state(r, &st)?;
            }
            let mut result = self.tx_result(def, r.id, None)?;
            result.qr_state = Some(st.state.name().to_string());
            return Ok(result);
        }
        // Not in the journal: report what the host says.
        let paid = st.state == QrState::Paid;
        let resp = &st.resp;
        let outcome = self.outcome_of(resp, voucher.as_deref(), None);
        Ok(TransactionResult {
            outcome: if paid {
                Outcome::Approved
            } else {
                Outcome::Declined
            },
            approved: paid,
            response_code: if paid {
                "00".to_string()
            } else {
                String::new()
            },
            message: st.state.text().to_string(),
            kind: "qr_query".to_string(),
            stan: 0,
            batch: self.journal.batch()?,
            amount: resp.get_str(4).and_then(|a| a.parse().ok()).unwrap_or(0),
            tip: 0,
            reference: outcome.reference,
            auth_code: outcome.auth_code,
            masked_pan: None,
            voucher: outcome.voucher,
            card_org: outcome.card_org,
            datetime: super::host_datetime(
                &self.now(),
                outcome.host_date.as_deref(),
                outcome.host_time.as_deref(),
            ),
            balance: None,
            receipt: Vec::new(),
            qr_state: Some(st.state.name().to_string()),
            qr_payload: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_from_59_a6() {
        for (code, state, name, fin) in [
            ("W", QrState::Waiting, "waiting", false),
            ("U", QrState::Paying, "paying", false),
            ("P", QrState::Paid, "paid", true),
            ("N", QrState::NotPaid, "not_paid", true),
            ("C", QrState::Closed, "closed", true),
            ("E", QrState::Expired, "expired", true),
        ] {
            assert_eq!(QrState::from_code(code), Some(state));
            assert_eq!(state.name(), name);
            assert_eq!(state.is_final(), fin);
        }
        assert_eq!(QrState::from_code("X"), None);
        assert_eq!(QrState::from_code("PP"), None);
        assert!(QrState::NotFound.is_final());
    }

    #[test]
    fn orders_are_the_order_rows_and_only_the_sale_is_queried_first() {
        assert_eq!(open_order_kinds(), vec!["qr_order"]);
        let queried: Vec<&str> = KINDS
            .iter()
            .filter(|d| d.unknown == Unknown::QueryFirst)
            .map(|d| d.name)
            .collect();
        assert_eq!(queried, vec!["qr_sale", "qr_order"]);
        // Card kinds keep their reversal exactly as before.
        assert!(KINDS
            .iter()
            .filter(|d| !d.is_qr())
            .all(|d| d.unknown == Unknown::Reverse));
    }
}
