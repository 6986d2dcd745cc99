//! The dynamic codec: [`Record`] ↔ Cap'n Proto message of a struct known only at run time.
//!
//! Encoding builds structs, lists, text and data through the `capnp` crate's own layout code
//! (`capnp::private::layout`), given the [`crate::StructLayout`] this crate computes, so that
//! the wire format, framing and packing are the crate's. Lists of structs go through
//! `capnp::struct_list` with `wire::DynStruct`, a struct type whose size is only known at run
//! time.
//!
//! Decoding reads in place: `message` follows pointers over the input bytes with the `capnp`
//! crate's traversal and nesting limits, `view` turns fields into [`ValueRef`]s on demand,
//! and `read` builds the owned [`Record`] from those views, charging each value it builds
//! against the traversal limit. Packed input is unpacked by `message` first.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use capnp::private::layout::{ElementSize, PointerBuilder, StructBuilder, StructSize};
use capnp::traits::FromPointerBuilder;

use crate::error::CodecError;
use crate::layout::Slot;
use crate::schema::{SchemaFile, Type};
use crate::value::{Record, Value};

mod message;
mod read;
mod view;
mod wire;

pub(crate) use message::frame;
pub use view::{Elements, Fields, ListView, Message, RecordView, ValueRef};

use wire::{
    DynBuilder, DynStruct, RawPointerBuilder, element_size, set_data, set_element, struct_size,
};

/// Errors are boxed inside the codec so that results stay small on the hot path.
type Bx = Box<CodecError>;

/// The two standard Cap'n Proto serializations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Stream framing (segment table, then segments), as `capnp decode` reads by default.
    Unpacked,
    /// The packed encoding, as `capnp decode --packed` reads.
    Packed,
}

/// Limits applied when decoding stored bytes.
const TRAVERSAL_LIMIT_WORDS: usize = 8 * 1024 * 1024;
const NESTING_LIMIT: i32 = 64;
/// Largest element count of a Cap'n Proto list (29 bits).
const MAX_LIST_LEN: usize = (1 << 29) - 1;

/// A codec for one struct of one schema, compiled once so that encoding and decoding do no
/// name lookups beyond the record's own fields.
#[derive(Debug, Clone)]
pub struct Codec {
    structs: Arc<[CStruct]>,
    enums: Arc<[CEnum]>,
    root: usize,
}

#[derive(Debug)]
struct CStruct {
    name: String,
    size: StructSize,
    fields: Vec<CField>,
    /// Field names in ordinal order, shared with every record decoded from this struct.
    names: Arc<[String]>,
    by_name: HashMap<String, usize>,
}

#[derive(Debug)]
struct CEnum {
    name: String,
    enumerants: Vec<String>,
}

#[derive(Debug)]
struct CField {
    name: String,
    ty: Type,
    slot: Slot,
    /// Offset in units of the field's width (data) or pointer index.
    offset: usize,
    /// Default of a data field as raw bits of its width (the XOR mask).
    mask: u64,
    default: Option<Value>,
}

