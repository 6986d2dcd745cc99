//! Parser for the subset of the Cap'n Proto schema language that actor schemas use.
//!
//! Supported: the file id, `struct` and `enum` declarations (nested too), fields with built-in,
//! list, enum and struct types, default values and `#` comments. Unions, groups, generics,
//! interfaces, annotations, constants, imports and `using` are rejected with a located error.

use std::collections::HashSet;

use crate::error::{Location, SchemaError};
use crate::layout;
use crate::schema::{EnumDef, FieldDef, SchemaFile, StructDef, Type, TypeRef};
use crate::value::Value;

/// Parses and validates schema text; `file` names it in error locations.
///
/// # Errors
///
/// [`SchemaError`] naming file, line and column for a syntax error, an unsupported feature,
/// duplicate or non-dense ordinals, duplicate names, unknown types or a bad default.
pub fn parse_schema(src: &str, file: &str) -> Result<SchemaFile, SchemaError> {
    let tokens = lex(src, file)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        file,
    };
    let decls = p.file()?;
    resolve(decls, file)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
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
    fn describe(&self) -> String {
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

struct Token {
    tok: Tok,
    line: u32,
    column: u32,
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

fn lex(src: &str, file: &str) -> Result<Vec<Token>, SchemaError> {
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

/// A literal as written, before it is checked against a type.
#[derive(Debug, Clone)]
enum Lit {
    Number { negative: bool, text: String },
    Ident(String),
    Str(Vec<u8>),
    Data(Vec<u8>),
    List(Vec<(Location, Lit)>),
}

#[derive(Debug)]
enum TypeExpr {
    Named(Location, Vec<String>),
    List(Box<TypeExpr>),
}

#[derive(Debug)]
struct FieldDecl {
    name: String,
    ordinal: u16,
    at: Location,
    ordinal_at: Location,
    ty: TypeExpr,
    default: Option<(Location, Lit)>,
}

#[derive(Debug)]
struct StructDecl {
    name: String,
    at: Location,
    fields: Vec<FieldDecl>,
    structs: Vec<StructDecl>,
    enums: Vec<EnumDecl>,
}

#[derive(Debug)]
struct EnumDecl {
    name: String,
    at: Location,
    enumerants: Vec<(String, u16, Location)>,
}

struct FileDecls {
    id: u64,
    structs: Vec<StructDecl>,
    enums: Vec<EnumDecl>,
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    file: &'a str,
}

const UNSUPPORTED_KEYWORDS: &[(&str, &str)] = &[
    ("union", "unions"),
    ("group", "groups"),
    ("interface", "interfaces"),
    ("annotation", "annotation declarations"),
    ("const", "constants"),
    ("using", "`using` declarations"),
    ("import", "imports"),
];

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.pos).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn loc(&self) -> Location {
        let (line, column) = self
            .tokens
            .get(self.pos)
            .or_else(|| self.tokens.last())
            .map_or((1, 1), |t| (t.line, t.column));
        Location {
            file: self.file.to_owned(),
            line,
            column,
        }
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn err<T>(&self, expected: &str) -> Result<T, SchemaError> {
        Err(SchemaError::Syntax {
            at: self.loc(),
            expected: expected.to_owned(),
            found: self.peek().describe(),
        })
    }

    fn unsupported<T>(&self, feature: &'static str) -> Result<T, SchemaError> {
        Err(SchemaError::Unsupported {
            at: self.loc(),
            feature,
        })
    }

    fn check_unsupported_keyword(&self) -> Result<(), SchemaError> {
        if let Tok::Ident(word) = self.peek()
            && let Some((_, feature)) = UNSUPPORTED_KEYWORDS.iter().find(|(k, _)| k == word)
        {
            return self.unsupported(feature);
        }
        Ok(())
    }

    fn punct(&mut self, c: char) -> Result<(), SchemaError> {
        if *self.peek() == Tok::Punct(c) {
            self.next();
            Ok(())
        } else {
            self.err(&format!("`{c}`"))
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, SchemaError> {
        match self.peek() {
            Tok::Ident(s) => {
                let s = s.clone();
                self.next();
                Ok(s)
            }
            _ => self.err(what),
        }
    }

    fn no_annotation(&self) -> Result<(), SchemaError> {
        if *self.peek() == Tok::Punct('$') {
            return self.unsupported("annotations");
        }
        Ok(())
    }

    /// `@0x…` as an id (the `@` already consumed).
    fn id_number(&mut self) -> Result<u64, SchemaError> {
        let parsed = match self.peek() {
            Tok::Number(n) => n
                .strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok()),
            _ => None,
        };
        match parsed {
            Some(id) if id & (1 << 63) != 0 => {
                self.next();
                Ok(id)
            }
            _ => self.err("a 64-bit hex id with the top bit set, like `@0xe0283c28624942f8`"),
        }
    }

    fn file(&mut self) -> Result<FileDecls, SchemaError> {
        let mut id = None;
        let mut structs = Vec::new();
        let mut enums = Vec::new();
        loop {
            self.check_unsupported_keyword()?;
            match self.peek() {
                Tok::Eof => break,
                Tok::Punct('@') if id.is_none() => {
                    self.next();
                    id = Some(self.id_number()?);
                    self.punct(';')?;
                }
                Tok::Punct('$') => return self.unsupported("annotations"),
                // The id comes first, as in every schema we read or generate.
                _ if id.is_none() => return self.err("the file id `@0x…;`"),
                Tok::Ident(k) if k == "struct" => structs.push(self.struct_decl("")?),
                Tok::Ident(k) if k == "enum" => enums.push(self.enum_decl("")?),
                _ => return self.err("`struct` or `enum`"),
            }
        }
        match id {
            Some(id) => Ok(FileDecls { id, structs, enums }),
            None => self.err("the file id `@0x…;`"),
        }
    }

    fn decl_name(&mut self, prefix: &str) -> Result<(String, Location), SchemaError> {
        let at = self.loc();
        self.next(); // `struct` or `enum`
        let name = self.ident("a name")?;
        if *self.peek() == Tok::Punct('(') {
            return self.unsupported("generic parameters");
        }
        if *self.peek() == Tok::Punct('@') {
            self.next();
            self.id_number()?;
        }
        self.no_annotation()?;
        self.punct('{')?;
        let full = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}.{name}")
        };
        Ok((full, at))
    }

    fn struct_decl(&mut self, prefix: &str) -> Result<StructDecl, SchemaError> {
        let (name, at) = self.decl_name(prefix)?;
        let mut decl = StructDecl {
            name,
            at,
            fields: Vec::new(),
            structs: Vec::new(),
            enums: Vec::new(),
        };
        loop {
            self.check_unsupported_keyword()?;
            match self.peek() {
                Tok::Punct('}') => {
                    self.next();
                    return Ok(decl);
                }
                Tok::Ident(k) if k == "struct" => {
                    let s = self.struct_decl(&decl.name)?;
                    decl.structs.push(s);
                }
                Tok::Ident(k) if k == "enum" => {
                    let e = self.enum_decl(&decl.name)?;
                    decl.enums.push(e);
                }
                Tok::Ident(_) => decl.fields.push(self.field()?),
                _ => return self.err("a field, `struct`, `enum` or `}`"),
            }
        }
    }

    fn ordinal(&mut self) -> Result<(u16, Location), SchemaError> {
        let at = self.loc();
        let n = match self.peek() {
            Tok::Number(n) => n.parse::<u16>().ok(),
            _ => None,
        };
        match n {
            Some(n) => {
                self.next();
                Ok((n, at))
            }
            None => self.err("an ordinal (0 to 65535)"),
        }
    }

    fn field(&mut self) -> Result<FieldDecl, SchemaError> {
        let at = self.loc();
        let name = self.ident("a field name")?;
        if *self.peek() == Tok::Punct(':') {
            // `name :union { … }` or `name :group { … }`.
            self.next();
            self.check_unsupported_keyword()?;
            return self.err("`@N` ordinal");
        }
        self.punct('@')?;
        let (ordinal, ordinal_at) = self.ordinal()?;
        self.punct(':')?;
        self.check_unsupported_keyword()?;
        let ty = self.type_expr()?;
        let default = if *self.peek() == Tok::Punct('=') {
            self.next();
            Some(self.literal()?)
        } else {
            None
        };
        self.no_annotation()?;
        self.punct(';')?;
        Ok(FieldDecl {
            name,
            ordinal,
            at,
            ordinal_at,
            ty,
            default,
        })
    }

    fn type_expr(&mut self) -> Result<TypeExpr, SchemaError> {
        let at = self.loc();
        let mut path = vec![self.ident("a type")?];
        while *self.peek() == Tok::Punct('.') {
            self.next();
            path.push(self.ident("a type name after `.`")?);
        }
        if path.len() == 1 && path.first().is_some_and(|p| p == "List") {
            self.punct('(')?;
            let inner = self.type_expr()?;
            self.punct(')')?;
            return Ok(TypeExpr::List(Box::new(inner)));
        }
        if *self.peek() == Tok::Punct('(') {
            return self.unsupported("generic types");
        }
        if let Some(name) = path.first().filter(|_| path.len() == 1) {
            let feature = match name.as_str() {
                "AnyPointer" | "Capability" => Some("AnyPointer and capability types"),
                "Void" => Some("Void fields"),
                _ => None,
            };
            if let Some(feature) = feature {
                return Err(SchemaError::Unsupported { at, feature });
            }
        }
        Ok(TypeExpr::Named(at, path))
    }

    fn literal(&mut self) -> Result<(Location, Lit), SchemaError> {
        let at = self.loc();
        let lit = match self.next() {
            Tok::Punct('-') => match self.next() {
                Tok::Number(text) => Lit::Number {
                    negative: true,
                    text,
                },
                Tok::Ident(text) if text == "inf" => Lit::Number {
                    negative: true,
                    text,
                },
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return self.err("a number after `-`");
                }
            },
            Tok::Number(text) => Lit::Number {
                negative: false,
                text,
            },
            Tok::Ident(s) if s == "inf" || s == "nan" => Lit::Number {
                negative: false,
                text: s,
            },
            Tok::Ident(s) => Lit::Ident(s),
            Tok::Str(s) => Lit::Str(s),
            Tok::HexData(d) => Lit::Data(d),
            Tok::Punct('[') => {
                let mut items = Vec::new();
                if *self.peek() == Tok::Punct(']') {
                    self.next();
                } else {
                    loop {
                        items.push(self.literal()?);
                        match self.next() {
                            Tok::Punct(',') => {}
                            Tok::Punct(']') => break,
                            _ => {
                                self.pos = self.pos.saturating_sub(1);
                                return self.err("`,` or `]`");
                            }
                        }
                    }
                }
                Lit::List(items)
            }
            Tok::Punct('(') => {
                self.pos = self.pos.saturating_sub(1);
                return self.unsupported("struct literal defaults");
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return self.err("a default value");
            }
        };
        Ok((at, lit))
    }

    fn enum_decl(&mut self, prefix: &str) -> Result<EnumDecl, SchemaError> {
        let (name, at) = self.decl_name(prefix)?;
        let mut enumerants = Vec::new();
        loop {
            self.check_unsupported_keyword()?;
            if *self.peek() == Tok::Punct('}') {
                self.next();
                return Ok(EnumDecl {
                    name,
                    at,
                    enumerants,
                });
            }
            let eat = self.loc();
            let e = self.ident("an enumerant name or `}`")?;
            self.punct('@')?;
            let (ordinal, _) = self.ordinal()?;
            self.no_annotation()?;
            self.punct(';')?;
            enumerants.push((e, ordinal, eat));
        }
    }
}

