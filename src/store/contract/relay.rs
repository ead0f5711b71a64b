//! The relay queue: releases queued for stored messages, claimed for an
//! attempt exactly once, finished with an outcome per group of
//! recipients, and due in order.

use std::sync::Arc;

use super::fixtures::simple;
use super::{Backend, open};
use crate::domain::timefmt::now_millis;
use crate::store::{
    AttemptOutcome, RelayAttempt, RelayNext, RelayOutcome, RelayState, Selection, Store,
};

fn attempt(outcome: AttemptOutcome, reply: &str) -> RelayAttempt {
    RelayAttempt {
        at: "2025-07-01T10:00:00.000Z".into(),
        outcome,
        reply: reply.into(),
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn queue(store: &Store, id: &str, to: &[&str]) -> i64 {
    assert!(
        store
            .queue_relay(id.into(), "from@example.com".into(), strings(to))
            .await
            .expect("queue_relay")
    );
    let jobs = store.relay_jobs(id.into()).await.expect("relay_jobs");
    jobs.last().expect("the queued release").job
}

/// Queue, claim, finish; retries come due later; a split outcome makes a
/// release per group; deleting the message drops its releases.
pub async fn relay_queue_and_outcomes(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    store.insert(simple("m1", "one")).await.unwrap();
    store.insert(simple("m2", "two")).await.unwrap();
    let queued = store
        .queue_relay(
            "missing".into(),
            "f@example.com".into(),
            strings(&["x@example.com"]),
        )
        .await
        .unwrap();
    assert!(!queued, "no release of a message that is not there");
    assert_eq!(store.relay_next_due().await.unwrap(), None);

    let before = now_millis();
    let first = queue(&store, "m1", &["a@example.com", "b@example.com"]).await;
    let second = queue(&store, "m2", &["c@example.com"]).await;
    let jobs = store.relay_jobs("m1".into()).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!((job.job, job.message_id.as_str()), (first, "m1"));
    assert_eq!(job.mail_from, "from@example.com");
    assert_eq!(job.recipients, strings(&["a@example.com", "b@example.com"]));
    assert_eq!(job.state, RelayState::Queued);
    assert!(job.created_ms >= before && job.next_attempt_ms >= before);
    assert!(job.attempts.is_empty());
    let due: Vec<i64> = store
        .relay_due(now_millis(), 10)
        .await
        .unwrap()
        .iter()
        .map(|j| j.job)
        .collect();
    assert_eq!(due, [first, second], "the longest waiting first");
    assert_eq!(store.relay_due(now_millis(), 1).await.unwrap().len(), 1);
    assert!(store.relay_due(before - 1, 10).await.unwrap().is_empty());
    assert!(
        store
            .relay_next_due()
            .await
            .unwrap()
            .is_some_and(|at| at >= before)
    );

    // The first attempt fails for a while: the release waits, the other
    // comes first.
    assert!(store.start_relay(first).await.unwrap());
    assert_eq!(
        store.relay_jobs("m1".into()).await.unwrap()[0].state,
        RelayState::Sending
    );
    let later = now_millis() + 60_000;
    let retry = RelayOutcome {
        recipients: strings(&["a@example.com", "b@example.com"]),
        attempt: attempt(AttemptOutcome::Temporary, "451 try later"),
        next: RelayNext::RetryAt(later),
    };
    assert!(store.finish_relay(first, vec![retry]).await.unwrap());
    let due = store.relay_due(now_millis(), 10).await.unwrap();
    assert_eq!(due.iter().map(|j| j.job).collect::<Vec<_>>(), [second]);
    let due = store.relay_due(later, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|j| j.job).collect::<Vec<_>>(),
        [second, first]
    );

    // The second attempt goes to one recipient and not the other: two
    // releases, each with both attempts.
    assert!(store.start_relay(first).await.unwrap());
    let split = vec![
        RelayOutcome {
            recipients: strings(&["a@example.com"]),
            attempt: attempt(AttemptOutcome::Sent, "250 ok"),
            next: RelayNext::Sent,
        },
        RelayOutcome {
            recipients: strings(&["b@example.com"]),
            attempt: attempt(AttemptOutcome::Permanent, "550 no such user"),
            next: RelayNext::Failed,
        },
    ];
    assert!(store.finish_relay(first, split).await.unwrap());
    let jobs = store.relay_jobs("m1".into()).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        (jobs[0].state, jobs[1].state),
        (RelayState::Sent, RelayState::Failed)
    );
    assert_eq!(jobs[0].recipients, strings(&["a@example.com"]));
    assert_eq!(jobs[1].recipients, strings(&["b@example.com"]));
    for job in &jobs {
        let outcomes: Vec<_> = job.attempts.iter().map(|a| a.outcome).collect();
        assert_eq!(outcomes[0], AttemptOutcome::Temporary, "{job:?}");
        assert_eq!(outcomes.len(), 2, "{job:?}");
    }
    assert_eq!(jobs[1].attempts[1].reply, "550 no such user");
    assert!(
        !store.start_relay(first).await.unwrap(),
        "a sent release is not claimed"
    );

    // Deleting a message drops its releases.
    store
        .delete(Selection::Ids(vec!["m2".into()]))
        .await
        .unwrap();
    assert!(store.relay_jobs("m2".into()).await.unwrap().is_empty());
    assert!(!store.start_relay(second).await.unwrap());
    let sent = vec![RelayOutcome {
        recipients: strings(&["c@example.com"]),
        attempt: attempt(AttemptOutcome::Sent, "250 ok"),
        next: RelayNext::Sent,
    }];
    assert!(
        !store.finish_relay(second, sent).await.unwrap(),
        "the release is gone"
    );
    assert_eq!(store.relay_next_due().await.unwrap(), None);
}

/// Of many concurrent claims of one release, exactly one wins.
pub async fn relay_claims_once(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    store.insert(simple("m1", "one")).await.unwrap();
    for round in 0..5 {
        let job = queue(&store, "m1", &[&format!("r{round}@example.com")]).await;
        let store = Arc::new(store.clone());
        let claims: Vec<_> = (0..16)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.start_relay(job).await.expect("start_relay") })
            })
            .collect();
        let mut won = 0;
        for claim in claims {
            won += usize::from(claim.await.expect("a claimer"));
        }
        assert_eq!(won, 1, "round {round}: claims won");
    }
}
