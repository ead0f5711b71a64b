//! The blind-copy rule: an envelope recipient that no To, Cc or Bcc header
//! names got a blind copy. Ingest, inbox rules and every store's search
//! index use this one rule.

use crate::domain::message::{Address, ParsedMessage};

/// The envelope recipients `rcpt_to` that no To, Cc or Bcc header of `p`
/// names (compared without regard to case), empty ones left out.
pub fn blind_copies<'a>(
    p: &'a ParsedMessage,
    rcpt_to: &'a [String],
) -> impl Iterator<Item = &'a String> + 'a {
    rcpt_to.iter().filter(|recipient| {
        !recipient.is_empty()
            && !p
                .to
                .iter()
                .chain(&p.cc)
                .chain(&p.bcc)
                .any(|a| a.address.eq_ignore_ascii_case(recipient))
    })
}

impl ParsedMessage {
    /// Adds the envelope recipients that no To, Cc or Bcc header names to
    /// the Bcc list: they got a blind copy (Mailpit writes them into a Bcc
    /// header at ingest; Letterbox keeps the raw bytes as received).
    pub fn add_envelope_bcc(&mut self, rcpt_to: &[String]) {
        // One at a time, so that a recipient given twice is added once.
        for recipient in rcpt_to {
            if blind_copies(self, std::slice::from_ref(recipient))
                .next()
                .is_some()
            {
                self.bcc.push(Address {
                    name: String::new(),
                    address: recipient.clone(),
                });
            }
        }
    }
}
