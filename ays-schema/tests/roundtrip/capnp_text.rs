//! The capnp tool's text format: parse what `capnp decode` prints, print what `capnp encode` reads.

use std::fmt::Write as _;

use ays_schema::{FieldDef, Record, SchemaFile, Slot, StructDef, Type, Value};

/// A value in capnp text form, before it is checked against a type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TextVal {
    Struct(Vec<(String, TextVal)>),
    List(Vec<TextVal>),
    Str(Vec<u8>),
    /// A number, enumerant, `true`/`false`, `inf`, `nan`.
    Atom(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    P(char),
    Str(Vec<u8>),
    Atom(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\n' | b'\t' | b'\r' => i += 1,
            b'(' | b')' | b'[' | b']' | b',' | b'=' => {
                out.push(Tok::P(c as char));
                i += 1;
            }
            b'"' => {
                i += 1;
                let mut v = Vec::new();
                loop {
                    let c = *b.get(i).ok_or("unterminated string")?;
                    i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let e = *b.get(i).ok_or("bad escape")?;
                            i += 1;
                            v.push(match e {
                                b'n' => b'\n',
                                b't' => b'\t',
                                b'r' => b'\r',
                                b'a' => 7,
                                b'b' => 8,
                                b'f' => 12,
                                b'v' => 11,
                                b'x' => {
                                    let h = s.get(i..i + 2).ok_or("bad hex escape")?;
                                    i += 2;
                                    u8::from_str_radix(h, 16).map_err(|e| e.to_string())?
                                }
                                b'0'..=b'7' => {
                                    let mut n = u32::from(e - b'0');
                                    for _ in 0..2 {
                                        match b.get(i) {
                                            Some(d @ b'0'..=b'7') => {
                                                n = n * 8 + u32::from(d - b'0');
                                                i += 1;
                                            }
                                            _ => break,
                                        }
                                    }
                                    u8::try_from(n).map_err(|e| e.to_string())?
                                }
                                other => other,
                            });
                        }
                        other => v.push(other),
                    }
                }
                out.push(Tok::Str(v));
            }
            _ => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b"_.+-".contains(&b[i])) {
                    i += 1;
                }
                if start == i {
                    return Err(format!("unexpected byte {c:#x} at {i}"));
                }
                out.push(Tok::Atom(s[start..i].to_owned()));
            }
        }
    }
    Ok(out)
}

impl TextVal {
    /// Parses one value (as printed by `capnp decode --short`).
    pub(crate) fn parse(s: &str) -> Result<TextVal, String> {
        let toks = lex(s)?;
        let mut pos = 0;
        let v = value(&toks, &mut pos)?;
        if pos != toks.len() {
            return Err(format!("trailing tokens after {pos}: {s}"));
        }
        Ok(v)
    }
}

fn value(t: &[Tok], pos: &mut usize) -> Result<TextVal, String> {
    let tok = t.get(*pos).ok_or("unexpected end")?.clone();
    *pos += 1;
    match tok {
        Tok::Str(s) => Ok(TextVal::Str(s)),
        Tok::Atom(a) => Ok(TextVal::Atom(a)),
        Tok::P('(') => {
            let mut fields = Vec::new();
            if t.get(*pos) == Some(&Tok::P(')')) {
                *pos += 1;
                return Ok(TextVal::Struct(fields));
            }
            loop {
                let Some(Tok::Atom(name)) = t.get(*pos).cloned() else {
                    return Err(format!("expected field name at {pos}"));
                };
                if t.get(*pos + 1) != Some(&Tok::P('=')) {
                    return Err(format!("expected `=` at {}", *pos + 1));
                }
                *pos += 2;
                fields.push((name, value(t, pos)?));
                match t.get(*pos) {
                    Some(Tok::P(',')) => *pos += 1,
                    Some(Tok::P(')')) => {
                        *pos += 1;
                        return Ok(TextVal::Struct(fields));
                    }
                    other => return Err(format!("expected `,` or `)`, got {other:?}")),
                }
            }
        }
        Tok::P('[') => {
            let mut items = Vec::new();
            if t.get(*pos) == Some(&Tok::P(']')) {
                *pos += 1;
                return Ok(TextVal::List(items));
            }
            loop {
                items.push(value(t, pos)?);
                match t.get(*pos) {
                    Some(Tok::P(',')) => *pos += 1,
                    Some(Tok::P(']')) => {
                        *pos += 1;
                        return Ok(TextVal::List(items));
                    }
                    other => return Err(format!("expected `,` or `]`, got {other:?}")),
                }
            }
        }
        other => Err(format!("unexpected {other:?}")),
    }
}

