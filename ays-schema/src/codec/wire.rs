//! Glue to the `capnp` crate's layout code for the encoder: the root pointer, a struct type
//! sized at run time, and writing data fields and list elements as raw little-endian bits.

use capnp::private::layout::{
    ElementSize, ListBuilder, PointerBuilder, PrimitiveElement, StructBuilder, StructReader,
    StructSize,
};
use capnp::traits::FromPointerBuilder;

use crate::layout::StructLayout;
use crate::schema::Type;

pub(super) fn struct_size(layout: StructLayout) -> StructSize {
    StructSize {
        data: layout.data_words,
        pointers: layout.pointers,
    }
}

pub(super) fn element_size(ty: &Type) -> ElementSize {
    match ty.data_bits() {
        Some(1) => ElementSize::Bit,
        Some(8) => ElementSize::Byte,
        Some(16) => ElementSize::TwoBytes,
        Some(32) => ElementSize::FourBytes,
        Some(_) => ElementSize::EightBytes,
        None => ElementSize::Pointer,
    }
}

pub(super) fn set_data(builder: &StructBuilder<'_>, ty: &Type, offset: usize, raw: u64) {
    let b = raw.to_le_bytes();
    match ty.data_bits() {
        Some(1) => builder.set_bool_field(offset, raw & 1 != 0),
        Some(8) => builder.set_data_field::<u8>(offset, b[0]),
        Some(16) => builder.set_data_field::<u16>(offset, u16::from_le_bytes([b[0], b[1]])),
        Some(32) => {
            builder.set_data_field::<u32>(offset, u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        _ => builder.set_data_field::<u64>(offset, raw),
    }
}

pub(super) fn set_element(list: &ListBuilder<'_>, ty: &Type, i: u32, raw: u64) {
    let b = raw.to_le_bytes();
    match ty.data_bits() {
        Some(1) => PrimitiveElement::set(list, i, raw & 1 != 0),
        Some(8) => PrimitiveElement::set(list, i, b[0]),
        Some(16) => PrimitiveElement::set(list, i, u16::from_le_bytes([b[0], b[1]])),
        Some(32) => PrimitiveElement::set(list, i, u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => PrimitiveElement::set(list, i, raw),
    }
}

/// A root or element pointer handed out by the `capnp` message API.
pub(super) struct RawPointerBuilder<'a>(pub(super) PointerBuilder<'a>);

impl<'a> FromPointerBuilder<'a> for RawPointerBuilder<'a> {
    fn init_pointer(builder: PointerBuilder<'a>, _length: u32) -> Self {
        RawPointerBuilder(builder)
    }
    fn get_from_pointer(
        builder: PointerBuilder<'a>,
        _default: Option<&'a [capnp::Word]>,
    ) -> capnp::Result<Self> {
        Ok(RawPointerBuilder(builder))
    }
}

/// A struct type whose size is known only at run time, for `capnp::struct_list`.
///
/// Its static size is zero: lists are allocated with the real size first, and the crate
/// keeps an existing list whose elements are at least as large as asked for.
pub(super) struct DynStruct;

impl capnp::introspect::Introspect for DynStruct {
    fn introspect() -> capnp::introspect::Type {
        capnp::introspect::TypeVariant::AnyPointer.into()
    }
}

impl capnp::traits::OwnedStruct for DynStruct {
    type Reader<'a> = DynReader<'a>;
    type Builder<'a> = DynBuilder<'a>;
}

pub(super) struct DynReader<'a>(pub(super) StructReader<'a>);

impl<'a> From<StructReader<'a>> for DynReader<'a> {
    fn from(r: StructReader<'a>) -> Self {
        DynReader(r)
    }
}

impl<'a> capnp::traits::IntoInternalStructReader<'a> for DynReader<'a> {
    fn into_internal_struct_reader(self) -> StructReader<'a> {
        self.0
    }
}

impl capnp::traits::SetterInput<DynStruct> for DynReader<'_> {
    fn set_pointer_builder(
        mut builder: PointerBuilder<'_>,
        input: Self,
        canonicalize: bool,
    ) -> capnp::Result<()> {
        builder.set_struct(&input.0, canonicalize)
    }
}

pub(super) struct DynBuilder<'a>(pub(super) StructBuilder<'a>);

impl<'a> From<StructBuilder<'a>> for DynBuilder<'a> {
    fn from(b: StructBuilder<'a>) -> Self {
        DynBuilder(b)
    }
}

impl capnp::traits::HasStructSize for DynBuilder<'_> {
    const STRUCT_SIZE: StructSize = StructSize {
        data: 0,
        pointers: 0,
    };
}
