//! The zero-copy half of the decoder: a [`Message`] read in place, and lazily read views of it.
//!
//! Reading is two steps: [`Codec::read`] checks the framing and keeps the segments and the
//! traversal budget, and [`Message::root`] hands out a [`RecordView`] that borrows them.
//! Nothing is read before a field is asked for, and Text and Data are handed out as slices of
//! the input bytes. Pointers are followed by the in-place reader of `message`.
//!
//! This is the only place where a field is read from the wire: the owned [`Codec::decode`] is
//! [`RecordView::to_record`] of the root.

use std::fmt;

use super::message::{self, Elem, ListRef, PtrRef, Segments, StructRef};
use super::{
    Bx, CField, CStruct, Codec, Encoding, NESTING_LIMIT, TRAVERSAL_LIMIT_WORDS, malformed,
    wrong_type,
};
use crate::error::CodecError;
use crate::layout::Slot;
use crate::schema::Type;
use crate::value::{Record, Value};

/// The most words packed input may unpack to: the traversal limit, plus the segment table
/// (up to 257 words).
const UNPACKED_LIMIT_WORDS: usize = TRAVERSAL_LIMIT_WORDS.saturating_add(257);

/// Words of the traversal budget charged for each value the owned decode builds, so that the
/// limit bounds the memory of the result too: a list of a million `Bool`s takes 128 Kib on the
/// wire but a million [`Value`]s in memory, and a list of zero-sized structs takes no bytes at
/// all.
const VALUE_WORDS: u64 = words_of(std::mem::size_of::<Value>());

/// Words of the budget charged for each field of a record the owned decode builds (its name
/// key and its value).
const FIELD_WORDS: u64 = words_of(Record::FIELD_BYTES);

const fn words_of(bytes: usize) -> u64 {
    // Sizes of in-memory values: far below `u64::MAX`.
    bytes.div_ceil(8) as u64
}

/// A message whose framing has been checked, ready to be viewed with [`Message::root`].
///
/// Unpacked input is read in place, at any alignment. Packed input cannot be read in place:
/// [`Codec::read`] unpacks it into a buffer of its own, [`Codec::read_packed`] into one the
/// caller can reuse. A message and its views stay on one thread: the traversal budget they
/// share is a `Cell`.
pub struct Message<'a> {
    codec: &'a Codec,
    segments: Segments<'a>,
}

impl Codec {
    /// Reads the framing of a message whose root is this codec's struct, without reading any
    /// field; see [`Message::root`].
    ///
    /// The same traversal and nesting limits as [`Codec::decode`] apply to every later read.
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`] with an empty path for bad framing.
    #[inline]
    pub fn read<'a>(
        &'a self,
        bytes: &'a [u8],
        encoding: Encoding,
    ) -> Result<Message<'a>, CodecError> {
        self.read_boxed(bytes, encoding).map_err(|e| *e)
    }

    #[inline(always)]
    pub(super) fn read_boxed<'a>(
        &'a self,
        bytes: &'a [u8],
        encoding: Encoding,
    ) -> Result<Message<'a>, Bx> {
        let limit = u64::try_from(TRAVERSAL_LIMIT_WORDS).unwrap_or(u64::MAX);
        let names = &self.cstruct(self.root)?.names;
        let segments = match encoding {
            Encoding::Unpacked => {
                Segments::in_place(bytes, limit, names).map_err(|e| wire_error("", e))?
            }
            Encoding::Packed => {
                let mut buffer = Vec::new();
                message::unpack(bytes, &mut buffer, UNPACKED_LIMIT_WORDS)
                    .map_err(|e| wire_error("", e))?;
                Segments::owned(buffer, limit, names).map_err(|e| wire_error("", e))?
            }
        };
        Ok(Message {
            codec: self,
            segments,
        })
    }
}

impl Codec {
    /// Reads packed bytes after unpacking them into `buffer`, which the views then borrow;
    /// reusing one buffer across messages spares the allocation [`Codec::read`] makes for
    /// packed input.
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`] with an empty path for bad packing or framing, or for a
    /// message larger than the traversal limit.
    pub fn read_packed<'a>(
        &'a self,
        bytes: &[u8],
        buffer: &'a mut Vec<u8>,
    ) -> Result<Message<'a>, CodecError> {
        let limit = u64::try_from(TRAVERSAL_LIMIT_WORDS).unwrap_or(u64::MAX);
        message::unpack(bytes, buffer, UNPACKED_LIMIT_WORDS).map_err(|e| *wire_error("", e))?;
        let names = &self.cstruct(self.root).map_err(|e| *e)?.names;
        let segments = Segments::in_place(buffer, limit, names).map_err(|e| *wire_error("", e))?;
        Ok(Message {
            codec: self,
            segments,
        })
    }
}

