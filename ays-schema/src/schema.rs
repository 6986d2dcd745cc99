//! The parsed, validated and laid-out form of a `.capnp` schema file.

use std::fmt;

use crate::error::Location;
use crate::layout::{Slot, StructLayout};
use crate::value::Value;

/// A parsed schema file: its id and every struct and enum, nested ones included.
///
/// Nested declarations are flattened and named by their dotted path (`Schema.Inner`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SchemaFile {
    /// The file name given to [`crate::parse_schema`], used in locations.
    pub file: String,
    /// The file id (`@0x…;`).
    pub id: u64,
    /// Every struct, in declaration order (outer before inner).
    pub structs: Vec<StructDef>,
    /// Every enum, in declaration order.
    pub enums: Vec<EnumDef>,
}

impl SchemaFile {
    /// The struct with this full name (`Schema`, or `Outer.Inner` for a nested one).
    pub fn find_struct(&self, name: &str) -> Option<&StructDef> {
        self.structs.iter().find(|s| s.name == name)
    }

    /// The enum with this full name.
    pub fn find_enum(&self, name: &str) -> Option<&EnumDef> {
        self.enums.iter().find(|e| e.name == name)
    }

    /// Index of the struct with this full name in [`SchemaFile::structs`].
    pub(crate) fn struct_index(&self, name: &str) -> Option<usize> {
        self.structs.iter().position(|s| s.name == name)
    }
}

/// One struct, with its fields in ordinal order and its computed layout.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StructDef {
    /// Full dotted name.
    pub name: String,
    /// Where `struct` is written.
    pub at: Location,
    /// Fields sorted by ordinal (ordinals are dense, so `fields[i].ordinal == i`).
    pub fields: Vec<FieldDef>,
    /// Data section size and pointer count.
    pub layout: StructLayout,
}

impl StructDef {
    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// One field of a struct.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FieldDef {
    /// The field name.
    pub name: String,
    /// The `@N` ordinal.
    pub ordinal: u16,
    /// The field type.
    pub ty: Type,
    /// The default value, already checked against the type.
    pub default: Option<Value>,
    /// Where the field is declared.
    pub at: Location,
    /// Where the field lives in the struct.
    pub slot: Slot,
}

/// One enum, with its enumerants in ordinal order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EnumDef {
    /// Full dotted name.
    pub name: String,
    /// Where `enum` is written.
    pub at: Location,
    /// Enumerant names; the index is the ordinal.
    pub enumerants: Vec<String>,
}

/// A reference to a declared struct or enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRef {
    /// Index into [`SchemaFile::structs`] or [`SchemaFile::enums`].
    pub index: usize,
    /// Full dotted name.
    pub name: String,
}

/// A field or list element type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Type {
    /// `Bool`.
    Bool,
    /// `Int8`.
    Int8,
    /// `Int16`.
    Int16,
    /// `Int32`.
    Int32,
    /// `Int64`.
    Int64,
    /// `UInt8`.
    UInt8,
    /// `UInt16`.
    UInt16,
    /// `UInt32`.
    UInt32,
    /// `UInt64`.
    UInt64,
    /// `Float32`.
    Float32,
    /// `Float64`.
    Float64,
    /// `Text`.
    Text,
    /// `Data`.
    Data,
    /// `List(T)`.
    List(Box<Type>),
    /// A declared enum.
    Enum(TypeRef),
    /// A declared struct.
    Struct(TypeRef),
}

impl Type {
    /// Size in bits of a data field of this type, or `None` for pointer types.
    pub fn data_bits(&self) -> Option<u32> {
        Some(match self {
            Type::Bool => 1,
            Type::Int8 | Type::UInt8 => 8,
            Type::Int16 | Type::UInt16 | Type::Enum(_) => 16,
            Type::Int32 | Type::UInt32 | Type::Float32 => 32,
            Type::Int64 | Type::UInt64 | Type::Float64 => 64,
            Type::Text | Type::Data | Type::List(_) | Type::Struct(_) => return None,
        })
    }

    /// The built-in type with this name.
    pub(crate) fn builtin(name: &str) -> Option<Type> {
        Some(match name {
            "Bool" => Type::Bool,
            "Int8" => Type::Int8,
            "Int16" => Type::Int16,
            "Int32" => Type::Int32,
            "Int64" => Type::Int64,
            "UInt8" => Type::UInt8,
            "UInt16" => Type::UInt16,
            "UInt32" => Type::UInt32,
            "UInt64" => Type::UInt64,
            "Float32" => Type::Float32,
            "Float64" => Type::Float64,
            "Text" => Type::Text,
            "Data" => Type::Data,
            _ => return None,
        })
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Type::Bool => "Bool",
            Type::Int8 => "Int8",
            Type::Int16 => "Int16",
            Type::Int32 => "Int32",
            Type::Int64 => "Int64",
            Type::UInt8 => "UInt8",
            Type::UInt16 => "UInt16",
            Type::UInt32 => "UInt32",
            Type::UInt64 => "UInt64",
            Type::Float32 => "Float32",
            Type::Float64 => "Float64",
            Type::Text => "Text",
            Type::Data => "Data",
            Type::List(inner) => return write!(f, "List({inner})"),
            Type::Enum(r) | Type::Struct(r) => &r.name,
        };
        f.write_str(s)
    }
}
