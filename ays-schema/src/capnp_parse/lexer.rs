//! Tokens of schema text, each with its line and column.

use crate::error::{Location, SchemaError};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    /// A number literal as written (decimal, hex or float), without sign.
    Number(String),
    Str(Vec<u8>),
    /// `0x"…"` data literal.
    HexData(Vec<u8>),
    Punct(char),
    Eof,
}

impl Tok {
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Number(s) => format!("number `{s}`"),
            Tok::Str(_) => "a string".to_owned(),
            Tok::HexData(_) => "a data literal".to_owned(),
            Tok::Punct(c) => format!("`{c}`"),
            Tok::Eof => "end of file".to_owned(),
        }
    }
}

pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) line: u32,
    pub(super) column: u32,
}

fn syntax(file: &str, line: u32, column: u32, expected: &str, found: String) -> SchemaError {
    SchemaError::Syntax {
        at: Location {
            file: file.to_owned(),
            line,
            column,
        },
        expected: expected.to_owned(),
        found,
    }
}

pub(super) fn lex(src: &str, file: &str) -> Result<Vec<Token>, SchemaError> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    let (mut line, mut column) = (1u32, 1u32);
    macro_rules! bump {
        () => {{
            let c = chars.next();
            if c == Some('\n') {
                line = line.saturating_add(1);
                column = 1;
            } else if c.is_some() {
                column = column.saturating_add(1);
            }
            c
        }};
    }
    while let Some(&c) = chars.peek() {
        let (l, col) = (line, column);
        let push = |out: &mut Vec<Token>, tok| {
            out.push(Token {
                tok,
                line: l,
                column: col,
            })
        };
        if c.is_whitespace() {
            bump!();
        } else if c == '#' {
            while let Some(&c) = chars.peek() {
                if c == '\n' {
                    break;
                }
                bump!();
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if !(c.is_ascii_alphanumeric() || c == '_') {
                    break;
                }
                s.push(c);
                bump!();
            }
            push(&mut out, Tok::Ident(s));
        } else if c.is_ascii_digit() {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                let exp_sign = (c == '-' || c == '+')
                    && (s.ends_with('e') || s.ends_with('E'))
                    && !s.starts_with("0x");
                if !(c.is_ascii_alphanumeric() || c == '.' || exp_sign) {
                    break;
                }
                s.push(c);
                bump!();
            }
            if s == "0x" && chars.peek() == Some(&'"') {
                bump!();
                let mut hex = String::new();
                loop {
                    match bump!() {
                        Some('"') => break,
                        Some(c) if c.is_ascii_hexdigit() => hex.push(c),
                        Some(c) if c.is_whitespace() => {}
                        other => {
                            let found =
                                other.map_or("end of file".to_owned(), |c| format!("`{c}`"));
                            return Err(syntax(file, line, column, "a hex digit or `\"`", found));
                        }
                    }
                }
                let bytes = hex_bytes(&hex).ok_or_else(|| {
                    syntax(
                        file,
                        l,
                        col,
                        "an even number of hex digits",
                        format!("`{hex}`"),
                    )
                })?;
                push(&mut out, Tok::HexData(bytes));
            } else {
                push(&mut out, Tok::Number(s));
            }
        } else if c == '"' {
            bump!();
            let mut bytes = Vec::new();
            loop {
                match bump!() {
                    None | Some('\n') => {
                        return Err(syntax(
                            file,
                            l,
                            col,
                            "a closing `\"`",
                            "end of line".to_owned(),
                        ));
                    }
                    Some('"') => break,
                    Some('\\') => {
                        let (el, ec) = (line, column);
                        let e = bump!();
                        let b = match e {
                            Some('n') => b'\n',
                            Some('t') => b'\t',
                            Some('r') => b'\r',
                            Some('a') => 7,
                            Some('b') => 8,
                            Some('f') => 12,
                            Some('v') => 11,
                            Some('\\') => b'\\',
                            Some('"') => b'"',
                            Some('\'') => b'\'',
                            Some('?') => b'?',
                            Some('x') => {
                                let mut n = 0u8;
                                for _ in 0..2 {
                                    let d = chars.peek().and_then(|c| c.to_digit(16));
                                    let Some(d) = d else { break };
                                    bump!();
                                    n = n
                                        .wrapping_mul(16)
                                        .wrapping_add(u8::try_from(d).unwrap_or(0));
                                }
                                n
                            }
                            Some(d @ '0'..='7') => {
                                let mut n = d.to_digit(8).unwrap_or(0);
                                for _ in 0..2 {
                                    let d = chars.peek().and_then(|c| c.to_digit(8));
                                    let Some(d) = d else { break };
                                    bump!();
                                    n = n * 8 + d;
                                }
                                u8::try_from(n).map_err(|_| {
                                    syntax(
                                        file,
                                        el,
                                        ec,
                                        "an octal escape up to \\377",
                                        format!("\\{n:o}"),
                                    )
                                })?
                            }
                            other => {
                                let found =
                                    other.map_or("end of file".to_owned(), |c| format!("`\\{c}`"));
                                return Err(syntax(file, el, ec, "an escape sequence", found));
                            }
                        };
                        bytes.push(b);
                    }
                    Some(c) => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            push(&mut out, Tok::Str(bytes));
        } else if "@:;={}()[],.$<>-".contains(c) {
            bump!();
            push(&mut out, Tok::Punct(c));
        } else {
            return Err(syntax(file, l, col, "a token", format!("`{c}`")));
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        line,
        column,
    });
    Ok(out)
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
