//! Fuzzing of the schema parser and the decoder with structured mutations of real inputs: the
//! fixture schemas and messages encoded from them, truncated, flipped, spliced, nested deeply
//! and given hostile segment tables and pointers. Every error must be typed and located.
//!
//! The case counts suit CI; `PROPTEST_CASES=100000 cargo test -p ays-schema --test roundtrip
//! fuzz::` runs a longer session.

use ays_schema::{Codec, CodecError, Encoding, Record, SchemaError, SchemaFile, Type, Value};
use proptest::prelude::*;
use proptest::sample::{Index, select};

use super::{MIXED, fixture_schemas, parse_schema};

/// `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(cases)
}

// ---------------------------------------------------------------------------------------------
// Text mutations.

/// Text inserted by mutations: the language's delimiters, keywords and hostile literals.
const JUNK: &[&str] = &[
    "@",
    ";",
    ":",
    "=",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "\"",
    "0x\"",
    "#",
    "\n",
    "\r\n",
    "\\",
    "$",
    "-",
    "List(",
    "struct ",
    "enum ",
    "union ",
    "group ",
    "@0 :Text;",
    "@65535",
    "@65536",
    "@0x0",
    "99999999999999999999999999999999999999999",
    "-9223372036854775809",
    "0x8000000000000000",
    "0xffffffffffffffffff",
    "1e999",
    "-inf",
    "nan",
    "\u{0}",
    "é",
    "\u{202e}",
    "\t",
    " = [",
    "= 0x\"0\"",
    "\"\\x\"",
    "\"\\400\"",
    "AnyPointer",
    "Void",
];

/// Openers and closers repeated by the nesting mutation.
const NESTS: &[(&str, &str)] = &[("List(", ")"), ("[", "]"), ("struct S { ", "}"), ("(", ")")];

/// One structural edit of a text, at a character position.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(Index),
    Delete(Index, usize),
    Insert(Index, String),
    Duplicate(Index, usize),
    Nest(Index, (&'static str, &'static str), usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), 1..24usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), select(JUNK)).prop_map(|(i, s)| Edit::Insert(i, s.to_owned())),
        (any::<Index>(), any::<char>()).prop_map(|(i, c)| Edit::Insert(i, c.to_string())),
        (any::<Index>(), 1..48usize).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        (any::<Index>(), select(NESTS), 1..2_000usize).prop_map(|(i, p, n)| Edit::Nest(i, p, n)),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: &Index| i.index(chars.len() + 1);
    let join = |parts: &[&[char]]| parts.iter().flat_map(|p| p.iter()).collect::<String>();
    match edit {
        Edit::Truncate(i) => join(&[&chars[..at(i)]]),
        Edit::Delete(i, n) => {
            let start = at(i);
            let end = (start + n).min(chars.len());
            join(&[&chars[..start], &chars[end..]])
        }
        Edit::Insert(i, s) => {
            let start = at(i);
            let inserted: Vec<char> = s.chars().collect();
            join(&[&chars[..start], &inserted, &chars[start..]])
        }
        Edit::Duplicate(i, n) => {
            let start = at(i);
            let end = (start + n).min(chars.len());
            join(&[&chars[..end], &chars[start..]])
        }
        Edit::Nest(i, (open, close), n) => {
            let start = at(i);
            let open: Vec<char> = open.repeat(*n).chars().collect();
            let close: Vec<char> = close.repeat(*n).chars().collect();
            join(&[&chars[..start], &open, &chars[start..], &close])
        }
    }
}

/// A real schema (a fixture's committed `schema.capnp`, or our own) after a few edits.
fn mutated_schema() -> impl Strategy<Value = String> {
    let mut seeds: Vec<String> = fixture_schemas().into_iter().map(|(_, s)| s).collect();
    seeds.push(MIXED.to_owned());
    (select(seeds), proptest::collection::vec(edit(), 1..5))
        .prop_map(|(seed, edits)| edits.iter().fold(seed, |text, e| apply(&text, e)))
}

/// Checks that `err`, from parsing `src` as `file`, names `file` and a line and column within
/// `src` (a column may point just past the end of its line, the line just past the last).
fn check_located(src: &str, file: &str, err: &SchemaError) -> Result<(), TestCaseError> {
    let at = err.location();
    prop_assert_eq!(&at.file, file, "{}", err);
    let lines: Vec<&str> = src.split('\n').collect();
    let line = usize::try_from(at.line).unwrap_or(usize::MAX);
    prop_assert!(
        line >= 1 && line <= lines.len(),
        "{err}: line out of the text"
    );
    let width = lines[line - 1].chars().count();
    let column = usize::try_from(at.column).unwrap_or(usize::MAX);
    prop_assert!(
        column >= 1 && column <= width + 1,
        "{err}: column out of line {line}"
    );
    prop_assert!(err.to_string().starts_with(&format!("{at}: ")), "{err}");
    Ok(())
}