/// What our decoder yields for an absent field: its default, or the type's zero or empty value;
/// `None` for a struct field (a null struct pointer is left out).
pub(crate) fn default_of(schema: &SchemaFile, f: &FieldDef) -> Option<Value> {
    if let Some(d) = &f.default {
        return Some(d.clone());
    }
    Some(match &f.ty {
        Type::Bool => Value::Bool(false),
        Type::Int8 | Type::Int16 | Type::Int32 | Type::Int64 => Value::Int(0),
        Type::UInt8 | Type::UInt16 | Type::UInt32 | Type::UInt64 => Value::UInt(0),
        Type::Float32 | Type::Float64 => Value::Float(0.0),
        Type::Enum(r) => Value::Enum(schema.enums[r.index].enumerants[0].clone()),
        Type::Text => Value::Text(String::new()),
        Type::Data => Value::Data(Vec::new()),
        Type::List(_) => Value::List(Vec::new()),
        Type::Struct(_) => return None,
        other => panic!("unexpected type {other}"),
    })
}

fn convert(schema: &SchemaFile, ty: &Type, v: &TextVal) -> Value {
    match (ty, v) {
        (Type::Bool, TextVal::Atom(a)) => Value::Bool(a == "true"),
        (Type::Int8 | Type::Int16 | Type::Int32 | Type::Int64, TextVal::Atom(a)) => {
            Value::Int(a.parse().unwrap())
        }
        (Type::UInt8 | Type::UInt16 | Type::UInt32 | Type::UInt64, TextVal::Atom(a)) => {
            Value::UInt(a.parse().unwrap())
        }
        (Type::Float32 | Type::Float64, TextVal::Atom(a)) => Value::Float(match a.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            "nan" => f64::NAN,
            _ => a.parse().unwrap(),
        }),
        (Type::Text, TextVal::Str(s)) => Value::Text(String::from_utf8(s.clone()).unwrap()),
        (Type::Data, TextVal::Str(s)) => Value::Data(s.clone()),
        (Type::Enum(_), TextVal::Atom(a)) => Value::Enum(a.clone()),
        (Type::List(elem), TextVal::List(items)) => {
            Value::List(items.iter().map(|i| convert(schema, elem, i)).collect())
        }
        (Type::Struct(r), TextVal::Struct(_)) => {
            Value::Struct(text_to_record(schema, &schema.structs[r.index], v))
        }
        _ => panic!("capnp printed {v:?} for a {ty}"),
    }
}

/// Converts a parsed struct into the record our decoder gives for the same message.
pub(crate) fn text_to_record(schema: &SchemaFile, s: &StructDef, v: &TextVal) -> Record {
    let TextVal::Struct(fields) = v else {
        panic!("expected a struct, got {v:?}")
    };
    let mut r = Record::new();
    for f in &s.fields {
        let value = match fields.iter().find(|(n, _)| *n == f.name) {
            Some((_, tv)) => convert(schema, &f.ty, tv),
            None => {
                // capnp prints every data field, so only pointer fields may be missing.
                assert!(
                    matches!(f.slot, Slot::Pointer(_)),
                    "capnp left out {}",
                    f.name
                );
                match default_of(schema, f) {
                    Some(v) => v,
                    None => continue,
                }
            }
        };
        r.insert(f.name.as_str(), value);
    }
    for (n, _) in fields {
        assert!(s.field(n).is_some(), "capnp printed unknown field {n}");
    }
    r
}

fn print_value(schema: &SchemaFile, ty: &Type, v: &Value, out: &mut String) {
    match (ty, v) {
        (_, Value::Bool(b)) => write!(out, "{b}").unwrap(),
        (_, Value::Int(i)) => write!(out, "{i}").unwrap(),
        (_, Value::UInt(u)) => write!(out, "{u}").unwrap(),
        (_, Value::Float(f)) => write!(out, "{f:?}").unwrap(),
        (_, Value::Enum(e)) => out.push_str(e),
        (_, Value::Text(s)) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => write!(out, "\\x{:02x}", u32::from(c)).unwrap(),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        (_, Value::Data(d)) => {
            out.push_str("0x\"");
            for b in d {
                write!(out, "{b:02x}").unwrap();
            }
            out.push('"');
        }
        (Type::List(elem), Value::List(items)) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print_value(schema, elem, item, out);
            }
            out.push(']');
        }
        (Type::Struct(r), Value::Struct(rec)) => {
            out.push_str(&print_record(schema, &schema.structs[r.index], rec));
        }
        _ => panic!("cannot print {v:?} as {ty}"),
    }
}

/// Prints a record in capnp text form, fields in ordinal order.
pub(crate) fn print_record(schema: &SchemaFile, s: &StructDef, r: &Record) -> String {
    let mut out = String::from("(");
    let mut first = true;
    for f in &s.fields {
        if let Some(v) = r.get(&f.name) {
            if !first {
                out.push_str(", ");
            }
            first = false;
            write!(out, "{} = ", f.name).unwrap();
            print_value(schema, &f.ty, v, &mut out);
        }
    }
    out.push(')');
    out
}
