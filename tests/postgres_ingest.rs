//! Ingest into PostgreSQL under load: many SMTP sessions at once, whose
//! messages a node stores several to a transaction (group commit). Every
//! `250` must stand for a message stored exactly once, and a message the
//! database refuses must fail alone, not with the others of its batch.
//!
//! They need `LETTERBOX_TEST_POSTGRES` (a `postgres://` URL of a role that
//! may create databases; `.ci/run` sets it).

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;

use common::nodes::{database, node};
use common::postgres::Databases;
use common::{Smtp, simple_message};
use tokio_postgres::NoTls;

const SESSIONS: usize = 16;
const PER_SESSION: usize = 40;

/// What one session's sends came to: the IDs acknowledged with their
/// subjects, and the subjects refused with their replies.
#[derive(Default)]
struct Outcome {
    stored: Vec<(String, String)>,
    refused: Vec<(String, String)>,
}

/// `SESSIONS` sessions at once, each sending `PER_SESSION` messages one
/// after another on its connection (until the server closes it);
/// `subject(session, n)` names each.
async fn blast(addr: SocketAddr, subject: fn(usize, usize) -> String) -> Outcome {
    let sessions = (0..SESSIONS).map(|session| {
        tokio::spawn(async move {
            let mut smtp = Smtp::connect(addr).await;
            smtp.ehlo().await;
            let mut outcome = Outcome::default();
            for n in 0..PER_SESSION {
                let subject = subject(session, n);
                let data = simple_message(&subject, "Sent with many others at once.");
                match smtp
                    .try_send_message("MAIL FROM:<s@example.com>", &["r@example.com"], &data)
                    .await
                {
                    Ok(id) => outcome.stored.push((id, subject)),
                    Err(reply) => {
                        let closing = reply.contains("421") || reply.contains("closed");
                        outcome.refused.push((subject, reply));
                        if closing {
                            break;
                        }
                    }
                }
            }
            outcome
        })
    });
    let mut all = Outcome::default();
    for session in futures_util::future::join_all(sessions).await {
        let session = session.expect("a session's task");
        all.stored.extend(session.stored);
        all.refused.extend(session.refused);
    }
    all
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connecting to the test database");
    tokio::spawn(connection);
    client
}

/// Each acknowledged message is stored once under its subject, nothing
/// else is stored, and the totals the triggers keep agree.
async fn assert_stored_once(db: &tokio_postgres::Client, acknowledged: &[(String, String)]) {
    let rows = db
        .query("SELECT id, subject FROM messages", &[])
        .await
        .expect("reading the messages");
    let stored: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "as many stored as acknowledged"
    );
    let stored: HashSet<(String, String)> = stored.into_iter().collect();
    assert_eq!(stored.len(), acknowledged.len(), "no message stored twice");
    for message in acknowledged {
        assert!(stored.contains(message), "{message:?} is stored");
    }
    let subjects: HashSet<&String> = acknowledged.iter().map(|(_, s)| s).collect();
    assert_eq!(subjects.len(), acknowledged.len(), "each subject sent once");
    let (kept, raw): (i64, i64) = db
        .query_one(
            "SELECT (SELECT coalesce(sum(total), 0)::bigint FROM message_counts),
                    (SELECT count(*) FROM message_raw)",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .expect("reading the totals");
    assert_eq!(kept, acknowledged.len() as i64, "the kept total");
    assert_eq!(raw, acknowledged.len() as i64, "each message's raw bytes");
}

#[tokio::test]
async fn every_acknowledged_message_of_many_sessions_is_stored_once() {
    let databases = Databases::default();
    let Some(url) = database("PostgreSQL ingest from many sessions", &databases).await else {
        return;
    };
    let lb = node(&url);
    let outcome = blast(lb.smtp_addr, |session, n| {
        format!("session {session} message {n}")
    })
    .await;
    assert!(
        outcome.refused.is_empty(),
        "nothing refused: {:?}",
        &outcome.refused[..outcome.refused.len().min(3)]
    );
    assert_eq!(outcome.stored.len(), SESSIONS * PER_SESSION);
    assert_stored_once(&connect(&url).await, &outcome.stored).await;
    let total = lb.get_ok("/api/v1/messages?limit=1").await["total"].clone();
    assert_eq!(total, SESSIONS * PER_SESSION, "the API's total");
}

/// A message the database refuses (here: a constraint added to the table
/// that its subject breaks; in life, say, a trigger a DBA added) is
/// answered `451`; the messages sent at the same time, some of them
/// queued into the same transaction, are stored and acknowledged.
#[tokio::test]
async fn a_message_the_database_refuses_fails_alone() {
    let databases = Databases::default();
    let Some(url) = database("PostgreSQL ingest with a refused message", &databases).await else {
        return;
    };
    let lb = node(&url);
    let db = connect(&url).await;
    db.batch_execute(
        "ALTER TABLE messages ADD CONSTRAINT no_poison CHECK (subject NOT LIKE 'poison%')",
    )
    .await
    .expect("adding the constraint");
    let outcome = blast(lb.smtp_addr, |session, n| {
        if (session + n) % 9 == 4 {
            format!("poison {session} {n}")
        } else {
            format!("session {session} message {n}")
        }
    })
    .await;
    let poisoned = (0..SESSIONS)
        .flat_map(|s| (0..PER_SESSION).map(move |n| (s + n) % 9 == 4))
        .filter(|&p| p)
        .count();
    assert_eq!(outcome.refused.len(), poisoned, "only the poisoned refused");
    for (subject, reply) in &outcome.refused {
        assert!(subject.starts_with("poison"), "{subject} was refused");
        assert!(reply.contains("451"), "{subject} got 451: {reply}");
    }
    assert_eq!(outcome.stored.len(), SESSIONS * PER_SESSION - poisoned);
    assert_stored_once(&db, &outcome.stored).await;
}

/// A node told to stop in the middle of a blast answers what it was
/// receiving, stores every message it acknowledged (those queued for a
/// batch too) and exits cleanly.
#[tokio::test]
async fn a_shutdown_mid_blast_keeps_every_acknowledged_message() {
    let databases = Databases::default();
    let Some(url) = database("PostgreSQL ingest across a shutdown", &databases).await else {
        return;
    };
    let mut lb = node(&url);
    let db = connect(&url).await;
    let sending = tokio::spawn(blast(lb.smtp_addr, |session, n| {
        format!("session {session} message {n}")
    }));
    common::eventually("some messages are stored", async || {
        let row = db.query_one("SELECT count(*) FROM messages", &[]).await;
        (row.expect("counting").get::<_, i64>(0) >= 50).then_some(())
    })
    .await;
    lb.send_sigterm();
    let outcome = sending.await.expect("the blast");
    assert!(
        outcome.stored.len() < SESSIONS * PER_SESSION,
        "the shutdown came before the blast ended"
    );
    let status = lb.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    let rows = db
        .query("SELECT id, subject FROM messages", &[])
        .await
        .expect("reading the messages");
    let stored: HashSet<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(stored.len(), rows.len());
    for message in &outcome.stored {
        assert!(stored.contains(message), "{message:?} is stored");
    }
}
