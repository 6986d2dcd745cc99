//! The zero-copy view: it reads exactly what the owned decoder reads, and never panics.

use ays_schema::{Codec, CodecError, Encoding, Record, SchemaFile, Value, ValueRef, parse_schema};

use super::{ENCODINGS, MIXED, Tool, all_schemas, full_record, print_record, root_structs};

/// Reads every field through `get`, `get_by_index` and `iter`, checks that the three agree
/// and that `to_record` equals `expected`.
fn check_view(codec: &Codec, bytes: &[u8], encoding: Encoding, expected: &Record, what: &str) {
    let message = codec.read(bytes, encoding).unwrap();
    assert_eq!(
        message.is_in_place(),
        encoding == Encoding::Unpacked,
        "{what}"
    );
    let view = message.root().unwrap();
    assert_eq!(&view.to_record().unwrap(), expected, "{what}: to_record");
    let mut seen = 0;
    for (i, name) in view.field_names().iter().enumerate() {
        let by_name = view.get(name).unwrap().map(|v| v.to_value().unwrap());
        let by_index = view.get_by_index(i).unwrap().map(|v| v.to_value().unwrap());
        assert_eq!(by_name, by_index, "{what}: {name}");
        assert_eq!(by_name.as_ref(), expected.get(name), "{what}: {name}");
        seen += usize::from(by_name.is_some());
    }
    let iterated: Record = view
        .iter()
        .map(|f| {
            let (name, value) = f.unwrap();
            (name, value.to_value().unwrap())
        })
        .collect();
    assert_eq!(iterated.len(), seen, "{what}: iter");
    assert_eq!(&iterated, expected, "{what}: iter");
    assert_eq!(view.get("no such field").unwrap().map(|v| v.kind()), None);
    assert_eq!(
        view.get_by_index(view.field_names().len())
            .unwrap()
            .map(|v| v.kind()),
        None
    );
}