impl Codec {
    /// Compiles a codec for struct `struct_name` (dotted for nested structs) of `schema`.
    ///
    /// # Errors
    ///
    /// [`CodecError::UnknownStruct`] if the schema has no such struct.
    pub fn new(schema: &SchemaFile, struct_name: &str) -> Result<Codec, CodecError> {
        let root = schema
            .struct_index(struct_name)
            .ok_or_else(|| CodecError::UnknownStruct {
                file: schema.file.clone(),
                name: struct_name.to_owned(),
            })?;
        let enums: Vec<CEnum> = schema
            .enums
            .iter()
            .map(|e| CEnum {
                name: e.name.clone(),
                enumerants: e.enumerants.clone(),
            })
            .collect();
        let structs = schema
            .structs
            .iter()
            .map(|s| {
                let fields: Vec<CField> = s
                    .fields
                    .iter()
                    .map(|f| CField {
                        name: f.name.clone(),
                        ty: f.ty.clone(),
                        slot: f.slot,
                        offset: f.slot.element_offset(),
                        mask: default_mask(&f.ty, f.default.as_ref(), &enums),
                        default: f.default.clone(),
                    })
                    .collect();
                let by_name = fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.name.clone(), i))
                    .collect();
                CStruct {
                    name: s.name.clone(),
                    size: struct_size(s.layout),
                    names: fields.iter().map(|f| f.name.clone()).collect(),
                    fields,
                    by_name,
                }
            })
            .collect::<Vec<_>>();
        Ok(Codec {
            structs: structs.into(),
            enums: enums.into(),
            root,
        })
    }

    /// The full name of the struct this codec reads and writes.
    pub fn struct_name(&self) -> &str {
        self.structs.get(self.root).map_or("", |s| s.name.as_str())
    }

    /// Encodes a record as a message whose root is this codec's struct.
    ///
    /// Absent fields are written as their defaults: zero bits for data fields (defaults are
    /// XOR-encoded) and a null pointer for pointer fields, which reads back as the default.
    /// Integers may be given as [`Value::Int`] or [`Value::UInt`] and must fit the field's
    /// width; a `Float32` field rounds its value to the nearest `f32`.
    ///
    /// # Errors
    ///
    /// [`CodecError::UnknownField`], [`CodecError::WrongType`], [`CodecError::OutOfRange`],
    /// [`CodecError::UnknownEnumerant`] or [`CodecError::TooLong`], each naming the field path.
    pub fn encode(&self, record: &Record, encoding: Encoding) -> Result<Vec<u8>, CodecError> {
        self.encode_boxed(record, encoding).map_err(|e| *e)
    }

    fn encode_boxed(&self, record: &Record, encoding: Encoding) -> Result<Vec<u8>, Bx> {
        // One segment big enough for the whole message: no far pointers, one allocation.
        let words = self.estimate_struct(self.root, record).saturating_add(1);
        let allocator = capnp::message::HeapAllocator::new()
            .first_segment_words(u32::try_from(words).unwrap_or(u32::MAX));
        let mut message = capnp::message::Builder::new(allocator);
        let root: RawPointerBuilder<'_> = message.init_root();
        let size = self.cstruct(self.root)?.size;
        let builder = root.0.init_struct(size);
        self.write_struct(self.root, builder, record, Path::Root)?;
        tracing::trace!(
            struct_name = self.struct_name(),
            ?encoding,
            "encoded record"
        );
        match encoding {
            Encoding::Unpacked => Ok(capnp::serialize::write_message_to_words(&message)),
            Encoding::Packed => {
                let mut out = Vec::with_capacity(words.saturating_mul(8));
                capnp::serialize_packed::write_message(&mut out, &message)
                    .map_err(|source| malformed(Path::Root, source))?;
                Ok(out)
            }
        }
    }

    /// Decodes a message whose root is this codec's struct.
    ///
    /// Every field of the schema is present in the result (null pointers and zero bits read as
    /// defaults; Text, Data and lists without a default read as empty), except struct fields
    /// whose pointer is null: those are left out, meaning "all defaults".
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`] for bad framing, out-of-segment pointers, exceeded traversal or
    /// nesting limits or pointers of the wrong kind; [`CodecError::InvalidUtf8`] and
    /// [`CodecError::UnknownEnumOrdinal`] for bad values. Each names the field path.
    pub fn decode(&self, bytes: &[u8], encoding: Encoding) -> Result<Record, CodecError> {
        self.decode_boxed(bytes, encoding).map_err(|e| *e)
    }

    fn cstruct(&self, index: usize) -> Result<&CStruct, Bx> {
        // Indices come from the schema this codec was compiled from, so this cannot fail;
        // an error keeps the library panic-free all the same.
        self.structs.get(index).ok_or_else(|| {
            Box::new(CodecError::UnknownStruct {
                file: String::new(),
                name: format!("#{index}"),
            })
        })
    }

    /// An upper bound of the words a struct and everything it points to take.
    fn estimate_struct(&self, index: usize, record: &Record) -> usize {
        let Ok(cs) = self.cstruct(index) else {
            return 0;
        };
        let own = usize::try_from(cs.size.total()).unwrap_or(0);
        record.iter().fold(own, |acc, (name, value)| {
            let ty = cs
                .by_name
                .get(name)
                .and_then(|&i| cs.fields.get(i))
                .map(|f| &f.ty);
            acc.saturating_add(ty.map_or(0, |ty| self.estimate_value(ty, value)))
        })
    }

    /// An upper bound of the words a pointer field's target takes.
    fn estimate_value(&self, ty: &Type, value: &Value) -> usize {
        match (ty, value) {
            (Type::Text, Value::Text(s)) => s.len() / 8 + 1,
            (Type::Data, Value::Data(d)) => d.len() / 8 + 1,
            (Type::Struct(r), Value::Struct(rec)) => self.estimate_struct(r.index, rec),
            (Type::List(elem), Value::List(items)) => match elem.data_bits() {
                Some(bits) => {
                    let bits = usize::try_from(bits).unwrap_or(64);
                    items.len().saturating_mul(bits) / 64 + 1
                }
                None => items.iter().fold(items.len() + 1, |acc, item| {
                    let target = match (&**elem, item) {
                        // Struct list elements are inline; their own words are counted here.
                        (Type::Struct(r), Value::Struct(rec)) => self.estimate_struct(r.index, rec),
                        _ => self.estimate_value(elem, item),
                    };
                    acc.saturating_add(target)
                }),
            },
            _ => 0,
        }
    }

    fn write_struct(
        &self,
        index: usize,
        mut builder: StructBuilder<'_>,
        record: &Record,
        path: Path<'_>,
    ) -> Result<(), Bx> {
        let cs = self.cstruct(index)?;
        for (name, value) in record.iter() {
            let field = cs
                .by_name
                .get(name)
                .and_then(|&i| cs.fields.get(i))
                .ok_or_else(|| CodecError::UnknownField {
                    path: path.to_string(),
                    struct_name: cs.name.clone(),
                    field: name.to_owned(),
                })?;
            let fpath = Path::Field(&path, name);
            match field.slot {
                Slot::Data { .. } => {
                    let raw = self.data_bits(&field.ty, value, fpath)? ^ field.mask;
                    set_data(&builder, &field.ty, field.offset, raw);
                }
                Slot::Pointer(_) => {
                    let ptr = builder.reborrow().get_pointer_field(field.offset);
                    self.write_pointer(ptr, &field.ty, value, fpath)?;
                }
            }
        }
        Ok(())
    }

    /// The raw little-endian bits of a data value of type `ty` (before the XOR with the default).
    fn data_bits(&self, ty: &Type, value: &Value, path: Path<'_>) -> Result<u64, Bx> {
        let wrong = || wrong_type(path, ty, value.kind());
        let out_of_range = |v: &dyn fmt::Display| CodecError::OutOfRange {
            path: path.to_string(),
            expected: ty.to_string(),
            value: v.to_string(),
        };
        Ok(match ty {
            Type::Bool => match value {
                Value::Bool(b) => u64::from(*b),
                _ => return Err(wrong()),
            },
            Type::Int8 | Type::Int16 | Type::Int32 | Type::Int64 => {
                let v = match value {
                    Value::Int(v) => *v,
                    Value::UInt(u) => i64::try_from(*u).map_err(|_| out_of_range(u))?,
                    _ => return Err(wrong()),
                };
                check_int(ty, v).map_err(|()| out_of_range(&v))?;
                u64::from_le_bytes(v.to_le_bytes()) & width_mask(ty)
            }
            Type::UInt8 | Type::UInt16 | Type::UInt32 | Type::UInt64 => {
                let v = match value {
                    Value::UInt(v) => *v,
                    Value::Int(i) => u64::try_from(*i).map_err(|_| out_of_range(i))?,
                    _ => return Err(wrong()),
                };
                check_uint(ty, v).map_err(|()| out_of_range(&v))?;
                v
            }
            Type::Float32 => match value {
                Value::Float(f) => {
                    u64::from(f64_to_f32(*f).ok_or_else(|| out_of_range(f))?.to_bits())
                }
                _ => return Err(wrong()),
            },
            Type::Float64 => match value {
                Value::Float(f) => f.to_bits(),
                _ => return Err(wrong()),
            },
            Type::Enum(r) => match value {
                Value::Enum(name) => u64::from(self.enum_ordinal(r.index, name, path)?),
                _ => return Err(wrong()),
            },
            Type::Text | Type::Data | Type::List(_) | Type::Struct(_) => return Err(wrong()),
        })
    }

    fn enum_ordinal(&self, index: usize, name: &str, path: Path<'_>) -> Result<u16, Bx> {
        let e = self.enums.get(index);
        e.and_then(|e| e.enumerants.iter().position(|n| n == name))
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| {
                Box::new(CodecError::UnknownEnumerant {
                    path: path.to_string(),
                    enum_name: e.map_or_else(String::new, |e| e.name.clone()),
                    name: name.to_owned(),
                })
            })
    }

    fn write_pointer(
        &self,
        mut ptr: PointerBuilder<'_>,
        ty: &Type,
        value: &Value,
        path: Path<'_>,
    ) -> Result<(), Bx> {
        match (ty, value) {
            (Type::Text, Value::Text(s)) => ptr.set_text(s.as_str().into()),
            (Type::Data, Value::Data(d)) => ptr.set_data(d),
            (Type::Struct(r), Value::Struct(rec)) => {
                let size = self.cstruct(r.index)?.size;
                let builder = ptr.init_struct(size);
                self.write_struct(r.index, builder, rec, path)?;
            }
            (Type::List(elem), Value::List(items)) => self.write_list(ptr, elem, items, path)?,
            _ => return Err(wrong_type(path, ty, value.kind())),
        }
        Ok(())
    }

    fn write_list(
        &self,
        mut ptr: PointerBuilder<'_>,
        elem: &Type,
        items: &[Value],
        path: Path<'_>,
    ) -> Result<(), Bx> {
        let len = u32::try_from(items.len())
            .ok()
            .filter(|_| items.len() <= MAX_LIST_LEN)
            .ok_or_else(|| CodecError::TooLong {
                path: path.to_string(),
                len: items.len(),
            })?;
        let indexed = (0u32..).zip(items);
        match elem {
            Type::Text | Type::Data | Type::List(_) => {
                let mut list = ptr.init_list(ElementSize::Pointer, len);
                for (i, item) in indexed {
                    let p = list.reborrow().get_pointer_element(i);
                    self.write_pointer(p, elem, item, Path::Index(&path, i))?;
                }
            }
            Type::Struct(r) => {
                let size = self.cstruct(r.index)?.size;
                ptr.reborrow().init_struct_list(len, size);
                let mut list =
                    capnp::struct_list::Builder::<DynStruct>::get_from_pointer(ptr, None)
                        .map_err(|source| malformed(path, source))?;
                for (i, item) in indexed {
                    let ipath = Path::Index(&path, i);
                    let Value::Struct(rec) = item else {
                        return Err(wrong_type(ipath, elem, item.kind()));
                    };
                    let Some(DynBuilder(builder)) = list.reborrow().try_get(i) else {
                        return Err(too_long(ipath, items.len()));
                    };
                    self.write_struct(r.index, builder, rec, ipath)?;
                }
            }
            _ => {
                let list = ptr.init_list(element_size(elem), len);
                for (i, item) in indexed {
                    let raw = self.data_bits(elem, item, Path::Index(&path, i))?;
                    set_element(&list, elem, i, raw);
                }
            }
        }
        Ok(())
    }
}

/// Encodes `record` as `struct_name` of `schema`; see [`Codec::encode`].
///
/// # Errors
///
/// [`CodecError::UnknownStruct`], or any error of [`Codec::encode`].
pub fn encode(
    schema: &SchemaFile,
    struct_name: &str,
    record: &Record,
    encoding: Encoding,
) -> Result<Vec<u8>, CodecError> {
    Codec::new(schema, struct_name)?.encode(record, encoding)
}

/// Decodes `bytes` as `struct_name` of `schema`; see [`Codec::decode`].
///
/// # Errors
///
/// [`CodecError::UnknownStruct`], or any error of [`Codec::decode`].
pub fn decode(
    schema: &SchemaFile,
    struct_name: &str,
    bytes: &[u8],
    encoding: Encoding,
) -> Result<Record, CodecError> {
    Codec::new(schema, struct_name)?.decode(bytes, encoding)
}

/// Checks that a signed value fits the width of `ty`.
pub(crate) fn check_int(ty: &Type, v: i64) -> Result<(), ()> {
    let ok = match ty {
        Type::Int8 => i8::try_from(v).is_ok(),
        Type::Int16 => i16::try_from(v).is_ok(),
        Type::Int32 => i32::try_from(v).is_ok(),
        _ => true,
    };
    if ok { Ok(()) } else { Err(()) }
}

/// Checks that an unsigned value fits the width of `ty`.
pub(crate) fn check_uint(ty: &Type, v: u64) -> Result<(), ()> {
    let ok = match ty {
        Type::UInt8 => u8::try_from(v).is_ok(),
        Type::UInt16 => u16::try_from(v).is_ok(),
        Type::UInt32 => u32::try_from(v).is_ok(),
        _ => true,
    };
    if ok { Ok(()) } else { Err(()) }
}

/// Narrows to `f32`, refusing finite values beyond its range (precision loss is inherent).
fn f64_to_f32(f: f64) -> Option<f32> {
    if f.is_finite() && f.abs() > f64::from(f32::MAX) {
        return None;
    }
    // The range was checked above; NaN and infinities convert exactly.
    #[allow(clippy::cast_possible_truncation)]
    Some(f as f32)
}

fn width_mask(ty: &Type) -> u64 {
    match ty.data_bits() {
        Some(64) | None => u64::MAX,
        Some(bits) => (1u64 << bits) - 1,
    }
}

/// The XOR mask of a data field: its default as raw bits of its width.
fn default_mask(ty: &Type, default: Option<&Value>, enums: &[CEnum]) -> u64 {
    let Some(d) = default else { return 0 };
    let raw = match (ty, d) {
        (_, Value::Bool(b)) => u64::from(*b),
        (_, Value::Int(i)) => u64::from_le_bytes(i.to_le_bytes()),
        (_, Value::UInt(u)) => *u,
        (Type::Float32, Value::Float(f)) => f64_to_f32(*f).map_or(0, |f| u64::from(f.to_bits())),
        (_, Value::Float(f)) => f.to_bits(),
        (Type::Enum(r), Value::Enum(name)) => enums
            .get(r.index)
            .and_then(|e| e.enumerants.iter().position(|n| n == name))
            .and_then(|p| u64::try_from(p).ok())
            .unwrap_or(0),
        _ => 0,
    };
    raw & width_mask(ty)
}

#[cold]
fn wrong_type(path: impl fmt::Display, ty: &Type, found: &str) -> Bx {
    Box::new(CodecError::WrongType {
        path: path.to_string(),
        expected: ty.to_string(),
        found: found.to_owned(),
    })
}

#[cold]
fn malformed(path: impl fmt::Display, source: capnp::Error) -> Bx {
    Box::new(CodecError::Malformed {
        path: path.to_string(),
        source,
    })
}

#[cold]
fn too_long(path: Path<'_>, len: usize) -> Bx {
    Box::new(CodecError::TooLong {
        path: path.to_string(),
        len,
    })
}

/// Where a value sits in a record, rendered only when an error needs it (`spec.tags[2]`).
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, u32),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Field(Path::Root, name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}
