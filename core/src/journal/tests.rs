use super::*;

const KEY: [u8; 32] = [0x42; 32];

fn sale(stan: u32, pan: Option<&str>) -> NewTx {
    NewTx {
        kind: "sale".into(),
        mti: 200,
        batch: 1,
        stan,
        amount: 1234,
        pan: pan.map(str::to_owned),
        entry_mode: Some("021".into()),
        created_at: "2026-11-25T10:00:00".into(),
        ..NewTx::default()
    }
}

fn reversal(stan: u32) -> PendingReversal {
    PendingReversal {
        tx_id: 0,
        stan,
        body: vec![0x04, 0x00, 1, 2, 3],
        reason: None,
        auth_code: None,
        attempts: 0,
        flagged: false,
    }
}

#[test]
fn stan_allocates_and_wraps() {
    let mut j = Journal::open_in_memory(&KEY).unwrap();
    assert_eq!(j.peek_stan().unwrap(), 1);
    assert_eq!(j.next_stan().unwrap(), 1);
    assert_eq!(j.next_stan().unwrap(), 2);
    j.conn
        .execute("UPDATE meta SET value = '999999' WHERE key = 'stan'", [])
        .unwrap();
    assert_eq!(j.next_stan().unwrap(), 999_999);
    assert_eq!(j.next_stan().unwrap(), 1);
}

#[test]
fn record_request_consumes_the_peeked_stan() {
    let mut j = Journal::open_in_memory(&KEY).unwrap();
    let stan = j.peek_stan().unwrap();
    j.record_request(&sale(stan, None), None, None).unwrap();
    assert_eq!(j.peek_stan().unwrap(), stan + 1);
    // A STAN already taken with next_stan is not consumed twice.
    let taken = j.next_stan().unwrap();
    j.record_request(&sale(taken, None), None, None).unwrap();
    assert_eq!(j.peek_stan().unwrap(), taken + 1);
}

#[test]
fn batch_and_settings() {
    let mut j = Journal::open_in_memory(&KEY).unwrap();
    assert_eq!(j.batch().unwrap(), 1);
    j.set_batch(42).unwrap();
    assert_eq!(j.batch().unwrap(), 42);
    assert!(j.set_batch(0).is_err());
    assert!(j.set_batch(1_000_000).is_err());
    assert_eq!(j.setting("merchant").unwrap(), None);
    j.set_setting("merchant", "Tea House").unwrap();
    assert_eq!(j.setting("merchant").unwrap().as_deref(), Some("Tea House"));
    j.delete_setting("merchant").unwrap();
    assert_eq!(j.setting("merchant").unwrap(), None);
    assert_eq!(j.schema_version().unwrap(), schema::VERSION);
}

