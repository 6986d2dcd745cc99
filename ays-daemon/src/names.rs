//! The rule every name in a request path (and every repository's directory name) follows, so
//! that no name can reach outside the file or key it names: not empty, at most 255 bytes, no
//! `/` or `\` (so no absolute path and no second path component), no leading `.` (so neither
//! `.` nor `..` nor a hidden file), no control character.

/// The longest name, in bytes (a file name's limit on common file systems).
pub(crate) const MAX_LEN: usize = 255;

/// Why `name` breaks the rule, if it does.
pub(crate) fn check(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > MAX_LEN {
        return Err("is longer than 255 bytes");
    }
    if name.starts_with('.') {
        return Err("starts with `.` (no `.`, `..` or hidden names)");
    }
    if name.contains(['/', '\\']) {
        return Err("holds `/` or `\\` (no paths)");
    }
    if name.chars().any(char::is_control) {
        return Err("holds a control character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn traversal_absolute_and_hidden_names_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "/etc",
            "a/b",
            "../x",
            "a\\b",
            "a\0b",
            "a\nb",
            &"x".repeat(256),
        ] {
            assert!(check(bad).is_err(), "{bad:?} must be refused");
        }
        for good in [
            "repo",
            "node!vm1",
            "a.b",
            "x..y",
            "auto_0",
            "dé",
            &"x".repeat(255),
        ] {
            assert_eq!(check(good), Ok(()), "{good:?}");
        }
    }
}
