//! Reading a Cap'n Proto message in place: framing, pointers, bounds and limits.
//!
//! The `capnp` crate's readers borrow the `capnp::message::Reader` that owns their arena, and
//! every pointer they follow goes through a `dyn` arena for its bounds check; measured on the
//! 20-field bench record, that alone costs half of what `serde_json` takes. This reader
//! follows the encoding specification (<https://capnproto.org/encoding.html>) over byte slices
//! with `get` and checked arithmetic, so it needs no alignment and no copy, and it applies the
//! same traversal limit (words read, amplified for zero-sized list elements) and nesting limit
//! as the `capnp` crate. Packed input is unpacked by [`unpack`] first, into a buffer that grows
//! only as the input provides words; the segment table is checked against the bytes present
//! before any segment is used, so a table that claims large segments costs nothing.
//!
//! The small functions here and in `view` are `#[inline(always)]`: measured on the bench
//! record, the view otherwise spent most of its time moving results between calls.

use std::cell::{Cell, RefCell};
use std::ops::Range;

/// Errors of the wire reader, turned into [`crate::CodecError::Malformed`] with a path by the
/// views.
pub(super) type Wire<T> = Result<T, &'static str>;

/// Most segments a message may have, as in the `capnp` crate.
const MAX_SEGMENTS: usize = 512;

/// The segments of a message and what is left of its traversal budget.
pub(super) struct Segments<'a> {
    frame: Frame<'a>,
    /// Words that may still be read before the traversal limit is hit.
    budget: Cell<u64>,
    /// Paths of nested views below the root's own fields, for error messages; kept here so
    /// that views stay `Copy`.
    paths: RefCell<Vec<String>>,
    /// Field names of the root struct, which paths of its own fields index.
    root_names: &'a [String],
}

enum Frame<'a> {
    InPlace {
        first: &'a [u8],
        rest: Vec<&'a [u8]>,
    },
    /// Unpacked input in a buffer of the message's own, with each segment's byte range.
    Owned {
        buffer: Vec<u8>,
        ranges: Vec<Range<usize>>,
    },
}

/// Calls `segment` with the byte range of each segment of stream-framed `bytes` (segment
/// table, then segments), in order, checked against the length of `bytes`; then checks the
/// total against `limit_words`.
pub(crate) fn frame(
    bytes: &[u8],
    limit_words: u64,
    mut segment: impl FnMut(Range<usize>),
) -> Wire<()> {
    let u32_at = |i: usize| -> Wire<usize> {
        let b = i
            .checked_mul(4)
            .and_then(|s| bytes.get(s..s.checked_add(4)?))
            .ok_or("message ends inside its segment table")?;
        let b: [u8; 4] = b.try_into().map_err(|_| "short segment table entry")?;
        usize::try_from(u32::from_le_bytes(b)).map_err(|_| "segment size overflows")
    };
    let count = u32_at(0)?.checked_add(1).ok_or("too many segments")?;
    if count > MAX_SEGMENTS {
        return Err("message has too many segments");
    }
    // The table (count word, one size per segment) is padded to whole words.
    let mut offset = (count + 1).div_ceil(2) * 8;
    let mut total_words: u64 = 0;
    for i in 0..count {
        let words = u32_at(i + 1)?;
        total_words = total_words.saturating_add(u64::try_from(words).unwrap_or(u64::MAX));
        let end = words
            .checked_mul(8)
            .and_then(|n| offset.checked_add(n))
            .ok_or("segment size overflows")?;
        if end > bytes.len() {
            return Err("message ends inside a segment");
        }
        segment(offset..end);
        offset = end;
    }
    if total_words > limit_words {
        return Err("message is larger than the traversal limit");
    }
    Ok(())
}

impl<'a> Segments<'a> {
    /// Splits stream-framed bytes (segment table, then segments) into segments, in place.
    #[inline(always)]
    pub(super) fn in_place(
        bytes: &'a [u8],
        limit_words: u64,
        root_names: &'a [String],
    ) -> Wire<Self> {
        let mut first: Option<&[u8]> = None;
        let mut rest = Vec::new();
        frame(bytes, limit_words, |range| {
            let segment = bytes.get(range).unwrap_or(&[]);
            match first {
                None => first = Some(segment),
                Some(_) => rest.push(segment),
            }
        })?;
        Ok(Segments {
            frame: Frame::InPlace {
                first: first.unwrap_or(&[]),
                rest,
            },
            budget: Cell::new(limit_words),
            paths: RefCell::default(),
            root_names,
        })
    }

