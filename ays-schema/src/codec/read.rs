//! The decoding half of the codec: message bytes → [`Record`].

use capnp::private::layout::{PointerReader, StructReader};
use capnp::traits::FromPointerReader;

use super::wire::{DynReader, DynStruct, RawPointerReader, element_size, get_data, get_element};
use super::{
    Bx, Codec, Encoding, NESTING_LIMIT, Path, TRAVERSAL_LIMIT_WORDS, malformed, too_long,
    wrong_type,
};
use crate::error::CodecError;
use crate::layout::Slot;
use crate::schema::Type;
use crate::value::{Record, Value};

impl Codec {
    pub(super) fn decode_boxed(&self, bytes: &[u8], encoding: Encoding) -> Result<Record, Bx> {
        tracing::trace!(
            struct_name = self.struct_name(),
            len = bytes.len(),
            ?encoding,
            "decoding record"
        );
        let mut options = capnp::message::ReaderOptions::new();
        options
            .traversal_limit_in_words(Some(TRAVERSAL_LIMIT_WORDS))
            .nesting_limit(NESTING_LIMIT);
        match encoding {
            Encoding::Unpacked if bytes.as_ptr().align_offset(8) == 0 => {
                // Aligned input is read in place, without copying or allocating.
                let mut input = bytes;
                let message =
                    capnp::serialize::read_message_from_flat_slice_no_alloc(&mut input, options)
                        .map_err(|source| malformed(Path::Root, source))?;
                self.decode_message(&message)
            }
            Encoding::Unpacked => {
                let mut input = bytes;
                let message = capnp::serialize::read_message(&mut input, options)
                    .map_err(|source| malformed(Path::Root, source))?;
                self.decode_message(&message)
            }
            Encoding::Packed => {
                let mut input = bytes;
                let message = capnp::serialize_packed::read_message(&mut input, options)
                    .map_err(|source| malformed(Path::Root, source))?;
                self.decode_message(&message)
            }
        }
    }

    fn decode_message<S: capnp::message::ReaderSegments>(
        &self,
        message: &capnp::message::Reader<S>,
    ) -> Result<Record, Bx> {
        let root: RawPointerReader<'_> = message
            .get_root()
            .map_err(|source| malformed(Path::Root, source))?;
        let reader = root
            .0
            .get_struct(None)
            .map_err(|source| malformed(Path::Root, source))?;
        self.read_struct(self.root, reader, Path::Root)
    }

    fn read_struct(
        &self,
        index: usize,
        reader: StructReader<'_>,
        path: Path<'_>,
    ) -> Result<Record, Bx> {
        let cs = self.cstruct(index)?;
        let mut record = Record::with_names(cs.names.clone());
        for (index, field) in (0u32..).zip(&cs.fields) {
            let fpath = Path::Field(&path, &field.name);
            let value = match field.slot {
                Slot::Data { .. } => {
                    let raw = get_data(&reader, &field.ty, field.offset) ^ field.mask;
                    self.data_value(&field.ty, raw, fpath)?
                }
                Slot::Pointer(_) => {
                    let ptr = reader.get_pointer_field(field.offset);
                    if matches!(field.ty, Type::Text) && !ptr.is_null() {
                        // The common case, built in place in the record.
                        let text = read_text(ptr, fpath)?;
                        record.push_shared(index, Value::Text(text.to_owned()));
                        continue;
                    }
                    if ptr.is_null() {
                        match (&field.default, &field.ty) {
                            (Some(d), _) => d.clone(),
                            (None, Type::Struct(_)) => continue,
                            (None, ty) => empty_value(ty),
                        }
                    } else {
                        self.read_pointer(ptr, &field.ty, fpath)?
                    }
                }
            };
            record.push_shared(index, value);
        }
        Ok(record)
    }

