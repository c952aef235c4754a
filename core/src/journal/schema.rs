//! Schema and migrations. `PRAGMA user_version` holds the version; each migration runs in its own
//! transaction, so an interrupted upgrade leaves the previous version intact.
use super::{db, JResult, JournalError};
use rusqlite::Connection;

/// One migration step.
enum Step {
    /// Statements run in one transaction together with the version bump.
    Sql(&'static str),
    /// Statements that cannot run inside a transaction (VACUUM), run as they are, then the version bump.
    /// Each must be harmless to repeat, since a crash between them and the bump runs them again.
    Outside(&'static str),
}

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[Step] = &[
    // 0 -> 1: counters/settings, transactions, pending reversals and advices.
    Step::Sql(
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
    ),
    // 1 -> 2: pages freed by retention (Journal::prune) can be returned to the file system. Changing
    // auto_vacuum on a database that already has tables only takes effect through a VACUUM.
    Step::Outside("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;"),
    // 2 -> 3: the advice queue also holds the store-and-forward uploads of a transaction (docs/PROTOCOL.md
    // §6.6): its IC card TC (`tc`), its issuer-script results (`script`) and the segments of its electronic
    // signature (`signature`), several per row, each with its own STAN and sealed frame. The 0220 advices stay
    // rows of class `advice`, one per transaction.
    Step::Sql(
        "CREATE TABLE advice_queue (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        tx_id        INTEGER NOT NULL REFERENCES tx(id),
        class        TEXT NOT NULL DEFAULT 'advice' CHECK (class IN ('advice','tc','script','signature')),
        stan         INTEGER NOT NULL,
        frame_sealed BLOB NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        UNIQUE (tx_id, class, stan)
    );
    INSERT INTO advice_queue (tx_id, class, stan, frame_sealed, attempts)
        SELECT tx_id, 'advice', stan, frame_sealed, attempts FROM advice ORDER BY tx_id;
    DROP TABLE advice;
    ALTER TABLE advice_queue RENAME TO advice;",
    ),
    // 3 -> 4: the electronic signature of a transaction, compressed (docs/PROTOCOL.md §8.8).
    Step::Sql(
        "CREATE TABLE IF NOT EXISTS signature (
        tx_id INTEGER PRIMARY KEY REFERENCES tx(id),
        image BLOB NOT NULL
    );",
    ),
    // 4 -> 5: the rows still pending, by kind. Before every financial message the terminal looks for open
    // merchant-presented QR orders (docs/PROTOCOL.md §4.10); without this index that look-up scanned the
    // whole journal on every sale. Few rows are ever pending, so the index stays tiny.
    Step::Sql("CREATE INDEX IF NOT EXISTS tx_pending ON tx (kind) WHERE state = 'pending';"),
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
    for (i, step) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        match step {
            Step::Sql(sql) => {
                let tx = conn.transaction().map_err(db)?;
                tx.execute_batch(sql).map_err(db)?;
                tx.pragma_update(None, "user_version", i as u32 + 1)
                    .map_err(db)?;
                tx.commit().map_err(db)?;
            }
            Step::Outside(sql) => {
                conn.execute_batch(sql).map_err(db)?;
                conn.pragma_update(None, "user_version", i as u32 + 1)
                    .map_err(db)?;
            }
        }
        log::info!("journal migrated to schema {}", i + 1);
    }
    Ok(())
}