    /// Stream-framed bytes unpacked into `buffer`, which the segments keep.
    pub(super) fn owned(buffer: Vec<u8>, limit_words: u64, root_names: &'a [String]) -> Wire<Self> {
        let mut ranges = Vec::new();
        frame(&buffer, limit_words, |range| ranges.push(range))?;
        Ok(Segments {
            frame: Frame::Owned { buffer, ranges },
            budget: Cell::new(limit_words),
            paths: RefCell::default(),
            root_names,
        })
    }

    /// Keeps a path, returning its number (`None` past `u32::MAX` paths, which the traversal
    /// limit rules out).
    pub(super) fn keep_path(&self, path: String) -> Option<u32> {
        let mut paths = self.paths.borrow_mut();
        let n = u32::try_from(paths.len()).ok()?;
        paths.push(path);
        Some(n)
    }

    /// Path number `n`, as kept by [`Segments::keep_path`].
    pub(super) fn path(&self, n: u32) -> String {
        let paths = self.paths.borrow();
        usize::try_from(n)
            .ok()
            .and_then(|i| paths.get(i))
            .cloned()
            .unwrap_or_default()
    }

    /// The name of field `i` of the root struct.
    pub(super) fn root_name(&self, i: u32) -> &str {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.root_names.get(i))
            .map_or("", String::as_str)
    }

    /// Whether the segments are slices of the input.
    pub(super) fn is_in_place(&self) -> bool {
        matches!(self.frame, Frame::InPlace { .. })
    }

    /// The bytes of a segment that a ref already names (so it exists).
    #[inline(always)]
    fn seg(&self, place: Place) -> &[u8] {
        match (&self.frame, place.id) {
            (Frame::InPlace { first, .. }, 0) => first,
            _ => self.segment(place.id).unwrap_or(&[]),
        }
    }

    fn segment(&self, id: u32) -> Wire<&[u8]> {
        let found = match &self.frame {
            Frame::InPlace { first, rest } => match id.checked_sub(1) {
                None => Some(*first),
                Some(i) => usize::try_from(i).ok().and_then(|i| rest.get(i).copied()),
            },
            Frame::Owned { buffer, ranges } => usize::try_from(id)
                .ok()
                .and_then(|i| ranges.get(i))
                .and_then(|r| buffer.get(r.clone())),
        };
        found.ok_or("far pointer to a segment the message does not have")
    }

    /// Charges `words` against the traversal limit.
    #[inline(always)]
    pub(super) fn charge(&self, words: u64) -> Wire<()> {
        let left = self
            .budget
            .get()
            .checked_sub(words)
            .ok_or("traversal limit exceeded")?;
        self.budget.set(left);
        Ok(())
    }

    /// The root struct: the pointer in the first word of the first segment.
    #[inline(always)]
    pub(super) fn root(&self, nesting: i32) -> Wire<StructRef> {
        self.segment(0)?;
        match self.follow(Place { id: 0 }, 0)? {
            Some(target) => self.struct_at(target, nesting),
            None => Ok(StructRef::empty()),
        }
    }

    /// Follows the pointer at word `index` of `place`; `None` for a null pointer.
    #[inline(always)]
    fn follow(&self, place: Place, index: usize) -> Wire<Option<Target>> {
        let w = word(self.seg(place), index).ok_or("pointer outside its segment")?;
        if w == 0 {
            return Ok(None);
        }
        match w & 3 {
            0 | 1 => Ok(Some(Target {
                place,
                at: offset_target(index, w)?,
                tag: w,
            })),
            2 => {
                let id = high_u32(w);
                let seg = self.segment(id)?;
                let pad = low_u32(w) >> 3;
                let pad = usize::try_from(pad).map_err(|_| "landing pad out of range")?;
                let landing = word(seg, pad).ok_or("landing pad outside its segment")?;
                if w & 4 == 0 {
                    if landing & 3 == 2 {
                        return Err("far pointer lands on another far pointer");
                    }
                    let place = Place { id };
                    return Ok(Some(Target {
                        place,
                        at: offset_target(pad, landing)?,
                        tag: landing,
                    }));
                }
                // A double-far landing pad: a far pointer to the content, then its tag.
                if landing & 7 != 2 {
                    return Err("double-far landing pad is not a far pointer");
                }
                let tag = pad
                    .checked_add(1)
                    .and_then(|i| word(seg, i))
                    .ok_or("landing pad outside its segment")?;
                let id = high_u32(landing);
                // The content's segment must exist; its bounds are checked by the caller.
                self.segment(id)?;
                let at = usize::try_from(low_u32(landing) >> 3)
                    .map_err(|_| "far pointer out of range")?;
                Ok(Some(Target {
                    place: Place { id },
                    at,
                    tag,
                }))
            }
            _ => Err("capability pointer where data was expected"),
        }
    }

    #[inline(always)]
    fn struct_at(&self, target: Target, nesting: i32) -> Wire<StructRef> {
        if target.tag & 3 != 0 {
            return Err("expected a struct pointer");
        }
        if nesting <= 0 {
            return Err("nesting limit exceeded");
        }
        let (data_words, ptr_count) = struct_sizes(target.tag);
        let words = usize::from(data_words) + usize::from(ptr_count);
        check_bounds(self.seg(target.place), target.at, words)?;
        self.charge(u64::from(data_words) + u64::from(ptr_count))?;
        let data = target.at.checked_mul(8).ok_or("struct out of range")?;
        Ok(StructRef {
            place: target.place,
            data,
            data_bits: u32::from(data_words) * 64,
            ptrs: target.at + usize::from(data_words),
            ptr_count,
            nesting: nesting - 1,
        })
    }

    #[inline(always)]
    fn list_at(&self, target: Target, nesting: i32) -> Wire<ListRef> {
        if target.tag & 3 != 1 {
            return Err("expected a list pointer");
        }
        if nesting <= 0 {
            return Err("nesting limit exceeded");
        }
        let code = high_u32(target.tag) & 7;
        let count = high_u32(target.tag) >> 3;
        let seg = self.seg(target.place);
        let (start, count, step, data_bits, ptr_count, words) = if code == 7 {
            // Inline composite: `count` is in words, and a struct-shaped tag word comes first.
            let tag = word(seg, target.at).ok_or("list tag outside its segment")?;
            if tag & 3 != 0 {
                return Err("inline composite list with a non-struct tag");
            }
            let elements = low_u32(tag) >> 2;
            let (data_words, ptr_count) = struct_sizes(tag);
            // At most 2 * 65535 words of 64 bits per element: fits a `u32`.
            let data_bits = u32::from(data_words) * 64;
            let per = u64::from(data_words) + u64::from(ptr_count);
            let step = data_bits + u32::from(ptr_count) * 64;
            if per.saturating_mul(u64::from(elements)) > u64::from(count) {
                return Err("inline composite list overruns its word count");
            }
            let start = target.at.checked_add(1).ok_or("list out of range")?;
            let words = usize::try_from(count).map_err(|_| "list out of range")?;
            check_bounds(seg, start, words)?;
            // Zero-sized elements are charged one word each, as amplification protection.
            let charge = if per == 0 {
                u64::from(elements)
            } else {
                u64::from(count) + 1
            };
            (start, elements, step, data_bits, ptr_count, charge)
        } else {
            let (step, data_bits, ptr_count): (u32, u32, u16) = match code {
                0 => (0, 0, 0),
                1 => (1, 1, 0),
                2 => (8, 8, 0),
                3 => (16, 16, 0),
                4 => (32, 32, 0),
                5 => (64, 64, 0),
                _ => (64, 0, 1),
            };
            let words = (u64::from(count) * u64::from(step)).div_ceil(64);
            check_bounds(
                seg,
                target.at,
                usize::try_from(words).map_err(|_| "list out of range")?,
            )?;
            let charge = if step == 0 { u64::from(count) } else { words };
            (target.at, count, step, data_bits, ptr_count, charge)
        };
        self.charge(words)?;
        Ok(ListRef {
            place: target.place,
            start: start.checked_mul(8).ok_or("list out of range")?,
            count,
            step,
            data_bits,
            ptr_count,
            bits_only: code == 1,
            nesting: nesting - 1,
        })
    }

    /// The struct a pointer points to; `None` for a null pointer.
    #[inline(always)]
    pub(super) fn struct_ptr(&self, p: PtrRef) -> Wire<Option<StructRef>> {
        match self.follow(p.place, p.index)? {
            Some(t) => self.struct_at(t, p.nesting).map(Some),
            None => Ok(None),
        }
    }

    /// The list a pointer points to, checked to hold elements of `kind`; `None` if null.
    #[inline(always)]
    pub(super) fn list_ptr(&self, p: PtrRef, kind: Elem) -> Wire<Option<ListRef>> {
        let Some(t) = self.follow(p.place, p.index)? else {
            return Ok(None);
        };
        let list = self.list_at(t, p.nesting)?;
        let fits = match kind {
            Elem::Bit => list.bits_only,
            Elem::Data(bits) => !list.bits_only && list.data_bits >= bits,
            Elem::Pointer => !list.bits_only && list.ptr_count >= 1,
            Elem::Struct => !list.bits_only,
        };
        if fits {
            Ok(Some(list))
        } else {
            Err("list elements are not of the expected kind")
        }
    }

    /// The bytes of a `Data` pointer (a list of bytes); `None` if null.
    #[inline(always)]
    pub(super) fn bytes_ptr(&self, p: PtrRef) -> Wire<Option<&[u8]>> {
        // The common case, a list pointer into its own segment, reads that segment once.
        let seg = self.seg(p.place);
        let w = word(seg, p.index).ok_or("pointer outside its segment")?;
        let (seg, at, tag) = if w & 3 == 1 {
            (seg, offset_target(p.index, w)?, w)
        } else {
            let Some(t) = self.follow(p.place, p.index)? else {
                return Ok(None);
            };
            (self.seg(t.place), t.at, t.tag)
        };
        if tag & 3 != 1 || high_u32(tag) & 7 != 2 {
            return Err("expected a list of bytes");
        }
        let len = usize::try_from(high_u32(tag) >> 3).map_err(|_| "list out of range")?;
        let start = at.checked_mul(8).ok_or("list out of range")?;
        let bytes = start
            .checked_add(len)
            .and_then(|end| seg.get(start..end))
            .ok_or("list outside its segment")?;
        self.charge(u64::try_from(len.div_ceil(8)).unwrap_or(u64::MAX))?;
        Ok(Some(bytes))
    }

    /// The bytes of a `Text` pointer without its NUL terminator; `None` if null.
    #[inline(always)]
    pub(super) fn text_ptr(&self, p: PtrRef) -> Wire<Option<&[u8]>> {
        // The common case, a list of bytes in the pointer's own segment, in one pass: a list
        // pointer (tag 1) whose element size is bytes (2), then one bounds-checked slice.
        let seg = self.seg(p.place);
        let w = word(seg, p.index).ok_or("pointer outside its segment")?;
        if w & BYTE_LIST_MASK == BYTE_LIST {
            let start = offset_target(p.index, w)?
                .checked_mul(8)
                .ok_or("list out of range")?;
            let len = usize::try_from(high_u32(w) >> 3).map_err(|_| "list out of range")?;
            let bytes = start
                .checked_add(len)
                .and_then(|end| seg.get(start..end))
                .ok_or("list outside its segment")?;
            self.charge(u64::from(high_u32(w) >> 3).div_ceil(8))?;
            return match bytes {
                [text @ .., 0] => Ok(Some(text)),
                _ => Err("text is not NUL-terminated"),
            };
        }
        match self.bytes_ptr(p)? {
            Some([text @ .., 0]) => Ok(Some(text)),
            Some(_) => Err("text is not NUL-terminated"),
            None => Ok(None),
        }
    }
}