/// Turns declarations into a validated, laid-out [`SchemaFile`].
fn resolve(decls: FileDecls, file: &str) -> Result<SchemaFile, SchemaError> {
    let mut struct_decls = Vec::new();
    let mut enum_decls = Vec::new();
    flatten(
        decls.structs,
        decls.enums,
        &mut struct_decls,
        &mut enum_decls,
    );
    check_names(file, &struct_decls, &enum_decls)?;
    let struct_names: Vec<String> = struct_decls.iter().map(|s| s.name.clone()).collect();
    let mut enums = Vec::new();
    for e in enum_decls {
        enums.push(resolve_enum(e)?);
    }
    let lookup = Lookup {
        structs: &struct_names,
        enums: &enums,
    };
    let mut structs = Vec::new();
    for s in struct_decls {
        structs.push(resolve_struct(s, &lookup)?);
    }
    Ok(SchemaFile {
        file: file.to_owned(),
        id: decls.id,
        structs,
        enums,
    })
}

/// A struct's own members (not nested ones), after flattening.
struct FlatStruct {
    name: String,
    at: Location,
    fields: Vec<FieldDecl>,
}

fn flatten(
    structs: Vec<StructDecl>,
    enums: Vec<EnumDecl>,
    out_s: &mut Vec<FlatStruct>,
    out_e: &mut Vec<EnumDecl>,
) {
    out_e.extend(enums);
    for s in structs {
        out_s.push(FlatStruct {
            name: s.name,
            at: s.at,
            fields: s.fields,
        });
        flatten(s.structs, s.enums, out_s, out_e);
    }
}

