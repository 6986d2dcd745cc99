//! Tokens of schema text, each with its line and column.

use std::iter::Peekable;
use std::str::Chars;

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

/// Splits `src` into tokens, ending with [`Tok::Eof`] at the position after the last character.
pub(super) fn lex(src: &str, file: &str) -> Result<Vec<Token>, SchemaError> {
    let mut lexer = Lexer {
        chars: src.chars().peekable(),
        file,
        at: Position { line: 1, column: 1 },
    };
    let mut out = Vec::new();
    while let Some(c) = lexer.peek() {
        if c.is_whitespace() {
            lexer.bump();
        } else if c == '#' {
            lexer.skip_comment();
        } else {
            let start = lexer.at;
            let tok = lexer.token(c)?;
            out.push(start.token(tok));
        }
    }
    out.push(lexer.at.token(Tok::Eof));
    Ok(out)
}

/// A line and a column, both 1-based; columns count characters.
#[derive(Debug, Clone, Copy)]
struct Position {
    line: u32,
    column: u32,
}

impl Position {
    fn token(self, tok: Tok) -> Token {
        Token {
            tok,
            line: self.line,
            column: self.column,
        }
    }
}

/// The characters not yet read, and where the next one is.
struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
    file: &'a str,
    at: Position,
}

impl Lexer<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    /// Reads one character and moves the position past it.
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c == Some('\n') {
            self.at.line = self.at.line.saturating_add(1);
            self.at.column = 1;
        } else if c.is_some() {
            self.at.column = self.at.column.saturating_add(1);
        }
        c
    }

    fn error(&self, at: Position, expected: &str, found: String) -> SchemaError {
        syntax(self.file, at.line, at.column, expected, found)
    }

    /// The token that starts with `c`, the next character.
    fn token(&mut self, c: char) -> Result<Tok, SchemaError> {
        let start = self.at;
        if c.is_ascii_alphabetic() || c == '_' {
            Ok(self.ident())
        } else if c.is_ascii_digit() {
            self.number_or_data(start)
        } else if c == '"' {
            self.string(start)
        } else if "@:;={}()[],.$<>-".contains(c) {
            self.bump();
            Ok(Tok::Punct(c))
        } else {
            Err(self.error(start, "a token", format!("`{c}`")))
        }
    }

    /// Skips a `#` comment up to, not including, the end of its line.
    fn skip_comment(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn ident(&mut self) -> Tok {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if !(c.is_ascii_alphanumeric() || c == '_') {
                break;
            }
            s.push(c);
            self.bump();
        }
        Tok::Ident(s)
    }

    /// A number as written, or a `0x"…"` data literal; `start` is where it begins.
    fn number_or_data(&mut self, start: Position) -> Result<Tok, SchemaError> {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            // A sign belongs to the number only after the exponent of a decimal float.
            let exp_sign = (c == '-' || c == '+')
                && (s.ends_with('e') || s.ends_with('E'))
                && !s.starts_with("0x");
            if !(c.is_ascii_alphanumeric() || c == '.' || exp_sign) {
                break;
            }
            s.push(c);
            self.bump();
        }
        if s == "0x" && self.peek() == Some('"') {
            self.bump();
            self.data(start)
        } else {
            Ok(Tok::Number(s))
        }
    }

    /// The rest of a data literal after `0x"`: hex digits, maybe spaced, up to the closing `"`.
    fn data(&mut self, start: Position) -> Result<Tok, SchemaError> {
        let mut hex = String::new();
        loop {
            match self.bump() {
                Some('"') => break,
                Some(c) if c.is_ascii_hexdigit() => hex.push(c),
                Some(c) if c.is_whitespace() => {}
                other => {
                    let found = other.map_or("end of file".to_owned(), |c| format!("`{c}`"));
                    return Err(self.error(self.at, "a hex digit or `\"`", found));
                }
            }
        }
        let bytes = hex_bytes(&hex)
            .ok_or_else(|| self.error(start, "an even number of hex digits", format!("`{hex}`")))?;
        Ok(Tok::HexData(bytes))
    }

    /// A string literal, as the bytes it stands for; `start` is its opening `"`.
    fn string(&mut self, start: Position) -> Result<Tok, SchemaError> {
        self.bump();
        let mut bytes = Vec::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(self.error(start, "a closing `\"`", "end of line".to_owned()));
                }
                Some('"') => break,
                Some('\\') => bytes.push(self.escape()?),
                Some(c) => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        Ok(Tok::Str(bytes))
    }

    /// The byte an escape sequence stands for (the `\` already read).
    fn escape(&mut self) -> Result<u8, SchemaError> {
        let at = self.at;
        let b = match self.bump() {
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
            Some('x') => self.hex_escape(),
            Some(d @ '0'..='7') => self.octal_escape(d, at)?,
            other => {
                let found = other.map_or("end of file".to_owned(), |c| format!("`\\{c}`"));
                return Err(self.error(at, "an escape sequence", found));
            }
        };
        Ok(b)
    }

    /// Up to two hex digits after `\x`; none at all stands for a zero byte.
    fn hex_escape(&mut self) -> u8 {
        let mut n = 0u8;
        for _ in 0..2 {
            let Some(d) = self.peek().and_then(|c| c.to_digit(16)) else {
                break;
            };
            self.bump();
            n = n
                .wrapping_mul(16)
                .wrapping_add(u8::try_from(d).unwrap_or(0));
        }
        n
    }

    /// Up to two more octal digits after `first`; `at` is where `first` is.
    fn octal_escape(&mut self, first: char, at: Position) -> Result<u8, SchemaError> {
        let mut n = first.to_digit(8).unwrap_or(0);
        for _ in 0..2 {
            let Some(d) = self.peek().and_then(|c| c.to_digit(8)) else {
                break;
            };
            self.bump();
            n = n * 8 + d;
        }
        u8::try_from(n)
            .map_err(|_| self.error(at, "an octal escape up to \\377", format!("\\{n:o}")))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each token of `src` with its line and column.
    fn tokens(src: &str) -> Vec<(Tok, u32, u32)> {
        lex(src, "t.capnp")
            .unwrap()
            .into_iter()
            .map(|t| (t.tok, t.line, t.column))
            .collect()
    }

    /// Where lexing `src` fails, what was expected there and what was found.
    fn syntax_error(src: &str) -> (u32, u32, String, String) {
        match lex(src, "t.capnp") {
            Err(SchemaError::Syntax {
                at,
                expected,
                found,
            }) => {
                assert_eq!(at.file, "t.capnp");
                (at.line, at.column, expected, found)
            }
            Err(other) => panic!("expected a syntax error, got {other:?}"),
            Ok(_) => panic!("expected a syntax error for {src:?}"),
        }
    }

    fn ident(s: &str) -> Tok {
        Tok::Ident(s.to_owned())
    }

    fn number(s: &str) -> Tok {
        Tok::Number(s.to_owned())
    }

    #[test]
    fn every_token_kind_keeps_its_line_and_column() {
        let src = "@0xe0283c28624942f8; # the id\nstruct S_1 {\n  a @0 :Int8 = -12;\n}\n";
        assert_eq!(
            tokens(src),
            [
                (Tok::Punct('@'), 1, 1),
                (number("0xe0283c28624942f8"), 1, 2),
                (Tok::Punct(';'), 1, 20),
                (ident("struct"), 2, 1),
                (ident("S_1"), 2, 8),
                (Tok::Punct('{'), 2, 12),
                (ident("a"), 3, 3),
                (Tok::Punct('@'), 3, 5),
                (number("0"), 3, 6),
                (Tok::Punct(':'), 3, 8),
                (ident("Int8"), 3, 9),
                (Tok::Punct('='), 3, 14),
                (Tok::Punct('-'), 3, 16),
                (number("12"), 3, 17),
                (Tok::Punct(';'), 3, 19),
                (Tok::Punct('}'), 4, 1),
                (Tok::Eof, 5, 1),
            ]
        );
    }

    #[test]
    fn numbers_keep_exponent_signs_but_hex_numbers_do_not() {
        assert_eq!(
            tokens("1.5e-3 2E+4 0x1e-2 7"),
            [
                (number("1.5e-3"), 1, 1),
                (number("2E+4"), 1, 8),
                (number("0x1e"), 1, 13),
                (Tok::Punct('-'), 1, 17),
                (number("2"), 1, 18),
                (number("7"), 1, 20),
                (Tok::Eof, 1, 21),
            ]
        );
    }

    #[test]
    fn data_literals_skip_whitespace_between_hex_digits() {
        assert_eq!(
            tokens("0x\"0a FF\n 10\" ;"),
            [
                (Tok::HexData(vec![0x0a, 0xff, 0x10]), 1, 1),
                (Tok::Punct(';'), 2, 6),
                (Tok::Eof, 2, 7),
            ]
        );
    }

    #[test]
    fn strings_decode_every_escape() {
        let src = r#""\n\t\r\a\b\f\v\\\"\'\?|\x41\x4|\101\7\0|é" x"#;
        let mut expected = b"\n\t\r\x07\x08\x0c\x0b\\\"'?|A\x04|A\x07\x00|".to_vec();
        expected.extend_from_slice("é".as_bytes());
        assert_eq!(
            tokens(src),
            [
                (Tok::Str(expected), 1, 1),
                (ident("x"), 1, 45),
                (Tok::Eof, 1, 46),
            ]
        );
        // `\x` without a hex digit is a zero byte, and stops at the first non-digit.
        assert_eq!(
            tokens(r#""\xg""#),
            [(Tok::Str(b"\0g".to_vec()), 1, 1), (Tok::Eof, 1, 6)]
        );
    }

    #[test]
    fn errors_name_where_and_what() {
        let error = |line, column, expected: &str, found: &str| {
            (line, column, expected.to_owned(), found.to_owned())
        };
        // A bad character inside a data literal is located just after it.
        assert_eq!(
            syntax_error("0x\"0g\""),
            error(1, 6, "a hex digit or `\"`", "`g`")
        );
        assert_eq!(
            syntax_error("0x\"0a"),
            error(1, 6, "a hex digit or `\"`", "end of file")
        );
        // An odd number of digits is located at the literal.
        assert_eq!(
            syntax_error(" 0x\"abc\""),
            error(1, 2, "an even number of hex digits", "`abc`")
        );
        // An unterminated string is located at its opening quote.
        assert_eq!(
            syntax_error("a \"open\nb"),
            error(1, 3, "a closing `\"`", "end of line")
        );
        // At the end of the file the message says end of line too.
        assert_eq!(
            syntax_error("\"open"),
            error(1, 1, "a closing `\"`", "end of line")
        );
        // A bad escape is located at the character after the backslash.
        assert_eq!(
            syntax_error("\"ab\\400\""),
            error(1, 5, "an octal escape up to \\377", "\\400")
        );
        assert_eq!(
            syntax_error("\"ab\\q\""),
            error(1, 5, "an escape sequence", "`\\q`")
        );
        assert_eq!(
            syntax_error("\"ab\\"),
            error(1, 5, "an escape sequence", "end of file")
        );
        assert_eq!(syntax_error("a\n  %"), error(2, 3, "a token", "`%`"));
    }
}
