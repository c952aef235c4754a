//! Schema and migrations. `PRAGMA user_version` holds the version; each migration runs in its own
//! transaction, so an interrupted upgrade leaves the previous version intact.
use super::{db, JResult, JournalError};
use rusqlite::Connection;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: counters/settings, transactions, pending reversals and advices.
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE tx (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        kind           TEXT NOT NULL,
        mti            INTEGER NOT NULL,
        batch          INTEGER NOT NULL,
        stan           INTEGER NOT NULL,
        amount         INTEGER NOT NULL CHECK (amount >= 0),
        tip            INTEGER NOT NULL DEFAULT 0 CHECK (tip >= 0),
        pan_sealed     BLOB,
        masked_pan     TEXT,
        entry_mode     TEXT,
        voucher        TEXT,
        card_org       TEXT,
        reference      TEXT,
        auth_code      TEXT,
        response_code  TEXT,
        host_date      TEXT,
        host_time      TEXT,
        state          TEXT NOT NULL CHECK (state IN
                         ('pending','approved','declined','voided','reversed','failed')),
        completed      INTEGER NOT NULL DEFAULT 0,
        refunded       INTEGER NOT NULL DEFAULT 0,
        original_id    INTEGER REFERENCES tx(id),
        original_batch INTEGER,
        original_stan  INTEGER,
        original_date  TEXT,
        created_at     TEXT NOT NULL
    );
    CREATE INDEX tx_batch_stan ON tx (batch, stan);
    CREATE TABLE reversal (
        tx_id       INTEGER PRIMARY KEY REFERENCES tx(id),
        stan        INTEGER NOT NULL,
        body_sealed BLOB NOT NULL,
        reason      TEXT,
        auth_code   TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        flagged     INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE advice (
        tx_id        INTEGER PRIMARY KEY REFERENCES tx(id),
        stan         INTEGER NOT NULL,
        frame_sealed BLOB NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0
    );",
];

/// Current schema version of this build.
pub const VERSION: u32 = MIGRATIONS.len() as u32;

pub(super) fn version(conn: &Connection) -> JResult<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)
}

pub(super) fn migrate(conn: &mut Connection) -> JResult<()> {
    let from = version(conn)?;
    if from > VERSION {
        return Err(JournalError::Invalid(format!(
            "journal schema {from} is newer than this SDK understands ({VERSION})"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)
            .map_err(db)?;
        tx.commit().map_err(db)?;
        log::info!("journal migrated to schema {}", i + 1);
    }
    Ok(())
}