fn check_names(file: &str, structs: &[FlatStruct], enums: &[EnumDecl]) -> Result<(), SchemaError> {
    let mut seen = HashSet::new();
    let decls = structs
        .iter()
        .map(|s| (&s.name, &s.at))
        .chain(enums.iter().map(|e| (&e.name, &e.at)));
    for (name, at) in decls {
        if !seen.insert(name.as_str()) {
            let (scope, short) = match name.rsplit_once('.') {
                Some((scope, short)) => (scope.to_owned(), short.to_owned()),
                None => (file.to_owned(), name.clone()),
            };
            return Err(SchemaError::DuplicateName {
                at: at.clone(),
                scope,
                name: short,
            });
        }
    }
    for s in structs {
        let mut names = HashSet::new();
        for f in &s.fields {
            // A field may not share a name with a nested declaration either.
            let nested = format!("{}.{}", s.name, f.name);
            if !names.insert(f.name.as_str()) || seen.contains(nested.as_str()) {
                return Err(SchemaError::DuplicateName {
                    at: f.at.clone(),
                    scope: s.name.clone(),
                    name: f.name.clone(),
                });
            }
        }
    }
    Ok(())
}

fn dense_ordinals(
    at: &Location,
    scope: &str,
    ordinals: impl Iterator<Item = u16>,
) -> Result<(), SchemaError> {
    let mut present: Vec<u16> = ordinals.collect();
    present.sort_unstable();
    for (expected, got) in (0u32..).zip(&present) {
        if u32::from(*got) != expected {
            return Err(SchemaError::OrdinalGap {
                at: at.clone(),
                scope: scope.to_owned(),
                missing: expected,
            });
        }
    }
    Ok(())
}