#[test]
fn view_reads_what_decode_reads_for_every_schema() {
    for (name, text) in all_schemas() {
        let schema = parse_schema(&text, &name).unwrap();
        let tool = Tool::new(&text);
        for s in root_structs(&schema) {
            let codec = Codec::new(&schema, &s.name).unwrap();
            let record = full_record(&schema, s, 5);
            let literal = print_record(&schema, s, &record);
            let mut buffer = Vec::new();
            for encoding in ENCODINGS {
                let what = format!("{name}/{}/{encoding:?}", s.name);
                // Our bytes, the capnp tool's bytes, and an all-default message.
                let ours = codec.encode(&record, encoding).unwrap();
                let theirs = tool.encode(&s.name, &literal, encoding);
                let empty = tool.encode(&s.name, "()", encoding);
                for (bytes, label) in [(&ours, "ours"), (&theirs, "capnp"), (&empty, "empty")] {
                    let decoded = codec.decode(bytes, encoding).unwrap();
                    if label != "empty" {
                        assert_eq!(decoded, record, "{what}/{label}");
                    }
                    check_view(
                        &codec,
                        bytes,
                        encoding,
                        &decoded,
                        &format!("{what}/{label}"),
                    );
                    if encoding == Encoding::Packed {
                        // Unpacked into a reused buffer: the same record, and for our
                        // bytes the same bytes as our unpacked encoding.
                        let message = codec.read_packed(bytes, &mut buffer).unwrap();
                        assert!(message.is_in_place());
                        let view = message.root().unwrap();
                        assert_eq!(view.to_record().unwrap(), decoded, "{what}/{label}");
                        let unpacked = codec.encode(&decoded, Encoding::Unpacked).unwrap();
                        if label == "ours" {
                            assert_eq!(buffer, unpacked, "{what}/{label}: unpacked bytes");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn view_reads_unaligned_input_in_place() {
    let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
    let codec = Codec::new(&schema, "Mixed").unwrap();
    let record = full_record(&schema, &schema.structs[0], 1);
    let bytes = codec.encode(&record, Encoding::Unpacked).unwrap();
    for shift in 1..8 {
        let mut buf = vec![0u8; shift];
        buf.extend_from_slice(&bytes);
        let unaligned = &buf[shift..];
        assert_eq!(codec.decode(unaligned, Encoding::Unpacked).unwrap(), record);
        check_view(
            &codec,
            unaligned,
            Encoding::Unpacked,
            &record,
            &format!("shift {shift}"),
        );
    }
}

#[test]
fn view_borrows_text_from_the_input() {
    let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
    let codec = Codec::new(&schema, "Mixed").unwrap();
    let record = Record::new()
        .with("name", "in place")
        .with("tags", Value::List(vec!["a".into(), "bc".into()]));
    let bytes = codec.encode(&record, Encoding::Unpacked).unwrap();
    let message = codec.read(&bytes, Encoding::Unpacked).unwrap();
    let view = message.root().unwrap();
    let Some(ValueRef::Text(name)) = view.get("name").unwrap() else {
        panic!("name is text");
    };
    assert_eq!(name, "in place");
    let range = bytes.as_ptr_range();
    assert!(
        range.contains(&name.as_ptr()),
        "text is a slice of the input"
    );
    let Some(ValueRef::List(tags)) = view.get("tags").unwrap() else {
        panic!("tags is a list");
    };
    let tags: Vec<&str> = tags
        .iter()
        .map(|t| match t.unwrap() {
            ValueRef::Text(s) => s,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(tags, ["a", "bc"]);
    // A null list with a default reads as the default, element by element.
    let Some(ValueRef::List(longs)) = view.get("longs").unwrap() else {
        panic!("longs is a list");
    };
    assert_eq!(longs.len(), 3);
    assert!(matches!(longs.get(1).unwrap(), Some(ValueRef::Int(-2))));
    assert!(longs.get(3).unwrap().is_none());
    // A null struct pointer is an absent field, as in the owned record.
    assert!(view.get("inner").unwrap().is_none());
}

/// Replaces the first occurrence of `from` in `bytes` with `to` (same length).
fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{from:?} not in message"));
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn invalid_utf8_is_an_error_naming_the_field() {
    let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
    let codec = Codec::new(&schema, "Mixed").unwrap();
    let inner = |label: &str| Value::Struct(Record::new().with("label", label));
    let record = Record::new()
        .with("name", "AAAA")
        .with("tags", Value::List(vec!["ok".into(), "BBBB".into()]))
        .with("inner", inner("CCCC"))
        .with("inners", Value::List(vec![inner("ok"), inner("DDDD")]));
    let good = codec.encode(&record, Encoding::Unpacked).unwrap();
    for (marker, path) in [
        (&b"AAAA"[..], "name"),
        (b"BBBB", "tags[1]"),
        (b"CCCC", "inner.label"),
        (b"DDDD", "inners[1].label"),
    ] {
        let mut bad = good.clone();
        patch(&mut bad, marker, &[b'x', 0xff, 0xfe, b'y']);
        let err = codec.decode(&bad, Encoding::Unpacked).unwrap_err();
        assert!(
            matches!(&err, CodecError::InvalidUtf8 { path: p, .. } if p == path),
            "{path}: {err:?}"
        );
        // The view reads every other field, and names the bad one when it is reached.
        let message = codec.read(&bad, Encoding::Unpacked).unwrap();
        let view = message.root().unwrap();
        let err = view.to_record().unwrap_err();
        assert!(
            matches!(&err, CodecError::InvalidUtf8 { path: p, .. } if p == path),
            "{path}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("`{path}`: text is not valid UTF-8")
        );
        let first = path.split(['.', '[']).next().unwrap();
        for name in view.field_names() {
            let read = view.get(name).and_then(|v| match v {
                Some(v) => v.to_value().map(Some),
                None => Ok(None),
            });
            assert_eq!(read.is_err(), name == first, "{path}: field {name}");
        }
    }
}

/// A struct that holds itself, to nest messages past the nesting limit.
const NESTED: &str = "@0xd1e2f3a4b5c6d7e8;\nstruct N { next @0 :N; n @1 :Int64; }\n";

fn nested(depth: usize) -> Record {
    let mut r = Record::new().with("n", 1);
    for _ in 0..depth {
        r = Record::new().with("next", Value::Struct(r));
    }
    r
}

#[test]
fn nesting_limit_applies_to_the_view_and_decode() {
    let schema = parse_schema(NESTED, "n.capnp").unwrap();
    let codec = Codec::new(&schema, "N").unwrap();
    let ok = codec.encode(&nested(62), Encoding::Unpacked).unwrap();
    assert!(
        codec
            .decode(&ok, Encoding::Unpacked)
            .is_ok_and(|r| r.len() == 2)
    );
    let deep = codec.encode(&nested(70), Encoding::Unpacked).unwrap();
    let err = codec.decode(&deep, Encoding::Unpacked).unwrap_err();
    let CodecError::Malformed { path, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path.matches("next").count(), 64, "{path}");
    assert!(
        source.to_string().contains("nesting limit exceeded"),
        "{source}"
    );
    let message = codec.read(&deep, Encoding::Unpacked).unwrap();
    let mut view = message.root().unwrap();
    let mut depth = 0;
    let err = loop {
        match view.get("next") {
            Ok(Some(ValueRef::Struct(next))) => view = next,
            Ok(other) => panic!("depth {depth}: {other:?}"),
            Err(e) => break e,
        }
        depth += 1;
    };
    assert_eq!(depth, 63);
    assert!(matches!(err, CodecError::Malformed { .. }), "{err:?}");
}

/// Reads every field and element, depth first; returns how many values were read.
fn walk(value: ValueRef<'_>) -> Result<usize, CodecError> {
    Ok(match value {
        ValueRef::List(list) => {
            let mut n = 1;
            for item in list.iter() {
                n += walk(item?)?;
            }
            n
        }
        ValueRef::Struct(view) => {
            let mut n = 1;
            for i in 0..view.field_names().len() {
                if let Some(v) = view.get_by_index(i)? {
                    n += walk(v)?;
                }
            }
            n
        }
        _ => 1,
    })
}

/// Walks a message as far as it reads; every access is a value or an error.
fn walk_bytes(codec: &Codec, bytes: &[u8], encoding: Encoding) {
    let Ok(message) = codec.read(bytes, encoding) else {
        return;
    };
    let Ok(root) = message.root() else { return };
    // Each field on its own, so that one bad field does not hide the others.
    for i in 0..root.field_names().len() {
        if let Ok(Some(v)) = root.get_by_index(i) {
            let _ = walk(v);
        }
    }
    // The owned record is the view's (read afresh: the walk spent traversal budget).
    let fresh = codec
        .read(bytes, encoding)
        .and_then(|m| m.root()?.to_record());
    match (fresh, codec.decode(bytes, encoding)) {
        // Compared as text: corrupted floats may be NaN, which equals nothing.
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        (a, b) => panic!("view {a:?} but decode {b:?}"),
    }
}

fn mixed() -> (SchemaFile, Codec) {
    let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
    let codec = Codec::new(&schema, "Mixed").unwrap();
    (schema, codec)
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn view_never_panics_on_random_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            packed in any::<bool>(),
        ) {
            let (_, codec) = mixed();
            let encoding = if packed { Encoding::Packed } else { Encoding::Unpacked };
            walk_bytes(&codec, &bytes, encoding);
        }

        #[test]
        fn read_packed_never_panics_and_agrees_with_decode(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let (_, codec) = mixed();
            let mut buffer = Vec::new();
            if let Ok(message) = codec.read_packed(&bytes, &mut buffer) {
                let viewed = message.root().and_then(|root| {
                    for i in 0..root.field_names().len() {
                        if let Ok(Some(v)) = root.get_by_index(i) {
                            let _ = walk(v);
                        }
                    }
                    codec.read_packed(&bytes, &mut Vec::new())?.root()?.to_record()
                });
                if let (Ok(a), Ok(b)) = (viewed, codec.decode(&bytes, Encoding::Packed)) {
                    prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
                }
            }
        }

        #[test]
        fn view_never_panics_on_corrupted_messages(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            packed in any::<bool>(),
        ) {
            let (schema, codec) = mixed();
            let encoding = if packed { Encoding::Packed } else { Encoding::Unpacked };
            let mut bytes = codec.encode(&full_record(&schema, &schema.structs[0], 0), encoding).unwrap();
            for (i, b) in flips {
                let i = i.index(bytes.len());
                bytes[i] ^= b;
            }
            walk_bytes(&codec, &bytes, encoding);
        }
    }
}

#[test]
fn walk_counts_every_value_of_a_full_record() {
    let (schema, codec) = mixed();
    let record = full_record(&schema, &schema.structs[0], 0);
    let bytes = codec.encode(&record, Encoding::Unpacked).unwrap();
    let message = codec.read(&bytes, Encoding::Unpacked).unwrap();
    let root = message.root().unwrap();
    fn count(v: &Value) -> usize {
        match v {
            Value::List(items) => 1 + items.iter().map(count).sum::<usize>(),
            Value::Struct(r) => 1 + r.iter().map(|(_, v)| count(v)).sum::<usize>(),
            _ => 1,
        }
    }
    assert_eq!(
        walk(ValueRef::Struct(root)).unwrap(),
        count(&Value::Struct(record))
    );
}

/// Frames `segments` (lists of words) as a stream message.
fn frame(segments: &[&[u64]]) -> Vec<u8> {
    let mut out = Vec::new();
    let count = u32::try_from(segments.len()).unwrap();
    out.extend_from_slice(&(count - 1).to_le_bytes());
    for s in segments {
        out.extend_from_slice(&u32::try_from(s.len()).unwrap().to_le_bytes());
    }
    if out.len() % 8 != 0 {
        out.extend_from_slice(&[0; 4]);
    }
    for word in segments.iter().flat_map(|s| s.iter()) {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out
}

#[test]
fn far_and_double_far_pointers_are_followed() {
    let text_schema = "@0xd1e2f3a4b5c6d7e9;\nstruct S { t @0 :Text; }\n";
    let schema = parse_schema(text_schema, "s.capnp").unwrap();
    let codec = Codec::new(&schema, "S").unwrap();
    // The root struct (no data, one pointer) right after the root pointer.
    let root = 1u64 << 48;
    let text = u64::from_le_bytes(*b"ab\0\0\0\0\0\0");
    // A byte list of 3 elements (`ab` and its NUL), as the tag or landing pad.
    let byte_list = |offset: u64| 1 | (offset << 2) | (26 << 32);
    let far = |double: bool, pad: u64, segment: u64| {
        2 | (u64::from(double) << 2) | (pad << 3) | (segment << 32)
    };
    let single = frame(&[&[root, far(false, 0, 1)], &[byte_list(0), text]]);
    let double = frame(&[
        &[root, far(true, 0, 1)],
        &[far(false, 0, 2), byte_list(0)],
        &[text],
    ]);
    let expected = Record::new().with("t", "ab");
    let tool = Tool::new(text_schema);
    for (bytes, what) in [(&single, "far"), (&double, "double far")] {
        // The hand-made messages are valid: the capnp tool reads them too.
        let printed = tool.decode("S", bytes, Encoding::Unpacked);
        assert_eq!(printed.trim(), "(t = \"ab\")", "{what}");
        assert_eq!(
            codec.decode(bytes, Encoding::Unpacked).unwrap(),
            expected,
            "{what}"
        );
        check_view(&codec, bytes, Encoding::Unpacked, &expected, what);
    }
    // A far pointer to a segment the message does not have names the field.
    let missing = frame(&[&[root, far(false, 0, 7)]]);
    let err = codec.decode(&missing, Encoding::Unpacked).unwrap_err();
    let CodecError::Malformed { path, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, "t");
    assert!(
        source
            .to_string()
            .contains("segment the message does not have"),
        "{source}"
    );
}
