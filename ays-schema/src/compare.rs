//! Compatibility of two versions of a struct: whether data written with the old one stays
//! readable with the new one.

use crate::error::CodecError;
use crate::schema::{SchemaFile, StructDef, Type};

/// How a new version of a struct relates to the old one, for migrating stored data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compatibility {
    /// Same fields, ordinals, types and defaults (the file id is ignored).
    Identical,
    /// Only new fields at new ordinals (or new enumerants at the end): old data stays readable.
    Compatible {
        /// Paths of the added fields.
        added: Vec<String>,
    },
    /// Old data cannot be read with the new schema as is.
    Incompatible {
        /// Path of the first offending field (`inner.x`).
        field: String,
        /// What changed.
        change: Change,
    },
}

/// An incompatible change to one field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The field is gone (or renamed).
    Removed,
    /// The field moved to another ordinal.
    Renumbered {
        /// Old ordinal.
        old: u16,
        /// New ordinal.
        new: u16,
    },
    /// The field's type changed.
    TypeChanged {
        /// Old type.
        old: String,
        /// New type.
        new: String,
    },
    /// The default changed, which changes the meaning of stored data fields.
    DefaultChanged,
    /// Enumerants of the field's enum were removed, renamed or reordered.
    EnumChanged,
}

/// Compares struct `struct_name` in two versions of a schema, field by field (nested structs
/// and enums too), ignoring the file id.
///
/// # Errors
///
/// [`CodecError::UnknownStruct`] if either schema lacks the struct.
pub fn compare_structs(
    old: &SchemaFile,
    new: &SchemaFile,
    struct_name: &str,
) -> Result<Compatibility, CodecError> {
    fn find<'s>(s: &'s SchemaFile, name: &str) -> Result<&'s StructDef, CodecError> {
        s.find_struct(name)
            .ok_or_else(|| CodecError::UnknownStruct {
                file: s.file.clone(),
                name: name.to_owned(),
            })
    }
    let (o, n) = (find(old, struct_name)?, find(new, struct_name)?);
    let mut added = Vec::new();
    let mut stack = Vec::new();
    if let Some((field, change)) = compare(old, new, o, n, "", &mut added, &mut stack) {
        return Ok(Compatibility::Incompatible { field, change });
    }
    Ok(if added.is_empty() {
        Compatibility::Identical
    } else {
        Compatibility::Compatible { added }
    })
}

fn compare(
    old: &SchemaFile,
    new: &SchemaFile,
    o: &StructDef,
    n: &StructDef,
    prefix: &str,
    added: &mut Vec<String>,
    stack: &mut Vec<String>,
) -> Option<(String, Change)> {
    // A recursive struct is compared once.
    if stack.contains(&o.name) {
        return None;
    }
    stack.push(o.name.clone());
    let path = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    for of in &o.fields {
        let Some(nf) = n.field(&of.name) else {
            return Some((path(&of.name), Change::Removed));
        };
        if nf.ordinal != of.ordinal {
            return Some((
                path(&of.name),
                Change::Renumbered {
                    old: of.ordinal,
                    new: nf.ordinal,
                },
            ));
        }
        if let Some(change) = compare_types(old, new, &of.ty, &nf.ty, &path(&of.name), added, stack)
        {
            return Some(change);
        }
        if of.default != nf.default {
            return Some((path(&of.name), Change::DefaultChanged));
        }
    }
    for nf in &n.fields {
        if o.field(&nf.name).is_none() {
            if usize::from(nf.ordinal) < o.fields.len() {
                // A new name at an old ordinal: the old field was renamed away.
                let old_name = o
                    .fields
                    .iter()
                    .find(|f| f.ordinal == nf.ordinal)
                    .map_or_else(|| nf.name.clone(), |f| f.name.clone());
                return Some((path(&old_name), Change::Removed));
            }
            added.push(path(&nf.name));
        }
    }
    stack.pop();
    None
}

fn compare_types(
    old: &SchemaFile,
    new: &SchemaFile,
    ot: &Type,
    nt: &Type,
    path: &str,
    added: &mut Vec<String>,
    stack: &mut Vec<String>,
) -> Option<(String, Change)> {
    let changed = || {
        Some((
            path.to_owned(),
            Change::TypeChanged {
                old: ot.to_string(),
                new: nt.to_string(),
            },
        ))
    };
    match (ot, nt) {
        (Type::List(a), Type::List(b)) => compare_types(old, new, a, b, path, added, stack),
        (Type::Struct(a), Type::Struct(b)) => {
            if a.name != b.name {
                return changed();
            }
            let (Some(os), Some(ns)) = (old.structs.get(a.index), new.structs.get(b.index)) else {
                return changed();
            };
            compare(old, new, os, ns, path, added, stack)
        }
        (Type::Enum(a), Type::Enum(b)) => {
            if a.name != b.name {
                return changed();
            }
            let (Some(oe), Some(ne)) = (old.enums.get(a.index), new.enums.get(b.index)) else {
                return changed();
            };
            if !ne.enumerants.starts_with(&oe.enumerants) {
                return Some((path.to_owned(), Change::EnumChanged));
            }
            if ne.enumerants.len() > oe.enumerants.len() {
                added.extend(
                    ne.enumerants
                        .iter()
                        .skip(oe.enumerants.len())
                        .map(|e| format!("{}.{e}", ne.name)),
                );
            }
            None
        }
        _ if ot == nt => None,
        _ => changed(),
    }
}