fn resolve_enum(e: EnumDecl) -> Result<EnumDef, SchemaError> {
    let mut names = HashSet::new();
    let mut ords = HashSet::new();
    for (n, o, at) in &e.enumerants {
        if !names.insert(n.as_str()) {
            return Err(SchemaError::DuplicateName {
                at: at.clone(),
                scope: e.name.clone(),
                name: n.clone(),
            });
        }
        if !ords.insert(*o) {
            return Err(SchemaError::DuplicateOrdinal {
                at: at.clone(),
                struct_name: e.name.clone(),
                field: n.clone(),
                ordinal: *o,
            });
        }
    }
    dense_ordinals(&e.at, &e.name, e.enumerants.iter().map(|(_, o, _)| *o))?;
    let mut enumerants = e.enumerants;
    enumerants.sort_by_key(|(_, o, _)| *o);
    Ok(EnumDef {
        name: e.name,
        at: e.at,
        enumerants: enumerants.into_iter().map(|(n, _, _)| n).collect(),
    })
}

struct Lookup<'a> {
    structs: &'a [String],
    enums: &'a [EnumDef],
}

impl Lookup<'_> {
    /// Resolves a (possibly dotted) name from inside `scope`, innermost scope first.
    fn resolve(&self, scope: &str, path: &[String], at: &Location) -> Result<Type, SchemaError> {
        let written = path.join(".");
        if path.len() == 1
            && let Some(t) = Type::builtin(&written)
        {
            return Ok(t);
        }
        let mut prefix = Some(scope);
        while let Some(p) = prefix {
            let full = if p.is_empty() {
                written.clone()
            } else {
                format!("{p}.{written}")
            };
            if let Some(index) = self.structs.iter().position(|s| *s == full) {
                return Ok(Type::Struct(TypeRef { index, name: full }));
            }
            if let Some(index) = self.enums.iter().position(|e| e.name == full) {
                return Ok(Type::Enum(TypeRef { index, name: full }));
            }
            prefix = if p.is_empty() {
                None
            } else {
                Some(p.rsplit_once('.').map_or("", |(outer, _)| outer))
            };
        }
        Err(SchemaError::UnknownType {
            at: at.clone(),
            name: written,
        })
    }

    fn type_of(&self, scope: &str, t: &TypeExpr) -> Result<Type, SchemaError> {
        match t {
            TypeExpr::Named(at, path) => self.resolve(scope, path, at),
            TypeExpr::List(inner) => Ok(Type::List(Box::new(self.type_of(scope, inner)?))),
        }
    }
}

