//! Keys: an owned key that displays escaped, and the range arithmetic of prefix scans.

use std::fmt;
use std::ops::Bound;

/// An owned binary key, as carried by errors and used where a key must outlive a borrow.
///
/// It displays with non-printable bytes escaped (`\x00`, `\xff`), so binary keys stay readable in
/// messages and logs.
///
/// ```
/// let key = ays_store::Key::from(&b"svc\x00\xff"[..]);
/// assert_eq!(key.to_string(), r"svc\x00\xff");
/// assert_eq!(key.as_bytes(), b"svc\x00\xff");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Key(Vec<u8>);

impl Key {
    /// The raw bytes of the key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The raw bytes of the key, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl From<&[u8]> for Key {
    fn from(bytes: &[u8]) -> Self {
        Key(bytes.to_vec())
    }
}

impl From<Vec<u8>> for Key {
    fn from(bytes: Vec<u8>) -> Self {
        Key(bytes)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

/// The smallest key greater than every key that starts with `prefix`, or `None` when no such key
/// exists (the prefix is empty or all `0xFF`), meaning the scan runs to the end of the key space.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if let Some(next) = last.checked_add(1) {
            end.push(next);
            return Some(end);
        }
    }
    None
}

/// Where a prefix scan starts: after `after` when it lies at or beyond `prefix`, else at `prefix`.
///
/// Returns the start key and whether it is excluded (the `after` cursor) or included (the prefix).
pub(crate) fn scan_start<'a>(prefix: &'a [u8], after: Option<&'a [u8]>) -> (&'a [u8], bool) {
    match after {
        Some(after) if after >= prefix => (after, true),
        _ => (prefix, false),
    }
}

/// A lower and an upper bound on keys.
pub(crate) type Bounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// The bounds of a prefix scan, or `None` when the range is empty (the cursor lies at or past the
/// end of the prefix). `BTreeMap::range` panics on inverted bounds, so callers must check first.
pub(crate) fn scan_bounds<'a>(
    prefix: &'a [u8],
    after: Option<&'a [u8]>,
    end: Option<&'a [u8]>,
) -> Option<Bounds<'a>> {
    let (start, exclusive) = scan_start(prefix, after);
    if end.is_some_and(|end| start >= end) {
        return None;
    }
    let lower = if exclusive {
        Bound::Excluded(start)
    } else {
        Bound::Included(start)
    };
    let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
    Some((lower, upper))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_last_byte_below_ff() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn scan_start_uses_cursor_only_past_prefix() {
        assert_eq!(scan_start(b"b", Some(b"a")), (&b"b"[..], false));
        assert_eq!(scan_start(b"b", Some(b"bz")), (&b"bz"[..], true));
        assert_eq!(scan_start(b"b", None), (&b"b"[..], false));
    }

    #[test]
    fn scan_bounds_are_empty_past_the_prefix() {
        assert_eq!(scan_bounds(b"p", Some(b"z"), Some(b"q")), None);
        assert_eq!(scan_bounds(b"p", Some(b"q"), Some(b"q")), None);
        assert_eq!(
            scan_bounds(b"p", Some(b"p1"), Some(b"q")),
            Some((Bound::Excluded(&b"p1"[..]), Bound::Excluded(&b"q"[..])))
        );
        assert_eq!(
            scan_bounds(b"", None, None),
            Some((Bound::Included(&b""[..]), Bound::Unbounded))
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// `prefix_end` splits the key space exactly: keys with the prefix lie in
        /// `[prefix, end)`, every other key at or past `prefix` lies at or past `end`.
        #[test]
        fn prefix_end_bounds_exactly_the_prefixed_keys(
            prefix in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4),
            key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6),
        ) {
            let end = prefix_end(&prefix);
            let below_end = end.as_ref().is_none_or(|end| key < *end);
            if key.starts_with(&prefix) {
                proptest::prop_assert!(key >= prefix && below_end);
            } else if key >= prefix {
                proptest::prop_assert!(!below_end);
            }
        }
    }

    #[test]
    fn key_display_escapes_binary() {
        assert_eq!(Key::from(&b"a\x00\xff"[..]).to_string(), r"a\x00\xff");
        assert_eq!(format!("{:?}", Key::from(&b"q\""[..])), r#"b"q\"""#);
    }
}
