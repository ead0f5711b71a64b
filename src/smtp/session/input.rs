//! Input framing: command lines, DATA content and BDAT chunks.

use super::{MAX_LINE, Phase, Session, Step};
use crate::smtp::data::DataProgress;
use crate::smtp::reply::Reply;

impl Session {
    pub(super) fn advance_input(&mut self) -> Step {
        loop {
            let pending = &self.input[self.pos..];
            match &mut self.phase {
                Phase::Closed => return Step::Close,
                Phase::Delivering => return Step::NeedInput,
                Phase::TlsHandshake => {
                    self.phase = Phase::Command;
                    return Step::StartTls;
                }
                Phase::Data(rx) => {
                    let txn = self.txn.as_mut().expect("DATA phase has a transaction");
                    if txn.body.capacity() == 0 {
                        // Usually the whole message is in this read: one
                        // allocation instead of a dozen doublings.
                        txn.body.reserve(pending.len());
                    }
                    let before = txn.body.len();
                    let progress = rx.ingest(pending, &mut txn.body);
                    if !txn.count_growth(before) {
                        rx.stop_keeping();
                    }
                    match progress {
                        DataProgress::NeedMore => {
                            txn.received = rx.received();
                            self.pos = self.input.len();
                            return Step::NeedInput;
                        }
                        DataProgress::Done { consumed } => {
                            txn.received = rx.received();
                            self.pos += consumed;
                            self.phase = Phase::Command;
                            return self.finish_message();
                        }
                    }
                }
                Phase::Bdat {
                    remaining,
                    last,
                    refusal,
                } => {
                    let take = pending.len().min(*remaining);
                    if refusal.is_none() {
                        let txn = self.txn.as_mut().expect("accepted BDAT has a transaction");
                        if !txn.over_budget {
                            let before = txn.body.len();
                            let room = self.config.max_message_size.saturating_sub(before);
                            txn.body.extend_from_slice(&pending[..take.min(room)]);
                            txn.count_growth(before);
                        }
                        txn.received += take;
                    }
                    *remaining -= take;
                    self.pos += take;
                    if *remaining > 0 {
                        return Step::NeedInput;
                    }
                    let (last, refusal) = (*last, refusal.take());
                    self.phase = Phase::Command;
                    if let Some(step) = refusal {
                        return self.emit(step);
                    }
                    if last {
                        return self.finish_message();
                    }
                    let txn = self.txn.as_ref().expect("accepted BDAT has a transaction");
                    let text = format!("Ok: {} octets received", txn.received);
                    return self.reply(Reply::new(250, "2.0.0", text));
                }
                Phase::Command | Phase::Auth(_) => {
                    let Some(line) = self.take_line() else {
                        return Step::NeedInput;
                    };
                    match line {
                        Line::TooLong => {
                            // An over-long SASL response abandons the exchange.
                            self.phase = Phase::Command;
                            return self.reply(Reply::new(500, "5.5.2", "Line too long"));
                        }
                        Line::Complete(line) => {
                            if let Some(step) = self.line(&line) {
                                return step;
                            }
                        }
                    }
                }
            }
        }
    }

    pub(super) fn take_line(&mut self) -> Option<Line> {
        let pending = &self.input[self.pos..];
        match pending.iter().position(|&b| b == b'\n') {
            Some(end) => {
                self.pos += end + 1;
                if self.discarding_line {
                    self.discarding_line = false;
                    return self.take_line();
                }
                if end + 1 > MAX_LINE {
                    return Some(Line::TooLong);
                }
                let line = &self.input[self.pos - end - 1..self.pos];
                Some(Line::Complete(line.to_vec()))
            }
            None if pending.len() >= MAX_LINE => {
                self.pos = self.input.len();
                let first = !self.discarding_line;
                self.discarding_line = true;
                // Reply once per over-long line, not once per read.
                first.then_some(Line::TooLong)
            }
            None => None,
        }
    }
}

pub(super) enum Line {
    Complete(Vec<u8>),
    TooLong,
}