fn resolve_struct(s: FlatStruct, lookup: &Lookup<'_>) -> Result<StructDef, SchemaError> {
    let mut ords = HashSet::new();
    for f in &s.fields {
        if !ords.insert(f.ordinal) {
            return Err(SchemaError::DuplicateOrdinal {
                at: f.ordinal_at.clone(),
                struct_name: s.name.clone(),
                field: f.name.clone(),
                ordinal: f.ordinal,
            });
        }
    }
    dense_ordinals(&s.at, &s.name, s.fields.iter().map(|f| f.ordinal))?;
    let mut decls = s.fields;
    decls.sort_by_key(|f| f.ordinal);
    let mut fields = Vec::with_capacity(decls.len());
    for f in decls {
        let ty = lookup.type_of(&s.name, &f.ty)?;
        let default = match &f.default {
            Some((at, lit)) => Some(default_value(&f.name, &ty, at, lit, lookup.enums)?),
            None => None,
        };
        fields.push(FieldDef {
            name: f.name,
            ordinal: f.ordinal,
            ty,
            default,
            at: f.at,
            slot: layout::Slot::Pointer(0),
        });
    }
    let (slots, struct_layout) =
        layout::compute(fields.iter().map(|f| &f.ty)).ok_or_else(|| SchemaError::Unsupported {
            at: s.at.clone(),
            feature: "structs larger than 65535 words or pointers",
        })?;
    for (f, slot) in fields.iter_mut().zip(slots) {
        f.slot = slot;
    }
    Ok(StructDef {
        name: s.name,
        at: s.at,
        fields,
        layout: struct_layout,
    })
}

/// Checks a default literal against its type and converts it to a [`Value`].
fn default_value(
    field: &str,
    ty: &Type,
    at: &Location,
    lit: &Lit,
    enums: &[EnumDef],
) -> Result<Value, SchemaError> {
    let bad = || SchemaError::BadDefault {
        at: at.clone(),
        field: field.to_owned(),
        expected: format!("a value of type {ty}"),
        found: describe_lit(lit),
    };
    let int = |lit: &Lit| -> Option<i128> {
        let Lit::Number { negative, text } = lit else {
            return None;
        };
        let magnitude = match text.strip_prefix("0x") {
            Some(h) => i128::from_str_radix(h, 16).ok()?,
            None if text.len() > 1 && text.starts_with('0') => {
                i128::from_str_radix(text.get(1..)?, 8).ok()?
            }
            None => text.parse::<i128>().ok()?,
        };
        Some(if *negative { -magnitude } else { magnitude })
    };
    let v = match (ty, lit) {
        (Type::Bool, Lit::Ident(b)) if b == "true" || b == "false" => Value::Bool(b == "true"),
        (Type::Int8 | Type::Int16 | Type::Int32 | Type::Int64, _) => {
            let n = int(lit).ok_or_else(bad)?;
            let v = i64::try_from(n).map_err(|_| bad())?;
            crate::codec::check_int(ty, v).map_err(|()| bad())?;
            Value::Int(v)
        }
        (Type::UInt8 | Type::UInt16 | Type::UInt32 | Type::UInt64, _) => {
            let n = int(lit).ok_or_else(bad)?;
            let v = u64::try_from(n).map_err(|_| bad())?;
            crate::codec::check_uint(ty, v).map_err(|()| bad())?;
            Value::UInt(v)
        }
        (Type::Float32 | Type::Float64, Lit::Number { negative, text }) => {
            let f = match text.as_str() {
                "inf" => f64::INFINITY,
                "nan" => f64::NAN,
                t => t.parse::<f64>().map_err(|_| bad())?,
            };
            Value::Float(if *negative { -f } else { f })
        }
        (Type::Text, Lit::Str(bytes)) => {
            Value::Text(String::from_utf8(bytes.clone()).map_err(|_| bad())?)
        }
        (Type::Data, Lit::Str(bytes) | Lit::Data(bytes)) => Value::Data(bytes.clone()),
        (Type::Enum(r), Lit::Ident(name)) => {
            let known = enums
                .get(r.index)
                .is_some_and(|e| e.enumerants.iter().any(|n| n == name));
            if !known {
                return Err(bad());
            }
            Value::Enum(name.clone())
        }
        (Type::List(inner), Lit::List(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (item_at, item) in items {
                out.push(default_value(field, inner, item_at, item, enums)?);
            }
            Value::List(out)
        }
        _ => return Err(bad()),
    };
    Ok(v)
}

fn describe_lit(lit: &Lit) -> String {
    match lit {
        Lit::Number { negative, text } => format!("`{}{text}`", if *negative { "-" } else { "" }),
        Lit::Ident(s) => format!("`{s}`"),
        Lit::Str(_) => "a string".to_owned(),
        Lit::Data(_) => "a data literal".to_owned(),
        Lit::List(_) => "a list".to_owned(),
    }
}
