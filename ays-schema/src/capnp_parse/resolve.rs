//! Validation of parsed declarations: names, ordinals, types, defaults, then layout.

use std::collections::HashSet;

use super::{EnumDecl, FieldDecl, FileDecls, Lit, StructDecl, TypeExpr};
use crate::error::{Location, SchemaError};
use crate::layout;
use crate::schema::{EnumDef, FieldDef, SchemaFile, StructDef, Type, TypeRef};
use crate::value::Value;

/// Turns declarations into a validated, laid-out [`SchemaFile`].
pub(super) fn resolve(decls: FileDecls, file: &str) -> Result<SchemaFile, SchemaError> {
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