/// The bits of a pointer word that make it a list of bytes: kind 1 (list) in bits 0-1 and
/// element size 2 (bytes) in bits 32-34.
const BYTE_LIST_MASK: u64 = 0x0000_0007_0000_0003;
const BYTE_LIST: u64 = 0x0000_0002_0000_0001;

/// Unpacks the packed encoding (<https://capnproto.org/encoding.html#packing>) of `input`
/// into `out`, which is cleared first; refuses to grow past `max_words` words.
pub(super) fn unpack(mut input: &[u8], out: &mut Vec<u8>, max_words: usize) -> Wire<()> {
    out.clear();
    let mut words: usize = 0;
    while let Some((&tag, rest)) = input.split_first() {
        input = rest;
        // One word: a set bit of the tag means the byte follows, a clear bit a zero byte.
        let mut word = [0u8; 8];
        for (bit, byte) in word.iter_mut().enumerate() {
            if tag & (1 << bit) != 0 {
                let (&b, rest) = input
                    .split_first()
                    .ok_or("packed input ends inside a word")?;
                *byte = b;
                input = rest;
            }
        }
        out.extend_from_slice(&word);
        // After an all-zero or all-set word, a count of further zero or raw words.
        let run = if tag == 0 || tag == 0xff {
            let (&n, rest) = input
                .split_first()
                .ok_or("packed input ends before a run length")?;
            input = rest;
            usize::from(n)
        } else {
            0
        };
        words = words.saturating_add(1 + run);
        if words > max_words {
            return Err("message is larger than the traversal limit");
        }
        if tag == 0 {
            out.resize(out.len() + run * 8, 0);
        } else if tag == 0xff {
            let (raw, rest) = input
                .split_at_checked(run * 8)
                .ok_or("packed input ends inside a run of raw words")?;
            out.extend_from_slice(raw);
            input = rest;
        }
    }
    Ok(())
}

