//! Reading DER (X.690), as far as Letterbox needs it: one element at a
//! time, with every length checked against what is there. Keys in DKIM
//! records and certificates for TLS channel binding are read with it.

/// The element `der` starts with: its tag, its contents and what follows
/// it. `None` when the bytes end early or a length is too long to mean
/// anything here (more than four length octets).
pub fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (length, rest) = rest.split_at(octets);
        (
            length.iter().fold(0, |n, &b| (n << 8) | usize::from(b)),
            rest,
        )
    };
    (length <= rest.len()).then(|| (tag, &rest[..length], &rest[length..]))
}

#[cfg(test)]
mod tests {
    use super::element;

    #[test]
    fn short_and_long_lengths_and_what_does_not_fit() {
        assert_eq!(
            element(&[0x02, 0x01, 0x05, 0xff]),
            Some((0x02, &[0x05][..], &[0xff][..]))
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        let (tag, contents, rest) = element(&long).unwrap();
        assert_eq!((tag, contents.len(), rest.len()), (0x04, 0x80, 0));
        assert_eq!(
            element(&[0x30, 0x05, 0x01]),
            None,
            "shorter than its length"
        );
        assert_eq!(
            element(&[0x30, 0x85, 1, 0, 0, 0, 0]),
            None,
            "five length octets"
        );
        assert_eq!(element(&[0x30, 0x80]), None, "indefinite length is not DER");
        assert_eq!(element(&[0x30]), None);
        assert_eq!(element(&[]), None);
    }
}
