//! One rich error inside, a small public kind with stable codes outside.
//! Messages never carry a PIN, key, full PAN or track data.

use std::fmt;
use std::sync::Arc;

/// Defines [`ErrorKind`] from one table: each kind once, with its stable number (the C ABI's `pos_result`),
/// its snake_case code (the JSON API's `error.code`) and a one-line description (`pos_result_message`).
/// Every bridge and the docs' error tables are checked against this table.
macro_rules! error_kinds {
    ($(
        $(#[$attr:meta])*
        $kind:ident = $number:literal, $code:literal, $message:literal;
    )*) => {
        /// Public error kinds. `code()` is the stable snake_case string of the JSON API; `number()` the stable
        /// integer the C ABI uses (grouped by domain, never reused); `message()` a fixed description.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $( $(#[$attr])* $kind, )*
        }

        impl ErrorKind {
            /// Every kind, in number order.
            pub const ALL: [ErrorKind; [$($code),*].len()] = [$(ErrorKind::$kind),*];

            /// The stable snake_case code (`host_timeout`).
            pub fn code(self) -> &'static str {
                match self {
                    $( ErrorKind::$kind => $code, )*
                }
            }

            /// Stable number for the C ABI (`pos_result`). 0 is success and is not an error kind.
            pub fn number(self) -> i32 {
                match self {
                    $( ErrorKind::$kind => $number, )*
                }
            }

            /// A fixed one-line description of the kind (no details: those are in `Error::message`).
            pub fn message(self) -> &'static str {
                match self {
                    $( ErrorKind::$kind => $message, )*
                }
            }

            /// The kind with this number.
            pub fn from_number(number: i32) -> Option<ErrorKind> {
                match number {
                    $( $number => Some(ErrorKind::$kind), )*
                    _ => None,
                }
            }
        }
    };
}

error_kinds! {
    // 1xx request / state
    InvalidJson = 100, "invalid_json", "the request is not valid JSON";
    InvalidRequest = 101, "invalid_request", "a request field is missing or invalid";
    NotActivated = 102, "not_activated", "the terminal is not activated (no master key)";
    NotSignedIn = 103, "not_signed_in", "the terminal is not signed in";
    OriginalNotFound = 104, "original_not_found", "the original transaction was not found";
    InvalidState = 105, "invalid_state", "the operation is not allowed in the current state";
    Cancelled = 106, "cancelled", "the operation was cancelled";
    // 2xx host / transport
    HostUnreachable = 200, "host_unreachable", "the host could not be reached";
    HostTimeout = 201, "host_timeout", "the host did not answer in time; the outcome says whether a reversal is pending";
    InvalidResponse = 202, "invalid_response", "the host's response was invalid";
    HostRejected = 203, "host_rejected", "the host rejected the request";
    // 3xx security
    KeyCheckFailed = 300, "key_check_failed", "a key check value did not match";
    Security = 301, "security", "security module error";
    // 4xx devices (HAL)
    Device = 400, "device", "a device callback failed";
    // 5xx storage / internal
    Journal = 500, "journal", "journal (storage) error";
    Internal = 501, "internal", "internal error";
}

/// Where the money stands after a financial operation (docs/JSON-API.md, "Outcome"). Every financial result
/// and every financial error carries one, so an app can decide from it alone whether to retry, ask the
/// customer, or do nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The host approved it and the terminal recorded it: the money moved.
    Approved,
    /// The host (or the card) declined it: nothing moved.
    Declined,
    /// It was sent, then reversed and the host confirmed the reversal: nothing moved.
    Reversed,
    /// It was sent; its reversal is recorded and will be sent before anything else: nothing will have moved.
    ReversalPending,
    /// An advice (0220) without a valid answer yet: it is kept and resent until answered; the host may
    /// already hold it. Never repeat the operation.
    AdvicePending,
    /// Nothing reached the host: nothing moved, nothing is owed.
    NotSent,
}

impl Outcome {
    /// The JSON name (`advice_pending`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Declined => "declined",
            Outcome::Reversed => "reversed",
            Outcome::ReversalPending => "reversal_pending",
            Outcome::AdvicePending => "advice_pending",
            Outcome::NotSent => "not_sent",
        }
    }

    /// Stable number for the C ABI (`pos_outcome`); 0 is "no outcome" (not a financial operation).
    pub fn number(self) -> i32 {
        match self {
            Outcome::Approved => 1,
            Outcome::Declined => 2,
            Outcome::Reversed => 3,
            Outcome::ReversalPending => 4,
            Outcome::AdvicePending => 5,
            Outcome::NotSent => 6,
        }
    }

    pub const ALL: [Outcome; 6] = [
        Outcome::Approved,
        Outcome::Declined,
        Outcome::Reversed,
        Outcome::ReversalPending,
        Outcome::AdvicePending,
        Outcome::NotSent,
    ];
}