/// A segment that pointers are read from, by id: refs hold no slices, so that copying them
/// stays cheap (a copied slice is reloaded whole right after being stored in halves, which
/// stalls store forwarding and measured as the single largest cost of reading a list).
#[derive(Clone, Copy)]
pub(super) struct Place {
    id: u32,
}

/// Where a non-null pointer leads: the content's first word and the word describing it.
struct Target {
    place: Place,
    at: usize,
    tag: u64,
}

/// A pointer slot, not yet followed.
#[derive(Clone, Copy)]
pub(super) struct PtrRef {
    place: Place,
    index: usize,
    nesting: i32,
}

/// A struct in a segment: its data section (bytes) and pointer section (words).
#[derive(Clone, Copy)]
pub(super) struct StructRef {
    place: Place,
    data: usize,
    data_bits: u32,
    ptrs: usize,
    ptr_count: u16,
    nesting: i32,
}

impl StructRef {
    /// A struct with no data and no pointers: every field reads as its default.
    fn empty() -> Self {
        StructRef {
            place: Place { id: 0 },
            data: 0,
            data_bits: 0,
            ptrs: 0,
            ptr_count: 0,
            nesting: 0,
        }
    }

    /// The raw bits of the data field at `bit_offset` of `width` bits (zero beyond the data
    /// section, as for a struct written by an older schema).
    #[inline(always)]
    pub(super) fn data(&self, segments: &Segments<'_>, bit_offset: u32, width: u32) -> u64 {
        read_bits(
            segments.seg(self.place),
            self.data,
            u64::from(self.data_bits),
            u64::from(bit_offset),
            width,
        )
    }