impl Message<'_> {
    /// A view of the root struct.
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`] with an empty path if the root pointer is not a struct or
    /// points outside the message.
    #[inline]
    pub fn root(&self) -> Result<RecordView<'_>, CodecError> {
        self.root_boxed().map_err(|e| *e)
    }

    #[inline(always)]
    pub(super) fn root_boxed(&self) -> Result<RecordView<'_>, Bx> {
        let reader = self
            .segments
            .root(NESTING_LIMIT)
            .map_err(|e| wire_error("", e))?;
        Ok(RecordView {
            codec: self.codec,
            segments: &self.segments,
            cs: self.codec.cstruct(self.codec.root)?,
            reader,
            at: At::Root,
        })
    }

    /// Whether the views borrow the bytes given to [`Codec::read`] (unpacked input) or the
    /// buffer given to [`Codec::read_packed`], rather than a copy of their own.
    pub fn is_in_place(&self) -> bool {
        self.segments.is_in_place()
    }
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("struct_name", &self.codec.struct_name())
            .field("in_place", &self.is_in_place())
            .finish()
    }
}

/// One value read from a message, borrowing it: the zero-copy counterpart of [`Value`].
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    /// A `Bool`.
    Bool(bool),
    /// A signed integer (`Int8` to `Int64`).
    Int(i64),
    /// An unsigned integer (`UInt8` to `UInt64`).
    UInt(u64),
    /// A `Float32` or `Float64`.
    Float(f64),
    /// A `Text`, checked to be UTF-8.
    Text(&'a str),
    /// A `Data` blob.
    Data(&'a [u8]),
    /// A `List(T)`, read element by element.
    List(ListView<'a>),
    /// A nested struct, read field by field.
    Struct(RecordView<'a>),
    /// An enum value, by enumerant name.
    Enum(&'a str),
}

impl ValueRef<'_> {
    /// The owned value, reading every element of a list or field of a struct.
    ///
    /// # Errors
    ///
    /// Any error of reading a nested field or element, naming its path.
    pub fn to_value(&self) -> Result<Value, CodecError> {
        self.value().map_err(|e| *e)
    }

    fn value(&self) -> Result<Value, Bx> {
        Ok(match self {
            ValueRef::Bool(b) => Value::Bool(*b),
            ValueRef::Int(i) => Value::Int(*i),
            ValueRef::UInt(u) => Value::UInt(*u),
            ValueRef::Float(f) => Value::Float(*f),
            ValueRef::Text(s) => Value::Text((*s).to_owned()),
            ValueRef::Data(d) => Value::Data(d.to_vec()),
            ValueRef::List(l) => Value::List(l.values()?),
            ValueRef::Struct(r) => Value::Struct(r.record()?),
            ValueRef::Enum(s) => Value::Enum((*s).to_owned()),
        })
    }

    /// The kind of value, as [`Value::kind`] names it.
    pub fn kind(&self) -> &'static str {
        match self {
            ValueRef::Bool(_) => "Bool",
            ValueRef::Int(_) => "Int",
            ValueRef::UInt(_) => "UInt",
            ValueRef::Float(_) => "Float",
            ValueRef::Text(_) => "Text",
            ValueRef::Data(_) => "Data",
            ValueRef::List(_) => "List",
            ValueRef::Struct(_) => "Struct",
            ValueRef::Enum(_) => "Enum",
        }
    }
}

/// A struct of a message, read lazily: each access reads one field from the wire.
///
/// Field semantics are those of [`Codec::decode`]: null pointers and zero bits read as
/// defaults, and a struct field whose pointer is null is absent (`None`), meaning "all
/// defaults".
#[derive(Clone, Copy)]
pub struct RecordView<'a> {
    codec: &'a Codec,
    segments: &'a Segments<'a>,
    cs: &'a CStruct,
    reader: StructRef,
    /// Where this struct sits, for error messages.
    at: At,
}

impl<'a> RecordView<'a> {
    /// The full name of the struct.
    pub fn struct_name(&self) -> &'a str {
        &self.cs.name
    }

    /// The names of the struct's fields, in ordinal order (the indices of
    /// [`RecordView::get_by_index`]).
    pub fn field_names(&self) -> &'a [String] {
        &self.cs.names
    }

    /// Reads the field called `name`; `None` if the struct has no such field or it is a struct
    /// field with a null pointer.
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`], [`CodecError::InvalidUtf8`] or
    /// [`CodecError::UnknownEnumOrdinal`], naming the field's path.
    #[inline]
    pub fn get(&self, name: &str) -> Result<Option<ValueRef<'a>>, CodecError> {
        match self.cs.by_name.get(name) {
            Some(&index) => self.get_by_index(index),
            None => Ok(None),
        }
    }

    /// Reads the field of ordinal `index`; `None` if there is no such field or it is a struct
    /// field with a null pointer.
    ///
    /// # Errors
    ///
    /// As [`RecordView::get`].
    #[inline(always)]
    pub fn get_by_index(&self, index: usize) -> Result<Option<ValueRef<'a>>, CodecError> {
        match self.cs.fields.get(index) {
            Some(field) => self.field(u32::try_from(index).unwrap_or(u32::MAX), field),
            None => Ok(None),
        }
    }

    /// The present fields with their names, in ordinal order.
    pub fn iter(&self) -> Fields<'a> {
        Fields {
            view: *self,
            next: 0,
        }
    }

    /// Reads every field into an owned [`Record`], equal to what [`Codec::decode`] returns.
    ///
    /// # Errors
    ///
    /// The first error of reading a field, naming its path.
    pub fn to_record(&self) -> Result<Record, CodecError> {
        self.record().map_err(|e| *e)
    }

    pub(super) fn record(&self) -> Result<Record, Bx> {
        let fields = u64::try_from(self.cs.fields.len()).unwrap_or(u64::MAX);
        self.segments
            .charge(fields.saturating_mul(FIELD_WORDS))
            .map_err(|e| wire_error(self.at.render(self.segments), e))?;
        let mut record = Record::with_names(self.cs.names.clone());
        for (index, field) in (0u32..).zip(&self.cs.fields) {
            if let Some(value) = self.field(index, field).map_err(Box::new)? {
                record.push_shared(index, value.value()?);
            }
        }
        Ok(record)
    }

    /// Reads one field from the wire: the decoder's only such place.
    #[inline(always)]
    fn field(&self, index: u32, field: &'a CField) -> Result<Option<ValueRef<'a>>, CodecError> {
        let loc = Loc::Field(self.at, index, field);
        match field.slot {
            Slot::Data { bit_offset, width } => {
                let raw = self.reader.data(self.segments, bit_offset, width) ^ field.mask;
                self.codec
                    .data_ref(self.segments, &field.ty, raw, &loc)
                    .map(Some)
            }
            Slot::Pointer(i) => {
                let read = match self.reader.ptr(i) {
                    Some(ptr) => self
                        .codec
                        .pointer_ref(self.segments, ptr, &field.ty, &loc)?,
                    None => None,
                };
                match (read, &field.default) {
                    (Some(value), _) => Ok(Some(value)),
                    (None, Some(d)) => self
                        .codec
                        .value_ref(self.segments, d, &field.ty, &loc)
                        .map(Some),
                    (None, None) => Ok(self.codec.empty_ref(self.segments, &field.ty)),
                }
            }
        }
    }
}

