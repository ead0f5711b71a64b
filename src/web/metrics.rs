//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4),
//! written by hand: a handful of counters does not need a metrics crate.
//!
//! Several nodes may share one store (PostgreSQL): each family's help
//! starts with its scope, `[shared]` for what is stored (every node
//! reports the same; take one, not the sum) or `[node]` for what this
//! process did since it started (sum them over the nodes), and
//! `letterbox_node_info` names the node.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::{ApiError, AppState};
use crate::app::stats::{ChaosKey, LATENCY_BUCKETS, RejectReason, Snapshot};
use crate::store::Counts;

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let counts = state.app.counts().await?;
    let store = state.app.store_info().await?;
    let database_bytes = store.bytes.unwrap_or(0);
    let webhook_queued = state.app.webhook_queue().await?.queued;
    let stats = state.app.stats();
    let node = Node {
        id: state.app.node_id(),
        store: store.backend,
    };
    let body = render(
        &node,
        &counts,
        database_bytes,
        webhook_queued,
        &stats.snapshot(),
        &stats.chaos_counts(),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    ))
}

/// Whose a family's numbers are.
#[derive(Clone, Copy)]
enum Scope {
    /// The store's: the same on every node that shares it.
    Shared,
    /// This process's since it started.
    Node,
}

/// Which node is answering.
struct Node<'a> {
    id: &'a str,
    /// The store's backend, e.g. `postgres`.
    store: &'a str,
}

/// One metric family: its `# HELP` line, which starts with its scope, and
/// its `# TYPE` line; then come its samples.
fn family(out: &mut String, name: &str, kind: &str, scope: Scope, help: &str) {
    let scope = match scope {
        Scope::Shared => "[shared]",
        Scope::Node => "[node]",
    };
    let _ = writeln!(out, "# HELP {name} {scope} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{name}{labels} {value}");
}