#[test]
fn request_outcome_and_pan_sealing() {
    let mut j = Journal::open_in_memory(&KEY).unwrap();
    let id = j
        .record_request(&sale(7, Some("6225880123456789")), Some(&reversal(7)), None)
        .unwrap();
    let rec = j.get(id).unwrap().unwrap();
    assert_eq!(rec.state, TxState::Pending);
    assert_eq!(rec.masked_pan.as_deref(), Some("622588******6789"));
    assert_eq!(j.pan(id).unwrap().unwrap().as_str(), "6225880123456789");
    // The clear PAN is nowhere in the database.
    let raw: Vec<u8> = j
        .conn
        .query_row("SELECT pan_sealed FROM tx WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!raw.windows(16).any(|w| w == b"6225880123456789"));
    assert_eq!(j.pending_reversal().unwrap().unwrap().stan, 7);

    let outcome = TxOutcome {
        state: Some(TxState::Approved),
        response_code: Some("00".into()),
        reference: Some("112510154502".into()),
        auth_code: Some("A1B2C3".into()),
        ..TxOutcome::default()
    };
    j.record_outcome(id, &outcome, &[], true).unwrap();
    let rec = j.find_by_stan(1, 7).unwrap().unwrap();
    assert_eq!(rec.state, TxState::Approved);
    assert_eq!(rec.reference.as_deref(), Some("112510154502"));
    assert!(j.pending_reversal().unwrap().is_none());
    assert_eq!(j.list(1).unwrap().len(), 1);
    assert!(j.list(2).unwrap().is_empty());
}

#[test]
fn effects_apply_atomically() {
    let mut j = Journal::open_in_memory(&KEY).unwrap();
    let sale_id = j
        .record_request(&sale(1, Some("6225880123456789")), None, None)
        .unwrap();
    let mut void = sale(2, Some("6225880123456789"));
    void.kind = "void".into();
    void.original_id = Some(sale_id);
    let void_id = j.record_request(&void, Some(&reversal(2)), None).unwrap();
    // An effect on a missing row fails the whole outcome: nothing changes.
    let bad = [
        Effect::SetState {
            id: sale_id,
            state: TxState::Voided,
        },
        Effect::SetTip { id: 999, tip: 1 },
    ];
    let ok = TxOutcome {
        state: Some(TxState::Approved),
        ..TxOutcome::default()
    };
    assert!(j.record_outcome(void_id, &ok, &bad, true).is_err());
    assert_eq!(j.get(sale_id).unwrap().unwrap().state, TxState::Pending);
    assert_eq!(j.get(void_id).unwrap().unwrap().state, TxState::Pending);
    assert!(j.pending_reversal().unwrap().is_some());

    let good = [
        Effect::SetState {
            id: sale_id,
            state: TxState::Voided,
        },
        Effect::SetTip {
            id: sale_id,
            tip: 100,
        },
        Effect::SetCompleted {
            id: sale_id,
            completed: true,
        },
        Effect::AddRefunded {
            id: sale_id,
            amount: 34,
        },
        Effect::AddRefunded {
            id: sale_id,
            amount: 66,
        },
    ];
    j.record_outcome(void_id, &ok, &good, true).unwrap();
    let s = j.get(sale_id).unwrap().unwrap();
    assert_eq!(
        (s.state, s.tip, s.completed, s.refunded),
        (TxState::Voided, 100, true, 100)
    );
}

#[test]
fn reversal_lifecycle_survives_reopen() {
    let dir = std::env::temp_dir().join(format!("possdk-journal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("j.db");
    let _ = std::fs::remove_file(&path);
    let id = {
        let mut j = Journal::open(&path, &KEY).unwrap();
        let id = j
            .record_request(&sale(5, Some("6225880123456789")), Some(&reversal(5)), None)
            .unwrap();
        j.arm_reversal(id, "98", Some("A1B2C3")).unwrap();
        id
        // dropped without an outcome: the "power cut"
    };
    let mut j = Journal::open(&path, &KEY).unwrap();
    let r = j.pending_reversal().unwrap().unwrap();
    assert_eq!(
        (r.tx_id, r.stan, r.reason.as_deref(), r.auth_code.as_deref()),
        (id, 5, Some("98"), Some("A1B2C3"))
    );
    assert_eq!(r.body, vec![0x04, 0x00, 1, 2, 3]);
    assert!(
        j.close_batch(2).is_err(),
        "a batch with an owed reversal cannot close"
    );
    j.reversal_attempted(id, false).unwrap();
    j.reversal_attempted(id, true).unwrap();
    assert!(
        j.pending_reversal().unwrap().is_none(),
        "flagged reversals wait for settlement"
    );
    let all = j.pending_reversals().unwrap();
    assert_eq!((all.len(), all[0].attempts, all[0].flagged), (1, 2, true));
    j.reversal_done(id, &[]).unwrap();
    assert_eq!(j.get(id).unwrap().unwrap().state, TxState::Reversed);
    assert!(j.pending_reversals().unwrap().is_empty());
    assert!(j.reversal_done(id, &[]).is_err());
    j.close_batch(2).unwrap();
    assert_eq!(j.batch().unwrap(), 2);
    drop(j);
    // A wrong seal key cannot read the sealed columns.
    let j = Journal::open(&path, &[0u8; 32]).unwrap();
    assert!(j.pan(id).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn advices_are_sealed_and_counted() {
    let mut j = Journal::open_in_memory(&KEY).unwrap();
    let mut refund = sale(9, Some("6225880123456789"));
    refund.kind = "refund".into();
    refund.mti = 220;
    let frame = b"\x00\x10frame-with-card-data".to_vec();
    let advice = PendingAdvice {
        tx_id: 0,
        stan: 9,
        frame: frame.clone(),
        attempts: 0,
    };
    let id = j.record_request(&refund, None, Some(&advice)).unwrap();
    let raw: Vec<u8> = j
        .conn
        .query_row("SELECT frame_sealed FROM advice", [], |r| r.get(0))
        .unwrap();
    assert!(!raw.windows(frame.len()).any(|w| w == frame.as_slice()));
    j.advice_attempted(id).unwrap();
    let list = j.pending_advices().unwrap();
    assert_eq!(
        (list.len(), list[0].frame.clone(), list[0].attempts),
        (1, frame, 1)
    );
    j.record_outcome(
        id,
        &TxOutcome {
            state: Some(TxState::Approved),
            ..Default::default()
        },
        &[],
        true,
    )
    .unwrap();
    assert!(j.pending_advices().unwrap().is_empty());
}

#[test]
fn newer_schema_is_refused() {
    let dir = std::env::temp_dir().join(format!("possdk-journal-v-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("j.db");
    let _ = std::fs::remove_file(&path);
    drop(Journal::open(&path, &KEY).unwrap());
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Journal::open(&path, &KEY).unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sqlite_is_built_without_the_unused_extensions() {
    // .cargo/config.toml hands LIBSQLITE3_FLAGS to libsqlite3-sys; this proves the bundled build got them.
    let j = Journal::open_in_memory(&KEY).unwrap();
    let used = |opt: &str| -> bool {
        j.conn
            .query_row("SELECT sqlite_compileoption_used(?1)", [opt], |r| r.get(0))
            .unwrap()
    };
    for off in [
        "ENABLE_FTS3",
        "ENABLE_FTS5",
        "ENABLE_RTREE",
        "ENABLE_STAT4",
        "ENABLE_DBSTAT_VTAB",
        "ENABLE_COLUMN_METADATA",
        "SOUNDEX",
    ] {
        assert!(!used(off), "SQLite built with {off}");
    }
    for on in ["OMIT_LOAD_EXTENSION", "OMIT_JSON", "OMIT_DEPRECATED"] {
        assert!(used(on), "SQLite built without {on}");
    }
    assert!(j
        .conn
        .execute_batch("CREATE VIRTUAL TABLE t USING fts5(x)")
        .is_err());
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!(
        "possdk-journal-{name}-{}-{:?}.db",
        std::process::id(),
        std::thread::current().id()
    ));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
    p
}

#[test]
fn schema_2_makes_an_existing_journal_incrementally_vacuumed() {
    let path = temp_path("vacuum");
    {
        let mut j = Journal::open(&path, &KEY).unwrap();
        j.record_request(&sale(1, Some("6225880123456789")), None, None)
            .unwrap();
        // Back to what a schema-1 journal looks like: no auto_vacuum, version 1.
        j.conn
            .execute_batch("PRAGMA auto_vacuum = NONE; VACUUM; PRAGMA user_version = 1;")
            .unwrap();
        let mode: i64 = j
            .conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, 0);
    }
    let j = Journal::open(&path, &KEY).unwrap();
    assert_eq!(j.schema_version().unwrap(), schema::VERSION);
    let mode: i64 = j
        .conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, 2, "auto_vacuum = INCREMENTAL");
    assert_eq!(j.list(1).unwrap().len(), 1, "rows survive the VACUUM");
    drop(j);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[test]
fn take_stans_allocates_a_range_in_one_go_and_wraps() {
    let mut j = Journal::open_in_memory(&KEY).unwrap();
    assert_eq!(j.take_stans(3).unwrap(), vec![1, 2, 3]);
    assert_eq!(j.peek_stan().unwrap(), 4);
    j.conn
        .execute("UPDATE meta SET value = '999998' WHERE key = 'stan'", [])
        .unwrap();
    assert_eq!(j.take_stans(3).unwrap(), vec![999_998, 999_999, 1]);
    assert_eq!(j.peek_stan().unwrap(), 2);
    assert!(j.take_stans(0).unwrap().is_empty());
}

#[test]
fn retention_keeps_the_last_batches_the_open_one_and_anything_owed() {
    let mut j = Journal::open_in_memory(&KEY).unwrap();
    let mut stan = 0;
    let mut add = |j: &mut Journal, batch: u32, original: Option<i64>, rev: bool, adv: bool| {
        stan += 1;
        let mut new = sale(stan, Some("6225880123456789"));
        new.batch = batch;
        new.original_id = original;
        let advice = PendingAdvice {
            tx_id: 0,
            stan,
            frame: vec![2, 2, 0],
            attempts: 0,
        };
        j.record_request(
            &new,
            rev.then(|| reversal(stan)).as_ref(),
            adv.then_some(&advice),
        )
        .unwrap()
    };
    // Settled batches 1..=5, three plain rows each, recorded in order; batch 6 is open. Batch 1 also holds
    // a sale whose reversal is still owed, batch 2 a refund whose advice is still owed and a refund of
    // batch 1's first sale, which is itself the original of a void in batch 5 (a chain across batches).
    let mut ids = std::collections::BTreeMap::new();
    let (mut owed_reversal, mut owed_advice, mut chain_mid, mut refund) = (0, 0, 0, 0);
    for batch in 1..=5 {
        for _ in 0..3 {
            let id = add(&mut j, batch, None, false, false);
            ids.entry(batch).or_insert_with(Vec::new).push(id);
        }
        match batch {
            1 => owed_reversal = add(&mut j, 1, None, true, false),
            2 => {
                owed_advice = add(&mut j, 2, None, false, true);
                chain_mid = add(&mut j, 2, Some(ids[&1][0]), false, false);
            }
            5 => refund = add(&mut j, 5, Some(chain_mid), false, false),
            _ => {}
        }
    }
    let chain_root = ids[&1][0];
    j.set_batch(6).unwrap();
    let open = add(&mut j, 6, None, false, false);

    let deleted = j.prune(2).unwrap();
    // Batches 1..=3 held 9 plain rows, one of them the chain's root: 8 go.
    assert_eq!(deleted, 8);
    let left =
        |j: &Journal, b: u32| -> Vec<i64> { j.list(b).unwrap().iter().map(|r| r.id).collect() };
    assert_eq!(left(&j, 6), vec![open], "the open batch stays");
    let mut last5 = ids[&5].clone();
    last5.push(refund);
    assert_eq!(left(&j, 5), last5);
    assert_eq!(
        left(&j, 4),
        ids[&4],
        "the last two settled batches stay whole"
    );
    assert_eq!(left(&j, 3), Vec::<i64>::new());
    assert_eq!(left(&j, 2), vec![owed_advice, chain_mid]);
    assert_eq!(left(&j, 1), vec![chain_root, owed_reversal]);
    assert!(j.pending_reversal().unwrap().is_some());
    assert_eq!(j.pending_advices().unwrap().len(), 1);

    // Nothing else to delete: a second pass is a no-op. Retaining 0 keeps only the open batch and what is
    // still owed: batch 5 (with the void), batch 4 and the chain go.
    assert_eq!(j.prune(2).unwrap(), 0);
    assert_eq!(j.prune(0).unwrap(), 4 + 3 + 2);
    assert_eq!(left(&j, 6), vec![open]);
    assert_eq!(left(&j, 1), vec![owed_reversal]);
    assert_eq!(left(&j, 2), vec![owed_advice]);
}

#[test]
fn a_signature_and_its_segments_commit_together_and_survive_reopen() {
    let path = temp_path("signature");
    let id = {
        let mut j = Journal::open(&path, &KEY).unwrap();
        let id = j
            .record_request(&sale(3, Some("6225880123456789")), None, None)
            .unwrap();
        let seg = b"segment-frame".to_vec();
        j.record_signature(
            id,
            &[0, 8, 0, 1, 0x00, 0x80],
            &[NewUpload {
                class: "signature",
                stan: 4,
                frame: &seg,
            }],
        )
        .unwrap();
        id
    };
    let mut j = Journal::open(&path, &KEY).unwrap();
    assert_eq!(j.signature(id).unwrap(), Some(vec![0, 8, 0, 1, 0x00, 0x80]));
    let ups = j.pending_uploads().unwrap();
    assert_eq!(
        (ups.len(), ups[0].class.as_str(), ups[0].stan),
        (1, "signature", 4)
    );
    j.upload_done(ups[0].id).unwrap();
    assert!(j.pending_uploads().unwrap().is_empty());
    assert!(
        j.signature(id).unwrap().is_some(),
        "the image stays after its upload"
    );
}

#[test]
fn open_orders_survive_the_orphan_sweep() {
    let mut j = Journal::open_in_memory(&KEY).unwrap();
    let inquiry = j
        .record_request(
            &NewTx {
                kind: "balance".into(),
                ..sale(1, None)
            },
            None,
            None,
        )
        .unwrap();
    let order = j
        .record_request(
            &NewTx {
                kind: "qr_order".into(),
                ..sale(2, None)
            },
            None,
            None,
        )
        .unwrap();
    assert_eq!(j.fail_orphans(&["qr_order"]).unwrap(), 1);
    assert_eq!(j.get(inquiry).unwrap().unwrap().state, TxState::Failed);
    assert_eq!(j.get(order).unwrap().unwrap().state, TxState::Pending);
    let open = j.pending_of_kind("qr_order").unwrap();
    assert_eq!(open.iter().map(|r| r.id).collect::<Vec<_>>(), vec![order]);
    assert!(j.pending_of_kind("sale").unwrap().is_empty());
    // With no kind kept, every orphan goes.
    assert_eq!(j.fail_orphans(&[]).unwrap(), 1);
    assert!(j.pending_of_kind("qr_order").unwrap().is_empty());
}

#[test]
fn the_open_order_lookup_uses_an_index_not_a_scan() {
    // Run before every financial message (docs/PROTOCOL.md §4.10): it must not read the whole journal.
    let j = Journal::open_in_memory(&KEY).unwrap();
    let plan: Vec<String> = j
        .conn
        .prepare("EXPLAIN QUERY PLAN SELECT id FROM tx WHERE state = 'pending' AND kind = ?1 ORDER BY id")
        .unwrap()
        .query_map(["qr_order"], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter().any(|l| l.contains("INDEX tx_pending")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|l| l.starts_with("SCAN tx")), "{plan:?}");
}

#[test]
fn cached_statements_are_not_prepared_again_on_each_use() {
    // Without the query planner stability guarantee SQLite re-prepared a statement whose plan had
    // looked at a bound value (here: the ORDER BY against `kind = ?1`) each time that parameter was
    // rebound. SQLITE_STMTSTATUS_REPREPARE counts those re-preparations.
    let j = Journal::open_in_memory(&KEY).unwrap();
    let sql = "SELECT id FROM tx WHERE state = 'pending' AND kind = ?1 ORDER BY id";
    for kind in ["qr_order", "sale", "qr_order", "void"] {
        let mut stmt = j.conn.prepare_cached(sql).unwrap();
        let rows: Vec<i64> = stmt
            .query_map([kind], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(rows.is_empty());
        assert_eq!(
            stmt.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "re-prepared for {kind}"
        );
    }
}