impl fmt::Debug for RecordView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordView")
            .field("struct_name", &self.cs.name)
            .field("at", &self.at.render(self.segments))
            .finish()
    }
}

/// The present fields of a [`RecordView`], in ordinal order; see [`RecordView::iter`].
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    view: RecordView<'a>,
    next: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(&'a str, ValueRef<'a>), CodecError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let field = self.view.cs.fields.get(self.next)?;
            let index = u32::try_from(self.next).unwrap_or(u32::MAX);
            self.next += 1;
            match self.view.field(index, field) {
                Ok(Some(value)) => return Some(Ok((field.name.as_str(), value))),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// A list of a message, read lazily: each access reads one element from the wire.
#[derive(Clone, Copy)]
pub struct ListView<'a> {
    codec: &'a Codec,
    segments: &'a Segments<'a>,
    elem: &'a Type,
    repr: ListRepr<'a>,
    /// Where this list sits, for error messages.
    at: At,
}

#[derive(Clone, Copy)]
enum ListRepr<'a> {
    Wire(ListRef),
    /// A null pointer: the field's default elements (or none).
    Defaults(&'a [Value]),
}

impl<'a> ListView<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self.repr {
            ListRepr::Wire(l) => usize::try_from(l.len()).unwrap_or(0),
            ListRepr::Defaults(d) => d.len(),
        }
    }

    /// Whether the list has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads element `index`; `None` if it is out of range.
    ///
    /// # Errors
    ///
    /// [`CodecError::Malformed`], [`CodecError::InvalidUtf8`] or
    /// [`CodecError::UnknownEnumOrdinal`], naming the element's path (`tags[2]`).
    pub fn get(&self, index: usize) -> Result<Option<ValueRef<'a>>, CodecError> {
        match u32::try_from(index) {
            Ok(i) if index < self.len() => self.element(i).map(Some),
            _ => Ok(None),
        }
    }

    /// The elements in order.
    pub fn iter(&self) -> Elements<'a> {
        Elements {
            list: *self,
            next: 0,
            len: u32::try_from(self.len()).unwrap_or(0),
        }
    }

    /// Reads every element into owned [`Value`]s.
    ///
    /// # Errors
    ///
    /// The first error of reading an element, naming its path.
    pub fn to_values(&self) -> Result<Vec<Value>, CodecError> {
        self.values().map_err(|e| *e)
    }

    fn values(&self) -> Result<Vec<Value>, Bx> {
        // The reader has bounds-checked the list, but a list of bits or of zero-sized elements
        // claims many elements in few bytes: charge what the values will take first.
        let len = u64::try_from(self.len()).unwrap_or(u64::MAX);
        self.segments
            .charge(len.saturating_mul(VALUE_WORDS))
            .map_err(|e| wire_error(self.at.render(self.segments), e))?;
        let mut out = Vec::with_capacity(self.len().min(4096));
        for i in 0..u32::try_from(self.len()).unwrap_or(0) {
            out.push(self.element(i).map_err(Box::new)?.value()?);
        }
        Ok(out)
    }

    /// Reads element `i`, which the caller has checked to be in range.
    #[inline(always)]
    fn element(&self, i: u32) -> Result<ValueRef<'a>, CodecError> {
        let loc = Loc::Index(self.at, i);
        let segments = self.segments;
        let list = match self.repr {
            ListRepr::Wire(list) if i < list.len() => list,
            ListRepr::Defaults(items) => {
                return match usize::try_from(i).ok().and_then(|i| items.get(i)) {
                    Some(v) => self.codec.value_ref(segments, v, self.elem, &loc),
                    None => Err(out_of_range(loc, segments)),
                };
            }
            ListRepr::Wire(_) => return Err(out_of_range(loc, segments)),
        };
        match self.elem {
            Type::Struct(r) => Ok(ValueRef::Struct(RecordView {
                codec: self.codec,
                segments,
                cs: self.codec.cstruct(r.index).map_err(|e| *e)?,
                reader: list
                    .struct_at(i)
                    .map_err(|e| *wire_error(loc.render(segments), e))?,
                at: loc.to_at(segments),
            })),
            Type::Text => {
                let ptr = list
                    .ptr(i)
                    .map_err(|e| *wire_error(loc.render(segments), e))?;
                match segments.text_ptr(ptr) {
                    Ok(Some(bytes)) => text_ref(bytes, &loc, segments),
                    Ok(None) => Ok(ValueRef::Text("")),
                    Err(e) => Err(*wire_error(loc.render(segments), e)),
                }
            }
            Type::Data | Type::List(_) => {
                let ptr = list
                    .ptr(i)
                    .map_err(|e| *wire_error(loc.render(segments), e))?;
                match self.codec.pointer_ref(segments, ptr, self.elem, &loc)? {
                    Some(value) => Ok(value),
                    None => Ok(self
                        .codec
                        .empty_ref(segments, self.elem)
                        .unwrap_or(ValueRef::Text(""))),
                }
            }
            ty => {
                let width = ty.data_bits().unwrap_or(64);
                self.codec
                    .data_ref(segments, ty, list.data(segments, i, width), &loc)
            }
        }
    }
}