    /// Pointer `i`; `None` beyond the pointer section (a null pointer).
    #[inline(always)]
    pub(super) fn ptr(&self, i: u16) -> Option<PtrRef> {
        (i < self.ptr_count).then_some(PtrRef {
            place: self.place,
            index: self.ptrs + usize::from(i),
            nesting: self.nesting,
        })
    }
}

/// What a list is read as, from its schema type.
#[derive(Clone, Copy)]
pub(super) enum Elem {
    Bit,
    Data(u32),
    Pointer,
    Struct,
}

/// A list in a segment.
#[derive(Clone, Copy)]
pub(super) struct ListRef {
    place: Place,
    /// Byte offset of the first element.
    start: usize,
    count: u32,
    /// Bits from one element to the next.
    step: u32,
    /// Data bits of each element.
    data_bits: u32,
    /// Pointers of each element.
    ptr_count: u16,
    bits_only: bool,
    nesting: i32,
}

impl ListRef {
    /// Number of elements.
    #[inline(always)]
    pub(super) fn len(&self) -> u32 {
        self.count
    }

    /// The raw bits of data element `i` (of the list's first data field for struct lists).
    #[inline(always)]
    pub(super) fn data(&self, segments: &Segments<'_>, i: u32, width: u32) -> u64 {
        if width > self.data_bits {
            return 0;
        }
        // The list was bounds-checked as a whole when it was followed.
        let bit = u64::from(i) * u64::from(self.step);
        read_bits(segments.seg(self.place), self.start, u64::MAX, bit, width)
    }

    #[inline(always)]
    fn element_byte(&self, i: u32) -> Option<usize> {
        let bits = u64::from(i) * u64::from(self.step);
        self.start.checked_add(usize::try_from(bits / 8).ok()?)
    }