const FILE: &str = "fuzz/dir/é schema.capnp";

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn mutated_schemas_parse_or_fail_located(src in mutated_schema()) {
        if let Err(err) = parse_schema(&src, FILE) {
            check_located(&src, FILE, &err)?;
        }
    }
}

#[test]
fn issue_9_deep_nesting_is_a_located_error_not_a_stack_overflow() {
    let head = "@0x8000000000000000;\n";
    for (src, line, column) in [
        (
            format!(
                "{head}struct S {{ a @0 :{}Int8{}; }}",
                "List(".repeat(100_000),
                ")".repeat(100_000)
            ),
            // `struct S` is the first level, the 63rd `List(` the 64th.
            2,
            18 + 5 * 63,
        ),
        (
            format!(
                "{head}struct S {{ a @0 :List(Int8) = {}; }}",
                "[".repeat(100_000)
            ),
            2,
            31 + 63,
        ),
        (
            format!("{head}{}", "struct S {\n".repeat(100_000)),
            2 + 64,
            1,
        ),
    ] {
        let err = parse_schema(&src, FILE).unwrap_err();
        let at = err.location();
        assert_eq!(
            (&err, at.line, at.column),
            (
                &SchemaError::TooDeep {
                    at: at.clone(),
                    limit: 64
                },
                line,
                column
            ),
            "{err}"
        );
    }
    // 64 levels are fine.
    let src = format!(
        "{head}struct S {{ a @0 :{}Int8{} = {}{}; }}",
        "List(".repeat(63),
        ")".repeat(63),
        "[".repeat(63),
        "]".repeat(63)
    );
    assert_eq!(parse_schema(&src, FILE).unwrap().structs.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Byte mutations of real messages.

/// A record setting every field of `s` (nested structs two levels deep, lists of two items).
fn full(schema: &SchemaFile, name: &str, depth: u32) -> Record {
    let s = schema.find_struct(name).unwrap();
    let mut r = Record::new();
    for f in &s.fields {
        if let Some(v) = sample(schema, &f.ty, depth) {
            r.insert(f.name.as_str(), v);
        }
    }
    r
}

fn sample(schema: &SchemaFile, ty: &Type, depth: u32) -> Option<Value> {
    Some(match ty {
        Type::Bool => Value::Bool(true),
        Type::Int8 | Type::Int16 | Type::Int32 | Type::Int64 => Value::Int(-7),
        Type::UInt8 | Type::UInt16 | Type::UInt32 | Type::UInt64 => Value::UInt(9),
        Type::Float32 | Type::Float64 => Value::Float(1.5),
        Type::Text => Value::Text("some text ä".to_owned()),
        Type::Data => Value::Data(vec![1, 2, 3]),
        Type::Enum(r) => Value::Enum(schema.enums[r.index].enumerants.last()?.clone()),
        Type::List(inner) => {
            let item = sample(schema, inner, depth)?;
            Value::List(vec![item.clone(), item])
        }
        Type::Struct(r) if depth < 2 => Value::Struct(full(schema, &r.name, depth + 1)),
        _ => return None,
    })
}

/// A fixture schema or `MIXED`, its root struct's name, and a full record of it, encoded both
/// ways.
struct Target {
    codec: Codec,
    root_fields: Vec<String>,
    unpacked: Vec<u8>,
    packed: Vec<u8>,
}

fn targets() -> Vec<Target> {
    let mut schemas: Vec<(SchemaFile, &str)> = fixture_schemas()
        .into_iter()
        .map(|(name, text)| (parse_schema(&text, &name).unwrap(), "Schema"))
        .collect();
    schemas.push((parse_schema(MIXED, "mixed.capnp").unwrap(), "Mixed"));
    schemas
        .into_iter()
        .map(|(schema, root)| {
            let codec = Codec::new(&schema, root).unwrap();
            let record = full(&schema, root, 0);
            Target {
                root_fields: schema
                    .find_struct(root)
                    .unwrap()
                    .fields
                    .iter()
                    .map(|f| f.name.clone())
                    .collect(),
                unpacked: codec.encode(&record, Encoding::Unpacked).unwrap(),
                packed: codec.encode(&record, Encoding::Packed).unwrap(),
                codec,
            }
        })
        .collect()
}

/// Hostile 32-bit values for segment counts and sizes, and pointer offsets and counts.
const HOSTILE_U32: &[u32] = &[
    0,
    1,
    2,
    7,
    511,
    512,
    0x1fff_ffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
    8 << 20,
];

/// One edit of message bytes.
#[derive(Debug, Clone)]
enum ByteEdit {
    Flip(Index, u8),
    Set(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    /// Overwrite an aligned 32-bit half-word (a segment count or size, half a pointer).
    Half(Index, u32),
    /// Overwrite an aligned word with a pointer of kind `0..4`, offset and count/sizes.
    Pointer(Index, u8, u32, u32),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(i, b)| ByteEdit::Flip(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Set(i, b)),
        any::<Index>().prop_map(ByteEdit::Truncate),
        (
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 1..24)
        )
            .prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        (
            any::<Index>(),
            prop_oneof![select(HOSTILE_U32), any::<u32>()]
        )
            .prop_map(|(i, v)| ByteEdit::Half(i, v)),
        (
            any::<Index>(),
            0..4u8,
            prop_oneof![select(HOSTILE_U32), any::<u32>()],
            prop_oneof![select(HOSTILE_U32), any::<u32>()]
        )
            .prop_map(|(i, k, o, c)| ByteEdit::Pointer(i, k, o, c)),
    ]
}

fn apply_bytes(bytes: &mut Vec<u8>, edit: &ByteEdit) {
    let at = |i: &Index, len: usize| i.index(len + 1);
    match edit {
        ByteEdit::Flip(i, b) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            bytes[i] ^= b;
        }
        ByteEdit::Set(i, b) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        ByteEdit::Truncate(i) => bytes.truncate(at(i, bytes.len())),
        ByteEdit::Insert(i, b) => {
            let i = at(i, bytes.len());
            bytes.splice(i..i, b.iter().copied());
        }
        ByteEdit::Half(i, v) if bytes.len() >= 4 => {
            let i = i.index(bytes.len() / 4) * 4;
            bytes[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
        ByteEdit::Pointer(i, kind, offset, high) if bytes.len() >= 8 => {
            let i = i.index(bytes.len() / 8) * 8;
            let low = (offset << 2) | u32::from(*kind);
            bytes[i..i + 4].copy_from_slice(&low.to_le_bytes());
            bytes[i + 4..i + 8].copy_from_slice(&high.to_le_bytes());
        }
        _ => {}
    }
}

/// Checks that decoding failed with a typed error whose path starts at a field of the root
/// struct (or is empty, for the framing).
fn check_decode_error(target: &Target, err: &CodecError) -> Result<(), TestCaseError> {
    let path = match err {
        CodecError::Malformed { path, .. }
        | CodecError::InvalidUtf8 { path, .. }
        | CodecError::UnknownEnumOrdinal { path, .. } => path,
        other => return Err(TestCaseError::fail(format!("unexpected error {other:?}"))),
    };
    let first = path.split(['.', '[']).next().unwrap_or_default();
    prop_assert!(
        first.is_empty() || target.root_fields.iter().any(|f| f == first),
        "path `{}` names no field of `{}`",
        path,
        target.codec.struct_name()
    );
    Ok(())
}

fn decode_checked(target: &Target, bytes: &[u8], encoding: Encoding) -> Result<(), TestCaseError> {
    if let Err(err) = target.codec.decode(bytes, encoding) {
        check_decode_error(target, &err)?;
    }
    if encoding == Encoding::Packed {
        // Unpacking grows the buffer only as the input provides words: 256 words for the two
        // bytes of a run of zero words at most.
        let mut buffer = Vec::new();
        let _ = target.codec.read_packed(bytes, &mut buffer);
        prop_assert!(buffer.len() <= 8 * 256 * (bytes.len() + 1));
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn mutated_messages_decode_or_fail_typed(
        pick in any::<Index>(),
        packed in any::<bool>(),
        edits in proptest::collection::vec(byte_edit(), 1..6),
    ) {
        thread_local!(static TARGETS: Vec<Target> = targets());
        TARGETS.with(|targets| {
            let target = pick.get(targets);
            let (mut bytes, encoding) = if packed {
                (target.packed.clone(), Encoding::Packed)
            } else {
                (target.unpacked.clone(), Encoding::Unpacked)
            };
            for e in &edits {
                apply_bytes(&mut bytes, e);
            }
            decode_checked(target, &bytes, encoding)?;
            // The same bytes read the other way round too.
            let other = if packed { Encoding::Unpacked } else { Encoding::Packed };
            decode_checked(target, &bytes, other)
        })?;
    }
}

/// Words as little-endian bytes.
fn words(ws: &[u64]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A schema with a list of each hostile kind.
fn lists_codec() -> Codec {
    let schema = parse_schema(
        "@0x8000000000000000;\nstruct S { b @0 :List(Bool); e @1 :List(E); struct E { } }",
        "lists.capnp",
    )
    .unwrap();
    Codec::new(&schema, "S").unwrap()
}

fn malformed_reason(err: &CodecError) -> (String, String) {
    match err {
        CodecError::Malformed { path, source } => (path.clone(), source.extra.clone()),
        other => panic!("expected a malformed message, got {other:?}"),
    }
}

#[test]
fn issue_9_packed_segment_table_claiming_64_mib_is_refused_before_allocating() {
    let codec = lists_codec();
    // Packed: one word, the segment table "one segment of 8 Mi - 8 words", and nothing else.
    // The `capnp` reader allocated the 64 MiB the table claims before finding the input short.
    let input = [0b0111_0000, 0xf8, 0xff, 0x7f];
    let err = codec.decode(&input, Encoding::Packed).unwrap_err();
    assert_eq!(
        malformed_reason(&err),
        (String::new(), "message ends inside a segment".to_owned())
    );
    let mut buffer = Vec::new();
    codec.read_packed(&input, &mut buffer).unwrap_err();
    assert_eq!(buffer.len(), 8);
    // The same for stored models, read by the `capnp` reader after the check.
    let Err(err) = ays_schema::models::read(&[0, 0, 0, 0, 0xf8, 0xff, 0x7f, 0]) else {
        panic!("a truncated model read");
    };
    assert_eq!(err.extra, "message ends inside a segment");
}

#[test]
fn issue_9_lists_of_few_bytes_cannot_make_the_decoder_build_millions_of_values() {
    let codec = lists_codec();
    // The root (no data, 2 pointers), then pointer 1: an inline composite list of 4 Mi
    // zero-sized structs, which takes one tag word. It decoded in seconds into hundreds of MB
    // of records.
    let empties = {
        let mut m = words(&[0, 4]);
        m.truncate(4);
        m.extend_from_slice(&4u32.to_le_bytes());
        m.extend(words(&[0x0002_0000_0000_0000, 0, (7 << 32) | 1, 4 << 22]));
        m
    };
    let err = codec.decode(&empties, Encoding::Unpacked).unwrap_err();
    assert_eq!(
        malformed_reason(&err),
        ("e".to_owned(), "traversal limit exceeded".to_owned())
    );
    // Pointer 0: a list of almost 2^29 bits in almost 8 Mi words, packed into 64 KiB of zero
    // runs. It decoded in 3 minutes into 21 GB of `Value::Bool`s.
    let count: u64 = (1 << 29) - (1 << 16);
    let list_words = count.div_ceil(64);
    let mut unpacked = words(&[0, 0]);
    unpacked.truncate(4);
    unpacked.extend_from_slice(&u32::try_from(list_words + 3).unwrap().to_le_bytes());
    unpacked.extend(words(&[
        0x0002_0000_0000_0000,
        (count << 35) | (1 << 32) | (1 << 2) | 1,
        0,
    ]));
    unpacked.resize(unpacked.len() + usize::try_from(list_words * 8).unwrap(), 0);
    let packed = pack(&unpacked);
    assert!(packed.len() < 70_000, "{}", packed.len());
    let err = codec.decode(&packed, Encoding::Packed).unwrap_err();
    assert_eq!(
        malformed_reason(&err),
        ("b".to_owned(), "traversal limit exceeded".to_owned())
    );
    // A list of a million bits still decodes.
    let count: u64 = 1 << 20;
    let mut unpacked = words(&[0, 0]);
    unpacked.truncate(4);
    unpacked.extend_from_slice(&u32::try_from(count / 64 + 3).unwrap().to_le_bytes());
    unpacked.extend(words(&[
        0x0002_0000_0000_0000,
        (count << 35) | (1 << 32) | (1 << 2) | 1,
        0,
    ]));
    unpacked.resize(unpacked.len() + usize::try_from(count / 8).unwrap(), 0xff);
    let record = codec.decode(&unpacked, Encoding::Unpacked).unwrap();
    assert!(
        matches!(record.get("b"), Some(Value::List(bits)) if bits.len() == 1 << 20 && bits.iter().all(|b| *b == Value::Bool(true)))
    );
}

/// The packed encoding of whole words (zero words in runs, other words with their tag).
fn pack(bytes: &[u8]) -> Vec<u8> {
    let words: Vec<&[u8]> = bytes.chunks(8).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(word) = words.get(i) {
        let mut tag = 0u8;
        let mut kept = Vec::new();
        for (bit, byte) in word.iter().enumerate() {
            if *byte != 0 {
                tag |= 1 << bit;
                kept.push(*byte);
            }
        }
        out.push(tag);
        out.extend(kept);
        i += 1;
        if tag == 0 {
            let mut run = 0u8;
            while run < 255 && words.get(i).is_some_and(|w| w.iter().all(|b| *b == 0)) {
                run += 1;
                i += 1;
            }
            out.push(run);
        } else if tag == 0xff {
            out.push(0);
        }
    }
    out
}