impl fmt::Debug for ListView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListView")
            .field("elem", &self.elem.to_string())
            .field("len", &self.len())
            .field("at", &self.at.render(self.segments))
            .finish()
    }
}

/// The elements of a [`ListView`], in order; see [`ListView::iter`].
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    list: ListView<'a>,
    next: u32,
    len: u32,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<ValueRef<'a>, CodecError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.len {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some(self.list.element(i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.len - self.next).unwrap_or(0);
        (n, Some(n))
    }
}

impl Codec {
    /// The value of a data field or element of type `ty` from its raw bits (default applied).
    #[inline(always)]
    fn data_ref<'a>(
        &'a self,
        segments: &Segments<'_>,
        ty: &'a Type,
        raw: u64,
        loc: &Loc<'a>,
    ) -> Result<ValueRef<'a>, CodecError> {
        let b = raw.to_le_bytes();
        Ok(match ty {
            Type::Bool => ValueRef::Bool(raw & 1 != 0),
            Type::Int8 => ValueRef::Int(i64::from(i8::from_le_bytes([b[0]]))),
            Type::Int16 => ValueRef::Int(i64::from(i16::from_le_bytes([b[0], b[1]]))),
            Type::Int32 => ValueRef::Int(i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            Type::Int64 => ValueRef::Int(i64::from_le_bytes(b)),
            Type::UInt8 | Type::UInt16 | Type::UInt32 | Type::UInt64 => ValueRef::UInt(raw),
            Type::Float32 => {
                ValueRef::Float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            }
            Type::Float64 => ValueRef::Float(f64::from_bits(raw)),
            Type::Enum(r) => {
                let ordinal = u16::from_le_bytes([b[0], b[1]]);
                let name = self
                    .enums
                    .get(r.index)
                    .and_then(|e| e.enumerants.get(usize::from(ordinal)));
                match name {
                    Some(n) => ValueRef::Enum(n),
                    None => {
                        return Err(CodecError::UnknownEnumOrdinal {
                            path: loc.render(segments),
                            enum_name: r.name.clone(),
                            ordinal,
                        });
                    }
                }
            }
            Type::Text | Type::Data | Type::List(_) | Type::Struct(_) => {
                return Err(*wrong_type(loc.render(segments), ty, "data field"));
            }
        })
    }

    /// The value a pointer of type `ty` points to; `None` for a null pointer.
    #[inline(always)]
    fn pointer_ref<'a>(
        &'a self,
        segments: &'a Segments<'a>,
        ptr: PtrRef,
        ty: &'a Type,
        loc: &Loc<'a>,
    ) -> Result<Option<ValueRef<'a>>, CodecError> {
        let bad = |e| *wire_error(loc.render(segments), e);
        Ok(Some(match ty {
            Type::Text => {
                let Some(bytes) = segments.text_ptr(ptr).map_err(bad)? else {
                    return Ok(None);
                };
                text_ref(bytes, loc, segments)?
            }
            Type::Data => match segments.bytes_ptr(ptr).map_err(bad)? {
                Some(bytes) => ValueRef::Data(bytes),
                None => return Ok(None),
            },
            Type::Struct(r) => match segments.struct_ptr(ptr).map_err(bad)? {
                Some(reader) => ValueRef::Struct(RecordView {
                    codec: self,
                    segments,
                    cs: self.cstruct(r.index).map_err(|e| *e)?,
                    reader,
                    at: loc.to_at(segments),
                }),
                None => return Ok(None),
            },
            Type::List(elem) => {
                let kind = match &**elem {
                    Type::Bool => Elem::Bit,
                    Type::Struct(_) => Elem::Struct,
                    other => other.data_bits().map_or(Elem::Pointer, Elem::Data),
                };
                match segments.list_ptr(ptr, kind).map_err(bad)? {
                    Some(list) => ValueRef::List(ListView {
                        codec: self,
                        segments,
                        elem,
                        repr: ListRepr::Wire(list),
                        at: loc.to_at(segments),
                    }),
                    None => return Ok(None),
                }
            }
            _ => return Err(*wrong_type(loc.render(segments), ty, "pointer")),
        }))
    }
}