    /// The pointer of element `i` (the first pointer of a struct element).
    #[inline(always)]
    pub(super) fn ptr(&self, i: u32) -> Wire<PtrRef> {
        let data = usize::try_from(self.data_bits / 8).map_err(|_| "list out of range")?;
        let byte = self
            .element_byte(i)
            .and_then(|b| b.checked_add(data))
            .ok_or("list element out of range")?;
        Ok(PtrRef {
            place: self.place,
            index: byte / 8,
            nesting: self.nesting,
        })
    }

    /// Struct element `i`.
    #[inline(always)]
    pub(super) fn struct_at(&self, i: u32) -> Wire<StructRef> {
        let data = self.element_byte(i).ok_or("list element out of range")?;
        let data_bytes = usize::try_from(self.data_bits / 8).map_err(|_| "list out of range")?;
        Ok(StructRef {
            place: self.place,
            data,
            data_bits: self.data_bits,
            ptrs: data.checked_add(data_bytes).ok_or("list out of range")? / 8,
            ptr_count: self.ptr_count,
            nesting: self.nesting,
        })
    }
}

/// `width` bits at bit `bit` of a section of `section_bits` bits starting at byte `start`;
/// zero beyond the section.
#[inline(always)]
fn read_bits(seg: &[u8], start: usize, section_bits: u64, bit: u64, width: u32) -> u64 {
    if bit.saturating_add(u64::from(width)) > section_bits {
        return 0;
    }
    let Some(byte) = usize::try_from(bit / 8)
        .ok()
        .and_then(|b| start.checked_add(b))
    else {
        return 0;
    };
    // Fixed-size reads: a variable-length copy would call `memcpy` for every field.
    fn le<const N: usize>(seg: &[u8], byte: usize) -> Option<[u8; N]> {
        seg.get(byte..byte.checked_add(N)?)?.try_into().ok()
    }
    match width {
        1 => {
            let b = seg.get(byte).copied().unwrap_or(0);
            u64::from((b >> (bit % 8)) & 1)
        }
        8 => le::<1>(seg, byte).map_or(0, |b| u64::from(u8::from_le_bytes(b))),
        16 => le::<2>(seg, byte).map_or(0, |b| u64::from(u16::from_le_bytes(b))),
        32 => le::<4>(seg, byte).map_or(0, |b| u64::from(u32::from_le_bytes(b))),
        _ => le::<8>(seg, byte).map_or(0, u64::from_le_bytes),
    }
}

/// Word `i` of a segment.
#[inline(always)]
fn word(seg: &[u8], i: usize) -> Option<u64> {
    let start = i.checked_mul(8)?;
    let bytes: [u8; 8] = seg.get(start..start.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// The data words and pointer count of a struct pointer or inline composite tag.
#[inline(always)]
fn struct_sizes(w: u64) -> (u16, u16) {
    let [.., a, b, c, d] = w.to_le_bytes();
    (u16::from_le_bytes([a, b]), u16::from_le_bytes([c, d]))
}

#[inline(always)]
fn low_u32(w: u64) -> u32 {
    let [a, b, c, d, ..] = w.to_le_bytes();
    u32::from_le_bytes([a, b, c, d])
}

#[inline(always)]
fn high_u32(w: u64) -> u32 {
    let [.., a, b, c, d] = w.to_le_bytes();
    u32::from_le_bytes([a, b, c, d])
}

/// The word a struct or list pointer at word `index` points to: `index + 1 + offset`, where
/// the offset is the signed upper 30 bits of the pointer's low half.
#[inline(always)]
fn offset_target(index: usize, w: u64) -> Wire<usize> {
    let offset = i64::from(i32::from_le_bytes(low_u32(w).to_le_bytes()) >> 2);
    i64::try_from(index)
        .ok()
        .and_then(|i| i.checked_add(1)?.checked_add(offset))
        .and_then(|t| usize::try_from(t).ok())
        .ok_or("pointer offset out of range")
}

/// Checks that `words` words from word `at` lie within the segment.
#[inline(always)]
fn check_bounds(seg: &[u8], at: usize, words: usize) -> Wire<()> {
    let end = at
        .checked_add(words)
        .and_then(|w| w.checked_mul(8))
        .ok_or("pointer out of range")?;
    if end <= seg.len() {
        Ok(())
    } else {
        Err("pointer outside its segment")
    }
}
