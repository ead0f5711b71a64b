//! Slow and idle clients: hundreds of connections that trickle a byte a
//! second or send nothing neither block a fresh client nor stay open past
//! the idle timeout. In a file of their own, because timing is what they
//! test: cargo runs test files one at a time, so no sibling test loads the
//! machine meanwhile.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Letterbox, TIMEOUT, data_payload, queued_id};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How a slow connection ended: with the idle-timeout reply or otherwise.
/// `greeted` counts the connections that got their greeting.
async fn slow_connection(
    addr: SocketAddr,
    trickle: bool,
    greeted: Arc<AtomicUsize>,
) -> Result<(), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut greeting = String::new();
    read.read_line(&mut greeting)
        .await
        .map_err(|e| format!("greeting: {e}"))?;
    if !greeting.starts_with("220 ") {
        return Err(format!("greeting {greeting:?}"));
    }
    greeted.fetch_add(1, Ordering::SeqCst);
    // A trickler never completes its command: one byte a second.
    let trickler = tokio::spawn(async move {
        if trickle {
            for byte in b"EHLO ".iter().chain(std::iter::repeat(&b'x')) {
                if write.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        } else {
            // Keep the write half open without sending anything.
            std::future::pending::<()>().await;
        }
    });
    let mut rest = String::new();
    let result = tokio::time::timeout(3 * TIMEOUT, read.read_to_string(&mut rest)).await;
    trickler.abort();
    match result {
        Ok(_) if rest.starts_with("421 4.4.2 ") => Ok(()),
        Ok(_) => Err(format!("ended with {rest:?}")),
        Err(_) => Err("never closed".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_and_idle_clients_neither_block_others_nor_stay_forever() {
    const SLOW: usize = 500;
    // Long enough that, on a loaded machine, the first connections are
    // still open when the last is greeted. (All 500 connect at once: with
    // the kernel's default listen backlog of 128, some of their SYNs were
    // dropped and retried seconds later.)
    // All from one address: the per-address limit is lifted for this.
    let lb = Letterbox::with_args(&[
        "--smtp-idle-timeout",
        "10s",
        "--smtp-max-connections-per-ip",
        "1000",
    ]);
    let opened = Instant::now();
    let greeted = Arc::new(AtomicUsize::new(0));
    let slow: Vec<_> = (0..SLOW)
        .map(|n| tokio::spawn(slow_connection(lb.smtp_addr, n % 2 == 0, greeted.clone())))
        .collect();
    // Every slow connection has been accepted and greeted.
    common::eventually("all slow connections greeted", async || {
        (greeted.load(Ordering::SeqCst) == SLOW).then_some(())
    })
    .await;
    let open_time = opened.elapsed();

    let started = Instant::now();
    let id = lb.send_simple("past the slow ones").await;
    let fresh = started.elapsed();
    assert_eq!(lb.message(&id).await["Subject"], "past the slow ones");
    eprintln!(
        "{SLOW} slow connections open after {open_time:.2?}; a fresh client's message took {fresh:.2?}"
    );

    let mut failures = Vec::new();
    for (n, task) in slow.into_iter().enumerate() {
        if let Err(err) = task.await.expect("a slow connection task") {
            let kind = if n % 2 == 0 { "trickling" } else { "idle" };
            failures.push(format!("{kind} {n}: {err}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} slow connections not closed by the idle timeout: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    eprintln!("all closed after {:.2?}", opened.elapsed());
}

/// A client sending content slowly but steadily is not cut off: inside
/// DATA every byte counts as progress, and it keeps up the minimum rate.
#[tokio::test]
async fn slow_message_content_is_not_an_idle_connection() {
    let lb = Letterbox::with_args(&["--smtp-idle-timeout", "2s", "--smtp-min-data-rate", "10"]);
    let mut smtp = lb.session().await;
    smtp.start_data("a@example.com", &["b@example.com"]).await;
    let data = b"Subject: slow\r\n\r\nline one\r\nline two\r\nline three\r\n";
    let payload = data_payload(data);
    for piece in payload.chunks(payload.len() / 4 + 1) {
        smtp.send(piece).await;
        tokio::time::sleep(Duration::from_millis(900)).await;
    }
    let id = queued_id(&smtp.reply().await);
    assert_eq!(lb.raw(&id).await, data);
}