impl Codec {
    /// A field default (or an element of one) of type `ty` as a value reference.
    #[inline]
    fn value_ref<'a>(
        &'a self,
        segments: &'a Segments<'a>,
        value: &'a Value,
        ty: &'a Type,
        loc: &Loc<'a>,
    ) -> Result<ValueRef<'a>, CodecError> {
        Ok(match value {
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::UInt(u) => ValueRef::UInt(*u),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Text(s) => ValueRef::Text(s),
            Value::Data(d) => ValueRef::Data(d),
            Value::Enum(s) => ValueRef::Enum(s),
            Value::List(items) => ValueRef::List(ListView {
                codec: self,
                segments,
                elem: match ty {
                    Type::List(elem) => elem,
                    other => other,
                },
                repr: ListRepr::Defaults(items),
                at: loc.to_at(segments),
            }),
            // The schema parser refuses struct literal defaults, so no default holds a struct.
            Value::Struct(_) => {
                return Err(*wrong_type(
                    loc.render(segments),
                    ty,
                    "struct literal default",
                ));
            }
        })
    }

    /// The value of a null pointer of type `ty` without a default; `None` for a struct.
    #[inline]
    fn empty_ref<'a>(&'a self, segments: &'a Segments<'a>, ty: &'a Type) -> Option<ValueRef<'a>> {
        Some(match ty {
            Type::Data => ValueRef::Data(&[]),
            Type::List(elem) => ValueRef::List(ListView {
                codec: self,
                segments,
                elem,
                repr: ListRepr::Defaults(&[]),
                at: At::Root,
            }),
            Type::Struct(_) => return None,
            _ => ValueRef::Text(""),
        })
    }
}