fn render(
    node: &Node,
    counts: &Counts,
    database_bytes: u64,
    webhook_queued: u64,
    stats: &Snapshot,
    chaos: &[(ChaosKey, u64)],
) -> String {
    let mut out = String::with_capacity(4096);
    let simple: [(&str, &str, Scope, &str, u64); 11] = [
        (
            "letterbox_messages",
            "gauge",
            Scope::Shared,
            "Messages in the store.",
            counts.total,
        ),
        (
            "letterbox_messages_unread",
            "gauge",
            Scope::Shared,
            "Unread messages in the store.",
            counts.unread,
        ),
        (
            "letterbox_database_size_bytes",
            "gauge",
            Scope::Shared,
            "Size of the database.",
            database_bytes,
        ),
        (
            "letterbox_smtp_accepted_total",
            "counter",
            Scope::Node,
            "Messages received over SMTP and committed to the store.",
            stats.smtp_accepted,
        ),
        (
            "letterbox_smtp_accepted_bytes_total",
            "counter",
            Scope::Node,
            "Bytes of the messages counted in letterbox_smtp_accepted_total.",
            stats.smtp_accepted_bytes,
        ),
        (
            "letterbox_smtp_sessions_active",
            "gauge",
            Scope::Node,
            "Open SMTP connections.",
            stats.smtp_sessions,
        ),
        (
            "letterbox_smtp_data_in_flight_bytes",
            "gauge",
            Scope::Node,
            "Message content SMTP sessions hold in memory before it is stored (bounded by --smtp-data-budget).",
            stats.smtp_data_in_flight_bytes,
        ),
        (
            "letterbox_messages_deleted_total",
            "counter",
            Scope::Node,
            "Messages deleted through the API.",
            stats.messages_deleted,
        ),
        (
            "letterbox_websocket_clients",
            "gauge",
            Scope::Node,
            "Connected WebSocket clients (open web UI tabs).",
            stats.websocket_clients,
        ),
        (
            "letterbox_webhook_queued",
            "gauge",
            Scope::Shared,
            "Webhook deliveries waiting in the queue (due, retrying or in progress).",
            webhook_queued,
        ),
        (
            "letterbox_uptime_seconds",
            "counter",
            Scope::Node,
            "Seconds since Letterbox started.",
            stats.uptime_secs,
        ),
    ];
    for (name, kind, scope, help, value) in simple {
        family(&mut out, name, kind, scope, help);
        sample(&mut out, name, "", value);
    }

    let name = "letterbox_smtp_rejected_total";
    family(
        &mut out,
        name,
        "counter",
        Scope::Node,
        "SMTP transactions or connections refused, by reason.",
    );
    for (reason, value) in RejectReason::ALL.iter().zip(stats.smtp_rejected) {
        sample(
            &mut out,
            name,
            &format!("{{reason=\"{}\"}}", reason.label()),
            value,
        );
    }

    let name = "letterbox_smtp_chaos_injected_total";
    family(
        &mut out,
        name,
        "counter",
        Scope::Node,
        "SMTP failures, dropped connections and delays injected by chaos rules or fail-CODE@ addresses.",
    );
    for ((source, stage, outcome), value) in chaos {
        sample(
            &mut out,
            name,
            &format!("{{source=\"{source}\",stage=\"{stage}\",outcome=\"{outcome}\"}}"),
            value,
        );
    }

    let name = "letterbox_relay_attempts_total";
    family(
        &mut out,
        name,
        "counter",
        Scope::Node,
        "Relay delivery attempts, by result: sent, retried (failed for now), failed (for good).",
    );
    for (result, value) in [
        ("sent", stats.relay_sent),
        ("retried", stats.relay_retried),
        ("failed", stats.relay_failed),
    ] {
        sample(&mut out, name, &format!("{{result=\"{result}\"}}"), value);
    }

    let name = "letterbox_webhook_attempts_total";
    family(
        &mut out,
        name,
        "counter",
        Scope::Node,
        "Webhook delivery attempts, by result: delivered, retried (failed for now), dropped (failed, and its time was up).",
    );
    for (result, value) in [
        ("delivered", stats.webhook_delivered),
        ("retried", stats.webhook_retried),
        ("dropped", stats.webhook_dropped),
    ] {
        sample(&mut out, name, &format!("{{result=\"{result}\"}}"), value);
    }

    let name = "letterbox_ingest_duration_seconds";
    family(
        &mut out,
        name,
        "histogram",
        Scope::Node,
        "Time from a message's last byte to its commit (parse, compress, write, fsync).",
    );
    let histogram = &stats.ingest_latency;
    let bounds = LATENCY_BUCKETS
        .iter()
        .map(|b| b.to_string())
        .chain(["+Inf".to_string()]);
    for (bound, count) in bounds.zip(histogram.cumulative) {
        sample(
            &mut out,
            &format!("{name}_bucket"),
            &format!("{{le=\"{bound}\"}}"),
            count,
        );
    }
    sample(&mut out, &format!("{name}_sum"), "", histogram.sum_secs);
    sample(&mut out, &format!("{name}_count"), "", histogram.count());

    family(
        &mut out,
        "letterbox_build_info",
        "gauge",
        Scope::Node,
        "Always 1; the version is a label.",
    );
    sample(
        &mut out,
        "letterbox_build_info",
        &format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")),
        1,
    );
    family(
        &mut out,
        "letterbox_node_info",
        "gauge",
        Scope::Node,
        "Always 1; the node's ID (as in /api/v1/info's Node.ID) and its store's backend are labels.",
    );
    sample(
        &mut out,
        "letterbox_node_info",
        &format!("{{node=\"{}\",store=\"{}\"}}", node.id, node.store),
        1,
    );
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::stats::Stats;

    #[test]
    fn every_sample_follows_its_type_line() {
        let stats = Stats::default();
        stats.message_accepted(1234, Duration::from_millis(2));
        stats.message_rejected(RejectReason::MessageTooBig);
        let counts = Counts {
            total: 3,
            unread: 2,
        };
        stats.chaos_injected("rule", "rcpt", "451");
        let node = Node {
            id: "01JNODE",
            store: "sqlite",
        };
        let text = render(
            &node,
            &counts,
            4096,
            2,
            &stats.snapshot(),
            &stats.chaos_counts(),
        );
        assert!(text.contains("\nletterbox_messages 3\n"), "{text}");
        assert!(text.contains("\nletterbox_webhook_queued 2\n"));
        assert!(text.contains("letterbox_webhook_attempts_total{result=\"dropped\"} 0\n"));
        assert!(text.contains("letterbox_smtp_accepted_bytes_total 1234\n"));
        assert!(text.contains("letterbox_smtp_rejected_total{reason=\"message_too_big\"} 1\n"));
        assert!(text.contains("letterbox_ingest_duration_seconds_bucket{le=\"0.001\"} 0\n"));
        assert!(text.contains("letterbox_ingest_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
        assert!(text.contains("letterbox_ingest_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("letterbox_ingest_duration_seconds_count 1\n"));
        assert!(text.contains(
            "letterbox_smtp_chaos_injected_total{source=\"rule\",stage=\"rcpt\",outcome=\"451\"} 1\n"
        ));

        assert!(text.contains("\nletterbox_node_info{node=\"01JNODE\",store=\"sqlite\"} 1\n"));
        assert!(text.contains("# HELP letterbox_messages [shared] "));
        assert!(text.contains("# HELP letterbox_smtp_accepted_total [node] "));

        // Every family says whose its numbers are.
        for line in text.lines().filter(|l| l.starts_with("# HELP ")) {
            let help = line.splitn(4, ' ').nth(3).unwrap();
            assert!(
                help.starts_with("[shared] ") || help.starts_with("[node] "),
                "no scope in {line:?}"
            );
        }

        // The exposition format: each sample's family was declared by a
        // TYPE line before it, and no family is declared twice.
        let mut declared: Vec<&str> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(!declared.contains(&name), "{name} declared twice");
                declared.push(name);
            } else if !line.starts_with('#') {
                let metric = line.split(['{', ' ']).next().unwrap();
                let family = declared.last().expect("a sample before any TYPE line");
                assert!(
                    metric == *family
                        || metric
                            .strip_prefix(family)
                            .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s)),
                    "{metric} is not in family {family}"
                );
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "bad value in {line:?}");
            }
        }
    }
}