    fn data_value(&self, ty: &Type, raw: u64, path: Path<'_>) -> Result<Value, Bx> {
        let b = raw.to_le_bytes();
        Ok(match ty {
            Type::Bool => Value::Bool(raw & 1 != 0),
            Type::Int8 => Value::Int(i64::from(i8::from_le_bytes([b[0]]))),
            Type::Int16 => Value::Int(i64::from(i16::from_le_bytes([b[0], b[1]]))),
            Type::Int32 => Value::Int(i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            Type::Int64 => Value::Int(i64::from_le_bytes(b)),
            Type::UInt8 | Type::UInt16 | Type::UInt32 | Type::UInt64 => Value::UInt(raw),
            Type::Float32 => Value::Float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            Type::Float64 => Value::Float(f64::from_bits(raw)),
            Type::Enum(r) => {
                let ordinal = u16::from_le_bytes([b[0], b[1]]);
                let e = self.enums.get(r.index);
                let name = e.and_then(|e| e.enumerants.get(usize::from(ordinal)));
                match name {
                    Some(n) => Value::Enum(n.clone()),
                    None => {
                        return Err(Box::new(CodecError::UnknownEnumOrdinal {
                            path: path.to_string(),
                            enum_name: r.name.clone(),
                            ordinal,
                        }));
                    }
                }
            }
            Type::Text | Type::Data | Type::List(_) | Type::Struct(_) => {
                return Err(wrong_type(path, ty, "data field"));
            }
        })
    }

    fn read_pointer(&self, ptr: PointerReader<'_>, ty: &Type, path: Path<'_>) -> Result<Value, Bx> {
        let bad = |source| malformed(path, source);
        Ok(match ty {
            Type::Text => Value::Text(read_text(ptr, path)?.to_owned()),
            Type::Data => Value::Data(ptr.get_data(None).map_err(bad)?.to_vec()),
            Type::Struct(r) => {
                let reader = ptr.get_struct(None).map_err(bad)?;
                Value::Struct(self.read_struct(r.index, reader, path)?)
            }
            Type::List(elem) => Value::List(self.read_list(ptr, elem, path)?),
            _ => return Err(wrong_type(path, ty, "pointer")),
        })
    }

    fn read_list(
        &self,
        ptr: PointerReader<'_>,
        elem: &Type,
        path: Path<'_>,
    ) -> Result<Vec<Value>, Bx> {
        let bad = |source| malformed(path, source);
        match elem {
            Type::Text | Type::Data | Type::List(_) => {
                let list =
                    capnp::any_pointer_list::Reader::get_from_pointer(&ptr, None).map_err(bad)?;
                let mut out = Vec::with_capacity(bounded_capacity(list.len()));
                for i in 0..list.len() {
                    let ipath = Path::Index(&path, i);
                    let RawPointerReader(p) =
                        list.get(i).get_as().map_err(|s| malformed(ipath, s))?;
                    out.push(if p.is_null() {
                        empty_value(elem)
                    } else {
                        self.read_pointer(p, elem, ipath)?
                    });
                }
                Ok(out)
            }
            Type::Struct(r) => {
                let list = capnp::struct_list::Reader::<DynStruct>::get_from_pointer(&ptr, None)
                    .map_err(bad)?;
                let mut out = Vec::with_capacity(bounded_capacity(list.len()));
                for i in 0..list.len() {
                    let ipath = Path::Index(&path, i);
                    let Some(DynReader(reader)) = list.try_get(i) else {
                        return Err(too_long(ipath, out.len()));
                    };
                    out.push(Value::Struct(self.read_struct(r.index, reader, ipath)?));
                }
                Ok(out)
            }
            _ => {
                let list = ptr.get_list(element_size(elem), None).map_err(bad)?;
                let mut out = Vec::with_capacity(bounded_capacity(list.len()));
                for i in 0..list.len() {
                    let raw = get_element(&list, elem, i);
                    out.push(self.data_value(elem, raw, Path::Index(&path, i))?);
                }
                Ok(out)
            }
        }
    }
}

/// Reads a text pointer as UTF-8.
fn read_text<'a>(ptr: PointerReader<'a>, path: Path<'_>) -> Result<&'a str, Bx> {
    let text = ptr
        .get_text(None)
        .map_err(|source| malformed(path, source))?;
    text.to_str().map_err(|source| {
        Box::new(CodecError::InvalidUtf8 {
            path: path.to_string(),
            source,
        })
    })
}

/// Caps a pre-allocation taken from stored bytes (the reader has already bounds-checked the
/// list, but a list of zero-sized elements can claim many elements in few bytes).
fn bounded_capacity(len: u32) -> usize {
    usize::try_from(len).map_or(0, |n| n.min(4096))
}

/// The value of a null pointer without a default.
fn empty_value(ty: &Type) -> Value {
    match ty {
        Type::Data => Value::Data(Vec::new()),
        Type::List(_) => Value::List(Vec::new()),
        Type::Struct(_) => Value::Struct(Record::new()),
        _ => Value::Text(String::new()),
    }
}
