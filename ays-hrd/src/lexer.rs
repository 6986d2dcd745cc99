//! Line-level scanning shared by the HRD and `schema.hrd` parsers: quote-aware splitting and
//! comment removal. Offsets are byte offsets into the scanned text.

/// The 1-based column (in characters) of byte offset `byte` in `line`.
pub(crate) fn column(line: &str, byte: usize) -> usize {
    line.get(..byte).map_or(1, |s| s.chars().count() + 1)
}

/// Whether a quote character preceded by `prev` opens a quoted span. Quotes open only at the
/// start of a token (so the `'` in `it's` is an ordinary character).
fn opens_quote(prev: Option<char>) -> bool {
    match prev {
        None => true,
        Some(c) => c.is_whitespace() || matches!(c, '=' | ',' | ':' | '['),
    }
}

/// Calls `f(offset, char, depth)` for every character outside quotes, where `depth` is the
/// bracket nesting depth before the character. Stops early when `f` returns `false`.
///
/// Returns the offset of a quote that is never closed as the error.
pub(crate) fn scan(text: &str, mut f: impl FnMut(usize, char, usize) -> bool) -> Result<(), usize> {
    let mut quote: Option<(char, usize)> = None;
    let mut depth = 0usize;
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        match quote {
            Some((q, _)) => {
                if c == q {
                    quote = None;
                }
            }
            None if (c == '\'' || c == '"') && opens_quote(prev) => quote = Some((c, i)),
            None => {
                if !f(i, c, depth) {
                    return Ok(());
                }
                match c {
                    '[' => depth = depth.saturating_add(1),
                    ']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        prev = Some(c);
    }
    match quote {
        Some((_, at)) => Err(at),
        None => Ok(()),
    }
}

/// Removes a trailing comment: a `#` outside quotes at the start of the line or after
/// whitespace. An unterminated quote leaves the line unchanged (the value parser reports it).
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut cut = None;
    let mut prev_ws = true;
    let _ = scan(line, |i, c, _| {
        if c == '#' && prev_ws {
            cut = Some(i);
            return false;
        }
        prev_ws = c.is_whitespace();
        true
    });
    match cut.and_then(|i| line.get(..i)) {
        Some(s) => s,
        None => line,
    }
}

/// The offset of the first `sep` outside quotes and brackets.
pub(crate) fn find_top(text: &str, sep: char) -> Result<Option<usize>, usize> {
    let mut found = None;
    scan(text, |i, c, depth| {
        if c == sep && depth == 0 {
            found = Some(i);
            return false;
        }
        true
    })?;
    Ok(found)
}

/// Splits `text` at every `sep` outside quotes and brackets, returning `(offset, piece)`.
pub(crate) fn split_top(text: &str, sep: char) -> Result<Vec<(usize, &str)>, usize> {
    let mut cuts = Vec::new();
    scan(text, |i, c, depth| {
        if c == sep && depth == 0 {
            cuts.push(i);
        }
        true
    })?;
    let mut pieces = Vec::with_capacity(cuts.len().saturating_add(1));
    let mut start = 0;
    for cut in cuts {
        pieces.push((start, text.get(start..cut).unwrap_or_default()));
        start = cut.saturating_add(sep.len_utf8());
    }
    pieces.push((start, text.get(start..).unwrap_or_default()));
    Ok(pieces)
}

/// Trims `piece` (found at `offset`) and returns the new offset with the trimmed text.
pub(crate) fn trim_at(offset: usize, piece: &str) -> (usize, &str) {
    let lead = piece.len().saturating_sub(piece.trim_start().len());
    (offset.saturating_add(lead), piece.trim())
}

/// One whitespace-separated token of a `schema.hrd` option list, with its quotes removed.
#[derive(Debug)]
pub(crate) struct OptionToken {
    /// Byte offset of the token in the scanned text.
    pub(crate) offset: usize,
    /// The text before the first unquoted `:` (the whole token for a label).
    pub(crate) key: String,
    /// The text after the first unquoted `:`, for a tag.
    pub(crate) value: Option<String>,
    /// Whether the key part held a quoted span (a quoted label such as `'x'`).
    pub(crate) key_quoted: bool,
}

/// Splits a `schema.hrd` option list into tokens. Single or double quotes protect whitespace
/// and `:`; they open at the start of a token or right after a `:`. An unquoted `#` at the
/// start of a token starts a comment that runs to the end of the line.
///
/// Returns the offset of an unterminated quote as the error.
pub(crate) fn option_tokens(text: &str) -> Result<Vec<OptionToken>, usize> {
    let mut tokens = Vec::new();
    let mut current: Option<OptionToken> = None;
    let mut quote: Option<(char, usize)> = None;
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        if let Some((q, _)) = quote {
            if c == q {
                quote = None;
            } else if let Some(tok) = current.as_mut() {
                match tok.value.as_mut() {
                    Some(v) => v.push(c),
                    None => tok.key.push(c),
                }
            }
            prev = Some(c);
            continue;
        }
        if c.is_whitespace() {
            tokens.extend(current.take());
        } else if (c == '\'' || c == '"') && (current.is_none() || prev == Some(':')) {
            quote = Some((c, i));
            let tok = current.get_or_insert_with(|| OptionToken {
                offset: i,
                key: String::new(),
                value: None,
                key_quoted: false,
            });
            if tok.value.is_none() {
                tok.key_quoted = true;
            }
        } else if c == '#' && current.is_none() {
            break;
        } else {
            let tok = current.get_or_insert_with(|| OptionToken {
                offset: i,
                key: String::new(),
                value: None,
                key_quoted: false,
            });
            match tok.value.as_mut() {
                Some(v) => v.push(c),
                None if c == ':' && !tok.key.is_empty() && !tok.key_quoted => {
                    tok.value = Some(String::new());
                }
                None => tok.key.push(c),
            }
        }
        prev = Some(c);
    }
    if let Some((_, at)) = quote {
        return Err(at);
    }
    tokens.extend(current.take());
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_need_whitespace_before_hash_and_respect_quotes() {
        assert_eq!(strip_comment("pw = abc#def"), "pw = abc#def");
        assert_eq!(strip_comment("pw = abc #def"), "pw = abc ");
        assert_eq!(strip_comment("pw = 'a #b' # c"), "pw = 'a #b' ");
        assert_eq!(strip_comment("# all"), "");
        assert_eq!(strip_comment("x = it's # c"), "x = it's ");
    }

    #[test]
    fn split_respects_quotes_and_brackets() {
        let parts = split_top("1,'a, b',[c,d]", ',').unwrap();
        let texts: Vec<&str> = parts.iter().map(|(_, t)| *t).collect();
        assert_eq!(texts, ["1", "'a, b'", "[c,d]"]);
        assert_eq!(split_top("'abc", ',').unwrap_err(), 0);
    }

    #[test]
    fn option_tokens_split_tags_and_labels() {
        let toks = option_tokens("type:str consume:'disk':0 descr:'a b: c' auto # x y").unwrap();
        let got: Vec<(String, Option<String>)> =
            toks.into_iter().map(|t| (t.key, t.value)).collect();
        assert_eq!(
            got,
            [
                ("type".into(), Some("str".into())),
                ("consume".into(), Some("disk:0".into())),
                ("descr".into(), Some("a b: c".into())),
                ("auto".into(), None),
            ]
        );
        assert_eq!(option_tokens("descr:'abc").unwrap_err(), 6);
    }
}
