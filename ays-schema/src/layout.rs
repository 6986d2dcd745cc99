//! Struct layout: where each field lives, computed exactly as the Cap'n Proto compiler does
//! for structs without unions or groups.
//!
//! Fields are allocated in ordinal order. A data field of 2^k bits takes the first free hole of
//! its size (holes are left behind when a word is split for a smaller field, and a larger hole is
//! split in two when no hole of the right size exists); only when there is none does the data
//! section grow by one word. Pointer fields are numbered in ordinal order.

use crate::schema::Type;

/// Size of a struct: data section in 64-bit words and number of pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StructLayout {
    /// Data section size in words.
    pub data_words: u16,
    /// Pointer section size.
    pub pointers: u16,
}

/// Where one field lives inside its struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A data field: `bits[offset, offset + width)` of the data section.
    Data {
        /// Offset in bits from the start of the data section.
        bit_offset: u32,
        /// Width in bits (1, 8, 16, 32 or 64).
        width: u32,
    },
    /// A pointer field: index in the pointer section.
    Pointer(u16),
}

impl Slot {
    /// The offset in units of the field's own width, as the capnp runtime addresses fields.
    pub(crate) fn element_offset(self) -> usize {
        match self {
            // Offsets are aligned to their width, so the division is exact.
            Slot::Data { bit_offset, width } => {
                usize::try_from(bit_offset / width.max(1)).unwrap_or(usize::MAX)
            }
            Slot::Pointer(i) => usize::from(i),
        }
    }
}

/// Free holes of each size (log2 of bits, 0..=5), as offsets in units of that size; 0 = none.
///
/// Offset 0 can never be a hole, since the first field of a word always takes it.
#[derive(Default)]
struct HoleSet {
    holes: [u32; 6],
}

impl HoleSet {
    fn try_allocate(&mut self, lg: usize) -> Option<u32> {
        let hole = *self.holes.get(lg)?;
        if hole != 0 {
            if let Some(h) = self.holes.get_mut(lg) {
                *h = 0;
            }
            return Some(hole);
        }
        let bigger = self.try_allocate(lg + 1)?;
        let result = bigger.checked_mul(2)?;
        if let Some(h) = self.holes.get_mut(lg) {
            *h = result + 1;
        }
        Some(result)
    }

    fn add_holes_at_end(&mut self, mut lg: usize, mut offset: u32) {
        while let Some(h) = self.holes.get_mut(lg) {
            *h = offset;
            lg += 1;
            offset = offset.div_ceil(2);
        }
    }
}

/// Lays out fields given in ordinal order; returns each field's slot and the struct size.
///
/// Returns `None` if the struct would exceed the format's limits (65535 words or pointers).
pub(crate) fn compute<'a>(
    types: impl IntoIterator<Item = &'a Type>,
) -> Option<(Vec<Slot>, StructLayout)> {
    let mut holes = HoleSet::default();
    let mut data_words: u32 = 0;
    let mut pointers: u16 = 0;
    let mut slots = Vec::new();
    for ty in types {
        let slot = match ty.data_bits() {
            None => {
                let i = pointers;
                pointers = pointers.checked_add(1)?;
                Slot::Pointer(i)
            }
            Some(width) => {
                let lg = usize::try_from(width.trailing_zeros()).ok()?;
                let offset = match holes.try_allocate(lg) {
                    Some(o) => o,
                    None => {
                        let shift = 6u32.checked_sub(width.trailing_zeros())?;
                        let o = data_words.checked_shl(shift)?;
                        data_words += 1;
                        holes.add_holes_at_end(lg, o + 1);
                        o
                    }
                };
                Slot::Data {
                    bit_offset: offset.checked_mul(width)?,
                    width,
                }
            }
        };
        slots.push(slot);
    }
    let layout = StructLayout {
        data_words: u16::try_from(data_words).ok()?,
        pointers,
    };
    Some((slots, layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(types: &[Type]) -> Vec<(u32, u32)> {
        compute(types)
            .unwrap()
            .0
            .into_iter()
            .map(|s| match s {
                Slot::Data { bit_offset, width } => (bit_offset, width),
                Slot::Pointer(_) => panic!("pointer"),
            })
            .collect()
    }

    #[test]
    fn holes_are_reused_in_order() {
        // bool, int64, int8, bool, int32: the compiler puts them at 0, 64, 8, 1, 32.
        let got = bits(&[Type::Bool, Type::Int64, Type::Int8, Type::Bool, Type::Int32]);
        assert_eq!(got, vec![(0, 1), (64, 64), (8, 8), (1, 1), (32, 32)]);
    }
}
