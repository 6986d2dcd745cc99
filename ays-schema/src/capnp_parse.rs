//! Parser for the subset of the Cap'n Proto schema language that actor schemas use.
//!
//! Supported: the file id, `struct` and `enum` declarations (nested too), fields with built-in,
//! list, enum and struct types, default values and `#` comments. Unions, groups, generics,
//! interfaces, annotations, constants, imports and `using` are rejected with a located error.

mod lexer;
mod resolve;

use crate::error::{Location, SchemaError};
use crate::schema::SchemaFile;
use lexer::{Tok, Token, lex};
use resolve::resolve;

/// Parses and validates schema text; `file` names it in error locations.
///
/// # Errors
///
/// [`SchemaError`] naming file, line and column for a syntax error, an unsupported feature,
/// duplicate or non-dense ordinals, duplicate names, unknown types, a bad default, or structs,
/// list types or list literals nested more than 64 levels deep.
pub fn parse_schema(src: &str, file: &str) -> Result<SchemaFile, SchemaError> {
    let tokens = lex(src, file)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
        file,
    };
    let decls = p.file()?;
    resolve(decls, file)
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
    /// How many structs, list types and list literals enclose the current token.
    depth: u32,
    file: &'a str,
}

/// The deepest nesting of structs, list types and list literals accepted. Actor schemas nest a
/// few levels; the limit keeps the recursive descent, and every recursive walk of its result
/// (resolving, layout, drop), from overflowing the stack on hostile text.
const MAX_DEPTH: u32 = 64;

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

    /// Enters one more level of nesting, opened at `at`.
    fn enter(&mut self, at: &Location) -> Result<(), SchemaError> {
        if self.depth >= MAX_DEPTH {
            return Err(SchemaError::TooDeep {
                at: at.clone(),
                limit: MAX_DEPTH,
            });
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves a level entered with [`Parser::enter`].
    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
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
        self.enter(&self.loc())?;
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
                    self.leave();
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
            self.enter(&at)?;
            let inner = self.type_expr()?;
            self.leave();
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
                self.enter(&at)?;
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
                self.leave();
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