/// Where a struct or list sits in the message, kept by views for their error messages.
///
/// The root's own fields need nothing stored; deeper paths are kept by the message, so that
/// views stay small and `Copy`.
#[derive(Clone, Copy)]
enum At {
    Root,
    /// Field `i` of the root struct.
    Field(u32),
    Kept(u32),
}

impl At {
    fn render(self, segments: &Segments<'_>) -> String {
        match self {
            At::Root => String::new(),
            At::Field(i) => segments.root_name(i).to_owned(),
            At::Kept(n) => segments.path(n),
        }
    }
}

/// A field or element of the struct or list at an [`At`], rendered only when needed.
#[derive(Clone, Copy)]
enum Loc<'a> {
    /// Field number `u32` of the struct at `At`.
    Field(At, u32, &'a CField),
    Index(At, u32),
}

impl<'a> Loc<'a> {
    /// Where a view of this field or element sits.
    #[inline(always)]
    fn to_at(self, segments: &Segments<'_>) -> At {
        match self {
            Loc::Field(At::Root, i, _) => At::Field(i),
            other => other.kept(segments),
        }
    }

    /// Keeps the path of a view below the root's own fields (rare: out of the hot path).
    #[cold]
    #[inline(never)]
    fn kept(self, segments: &Segments<'_>) -> At {
        segments
            .keep_path(self.render(segments))
            .map_or(At::Root, At::Kept)
    }

    /// The path of this field or element (`spec.tags[2]`), for an error.
    #[cold]
    #[inline(never)]
    fn render(self, segments: &Segments<'_>) -> String {
        match self {
            Loc::Field(At::Root, _, field) => field.name.clone(),
            Loc::Field(at, _, field) => format!("{}.{}", at.render(segments), field.name),
            Loc::Index(at, i) => format!("{}[{i}]", at.render(segments)),
        }
    }
}

/// Text bytes (without their NUL) as a value, checked to be UTF-8.
#[inline(always)]
fn text_ref<'a>(
    bytes: &'a [u8],
    loc: &Loc<'_>,
    segments: &Segments<'_>,
) -> Result<ValueRef<'a>, CodecError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(ValueRef::Text(s)),
        Err(source) => Err(invalid_utf8(*loc, segments, source)),
    }
}

#[cold]
#[inline(never)]
fn invalid_utf8(loc: Loc<'_>, segments: &Segments<'_>, source: std::str::Utf8Error) -> CodecError {
    CodecError::InvalidUtf8 {
        path: loc.render(segments),
        source,
    }
}

/// An element index the list does not have (callers check ranges first).
#[cold]
#[inline(never)]
fn out_of_range(loc: Loc<'_>, segments: &Segments<'_>) -> CodecError {
    *wire_error(loc.render(segments), "element index out of range")
}

/// A wire reader error at `at`, as [`CodecError::Malformed`].
#[cold]
#[inline(never)]
fn wire_error(at: impl fmt::Display, reason: &'static str) -> Bx {
    malformed(at, capnp::Error::failed(reason.to_owned()))
}