/// A failure of a layer below the flows (storage, crypto, codec, TLV), kept whole. `From<Cause> for Error`
/// is the one place where such failures become the public error: kind and message from the cause, the
/// cause itself as the error's `source()`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Cause {
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Codec(#[from] crate::iso8583::CodecError),
    #[error(transparent)]
    Tlv(#[from] crate::tlv::TlvError),
}

impl From<Cause> for Error {
    fn from(cause: Cause) -> Self {
        let (kind, message) = match &cause {
            Cause::Journal(e) => (ErrorKind::Journal, e.to_string()),
            Cause::Crypto(e) => (ErrorKind::Security, e.to_string()),
            Cause::Codec(e) => (
                ErrorKind::InvalidResponse,
                match e.field {
                    Some(f) => format!("field {f}: {:?}", e.kind),
                    None => format!("{:?}", e.kind),
                },
            ),
            Cause::Tlv(e) => (ErrorKind::InvalidResponse, format!("TLV: {e}")),
        };
        Error {
            source: Some(Arc::new(cause)),
            ..Error::new(kind, message)
        }
    }
}

macro_rules! via_cause {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Cause::from(e).into()
            }
        }
    )*};
}
via_cause!(
    crate::journal::JournalError,
    crate::crypto::CryptoError,
    crate::iso8583::CodecError,
    crate::tlv::TlvError
);

/// The error every core operation returns. Equality compares what the app sees (kind, message, field,
/// outcome, STAN), not the source.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    /// Readable message without secrets.
    pub message: String,
    /// The request field at fault, when there is one (`amount`, `card.pan`, `stan`, ...).
    pub field: Option<String>,
    /// Financial operations only: where the money stands.
    pub outcome: Option<Outcome>,
    /// Financial operations only: the STAN of the request, once it was journalled.
    pub stan: Option<u32>,
    /// What failed underneath, when a lower layer did (`std::error::Error::source`).
    pub(crate) source: Option<Arc<Cause>>,
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        (
            self.kind,
            &self.message,
            &self.field,
            self.outcome,
            self.stan,
        ) == (
            other.kind,
            &other.message,
            &other.field,
            other.outcome,
            other.stan,
        )
    }
}

impl Eq for Error {}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            field: None,
            outcome: None,
            stan: None,
            source: None,
        }
    }
    pub fn field(kind: ErrorKind, field: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            field: Some(field.into()),
            outcome: None,
            stan: None,
            source: None,
        }
    }
    /// Bad input for a named request field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::field(ErrorKind::InvalidRequest, field, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
    /// The same error with this outcome (replacing any).
    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }
    /// The same error with this outcome unless it already says one.
    pub fn or_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome.get_or_insert(outcome);
        self
    }
    /// The same error naming the journalled request's STAN unless it already names one.
    pub fn or_stan(mut self, stan: u32) -> Self {
        self.stan.get_or_insert(stan);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} ({}): {}", self.kind.code(), field, self.message),
            None => write!(f, "{}: {}", self.kind.code(), self.message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_lower_layer_failure_is_kept_as_the_source() {
        let e = Error::from(crate::tlv::TlvError::TooDeep);
        assert_eq!(e.kind, ErrorKind::InvalidResponse);
        let source = std::error::Error::source(&e).expect("the TLV error is the source");
        assert_eq!(
            source.to_string(),
            crate::tlv::TlvError::TooDeep.to_string()
        );
        // Equality is what the app sees: a copy without the source compares equal.
        assert_eq!(e, Error::new(e.kind, e.message.clone()));
    }

    #[test]
    fn numbers_and_codes_are_unique() {
        let mut nums: Vec<i32> = ErrorKind::ALL.iter().map(|k| k.number()).collect();
        nums.sort();
        nums.dedup();
        assert_eq!(nums.len(), ErrorKind::ALL.len());
        let mut outcomes: Vec<i32> = Outcome::ALL.iter().map(|o| o.number()).collect();
        outcomes.dedup();
        assert_eq!(outcomes.len(), Outcome::ALL.len());
        for o in Outcome::ALL {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
        }
        let mut codes: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_number(k.number()), Some(k));
            assert!(!k.message().is_empty() && !k.message().contains('\0'));
        }
        assert_eq!(ErrorKind::from_number(0), None);
    }
}
