//! Graceful shutdown on SIGTERM: stop accepting, let a message being
//! received finish, turn idle sessions away with 421, commit, close the
//! database cleanly, exit 0.

mod common;

use common::{Letterbox, TempDir, data_payload, queued_id, simple_message};

#[tokio::test]
async fn a_message_in_flight_is_finished_and_kept() {
    let dir = TempDir::new("drain");
    let db = &dir.file("x.db");
    let mut lb = Letterbox::with_args(&["--db", db]);

    let message = simple_message("in flight", "Sent across a SIGTERM.");
    let payload = data_payload(&message);
    let (head, tail) = payload.split_at(payload.len() / 2);
    let mut busy = lb.session().await;
    busy.start_data("a@example.com", &["b@example.com"]).await;
    busy.send(head).await;
    let mut idle = lb.session().await;

    lb.send_sigterm();
    // The idle session hears of the shutdown: proof it has begun.
    idle.reply().await.assert(421, "4.3.2");
    idle.expect_closed().await;
    // And the listener closes (it may take a moment to notice).
    common::eventually("the SMTP listener closes", async || {
        let refused = tokio::net::TcpStream::connect(lb.smtp_addr).await.is_err();
        refused.then_some(())
    })
    .await;

    busy.send(tail).await;
    let id = queued_id(&busy.reply().await);
    // Once its message is answered the session is idle, and closed too.
    busy.reply().await.assert(421, "4.3.2");
    busy.expect_closed().await;
    let status = lb.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    assert!(lb.stderr().contains("shutting down"), "{}", lb.stderr());
    // Closed cleanly: the write-ahead log was checkpointed and removed.
    let wal = format!("{db}-wal");
    assert!(
        !std::path::Path::new(&wal).exists(),
        "{wal} was left behind"
    );
    drop(lb);

    let lb = Letterbox::with_args(&["--db", db]);
    assert_eq!(lb.ids().await, std::slice::from_ref(&id));
    assert_eq!(lb.raw(&id).await, message);
}

#[tokio::test]
async fn an_idle_server_exits_at_once_with_sessions_open() {
    let mut lb = Letterbox::start();
    let mut before_ehlo = lb.smtp().await;
    let mut after_mail_and_rset = lb.session().await;
    after_mail_and_rset
        .envelope("a@example.com", &["b@example.com"])
        .await;
    after_mail_and_rset.expect("RSET", 250, "2.0.0").await;

    lb.send_sigterm();
    for smtp in [&mut before_ehlo, &mut after_mail_and_rset] {
        smtp.reply().await.assert(421, "4.3.2");
        smtp.expect_closed().await;
    }
    let status = lb.wait_exit();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn event_streams_end_instead_of_holding_the_shutdown_up() {
    let mut lb = Letterbox::start();
    // The response head is sent once the handler has subscribed.
    let stream = lb
        .client()
        .get(lb.url("/api/v1/events"))
        .send()
        .await
        .expect("opening the event stream");
    assert_eq!(stream.status(), 200);

    lb.send_sigterm();
    // A stream cut off by the process exiting would be an incomplete
    // chunked body, an error here; ended by the server it is complete.
    let body = stream.text().await;
    assert!(
        body.is_ok(),
        "the event stream did not end cleanly: {body:?}"
    );
    let status = lb.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        !lb.stderr().contains("still busy"),
        "shutdown waited for the stream: {}",
        lb.stderr()
    );
}
