//! Oracle tests of the schema parser, layout and codec against the official `capnp` tool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ays_schema::{
    Change, CodecError, Compatibility, Encoding, Record, SchemaError, SchemaFile, Slot, StructDef,
    Type, Value, compare_structs, parse_schema,
};

#[path = "roundtrip/capnp_text.rs"]
mod capnp_text;
#[path = "roundtrip/fuzz.rs"]
mod fuzz;
#[path = "roundtrip/view.rs"]
mod view;

use capnp_text::{TextVal, print_record, text_to_record};

// ---------------------------------------------------------------------------------------------
// Inputs: fixture schemas from /work/shared and our own mixed-type schemas.

fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("AYS_SHARED").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "shared reference data missing at {} (set AYS_SHARED)",
        dir.display()
    );
    dir
}

/// `(name, schema text)` of every fixture: the third block of each hrd pair.
fn fixture_schemas() -> Vec<(String, String)> {
    let dir = shared_dir().join("fixtures/hrd-pairs");
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let start = "=== schema.capnp (committed, AYS 8.2 upgrade, with defaults) ===\n";
        let (_, rest) = text
            .split_once(start)
            .unwrap_or_else(|| panic!("{}: no committed schema block", path.display()));
        let (block, _) = rest.split_once("=== end ===").unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        out.push((name, block.to_owned()));
    }
    assert_eq!(
        out.len(),
        16,
        "expected 16 fixture schemas in {}",
        dir.display()
    );
    out
}

const MIXED: &str = r#"@0xc2f6d3c1a2b3c4d5;
# Our own schema: every supported type, with holes to re-use and nested declarations.
struct Mixed {
  flag @0 :Bool = true;
  big @1 :Int64 = -7;
  small @2 :Int8 = -3;
  other @3 :Bool;
  mid @4 :Int16 = 300;
  single @5 :Float32 = 1.5;
  byte @6 :UInt8 = 200;
  name @7 :Text = "dflt \"q\"\n";
  blob @8 :Data;
  tags @9 :List(Text);
  nums @10 :List(Int32);
  bits @11 :List(Bool);
  color @12 :Color = green;
  inner @13 :Inner;
  inners @14 :List(Inner);
  nested @15 :List(List(Text));
  double @16 :Float64 = -2.25;
  huge @17 :UInt64;
  word @18 :UInt32 = 7;
  colors @19 :List(Color);
  int32 @20 :Int32;
  short @21 :UInt16;
  last @22 :Bool;
  bytes @23 :List(UInt8);
  floats @24 :List(Float64);
  blobs @25 :List(Data);
  shorts @26 :List(Int16);
  singles @27 :List(Float32);
  longs @28 :List(Int64) = [1, -2, 3];
  enum Color { red @0; green @1; blue @2; }
  struct Inner {
    x @0 :UInt16 = 5;
    label @1 :Text;
    deep @2 :Deep;
    on @3 :Bool;
    struct Deep { on @0 :Bool; n @1 :Int64 = 9; }
  }
}
"#;

const HOLES: &str = r#"@0xd9a0b1c2d3e4f506;
struct Holes {
  a @0 :Bool;
  b @1 :Int64;
  c @2 :Int8;
  d @3 :Bool;
  e @4 :Int32;
  f @5 :Int16;
  g @6 :Bool;
  h @7 :UInt8;
  i @8 :Float32;
  j @9 :Text;
  k @10 :Bool;
  l @11 :Float64;
  m @12 :UInt16;
  n @13 :Int8;
  o @14 :Bool;
  p @15 :UInt32;
  q @16 :Kind;
  r @17 :Bool = true;
  s @18 :Int8 = 1;
  enum Kind { one @0; two @1; }
}
struct Empty {}
struct OnlyPointers { a @0 :Text; b @1 :Data; c @2 :List(Bool); }
"#;

fn own_schemas() -> Vec<(String, String)> {
    vec![
        ("mixed".to_owned(), MIXED.to_owned()),
        ("holes".to_owned(), HOLES.to_owned()),
    ]
}

fn all_schemas() -> Vec<(String, String)> {
    let mut v = fixture_schemas();
    v.extend(own_schemas());
    v
}

// ---------------------------------------------------------------------------------------------
// The capnp tool.

fn capnp(args: &[&str], dir: &Path, stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("capnp")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `capnp` ({e}): install capnproto"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "capnp {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

struct Tool {
    dir: tempfile::TempDir,
}

impl Tool {
    fn new(text: &str) -> Tool {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.capnp"), text).unwrap();
        Tool { dir }
    }

    fn compile(&self) -> String {
        String::from_utf8(capnp(
            &["compile", "-ocapnp", "s.capnp"],
            self.dir.path(),
            b"",
        ))
        .unwrap()
    }

    fn decode(&self, name: &str, bytes: &[u8], encoding: Encoding) -> String {
        // `--quiet`: capnp mistakes the message of an empty struct for the flat format.
        let mut args = vec!["decode", "--quiet", "--short", "s.capnp", name];
        if encoding == Encoding::Packed {
            args.insert(1, "--packed");
        }
        String::from_utf8(capnp(&args, self.dir.path(), bytes)).unwrap()
    }

    fn encode(&self, name: &str, text: &str, encoding: Encoding) -> Vec<u8> {
        let mut args = vec!["encode", "s.capnp", name];
        if encoding == Encoding::Packed {
            args.insert(1, "--packed");
        }
        capnp(&args, self.dir.path(), text.as_bytes())
    }
}

const ENCODINGS: [Encoding; 2] = [Encoding::Unpacked, Encoding::Packed];

// ---------------------------------------------------------------------------------------------
// Layout against `capnp compile -ocapnp`.

/// One struct as `capnp compile -ocapnp` lays it out:
/// (full dotted name, data bytes, pointers, [(field, slot text)]).
type CompiledStruct = (String, u32, u32, Vec<(String, String)>);

fn compiler_layout(output: &str) -> Vec<CompiledStruct> {
    let mut out: Vec<CompiledStruct> = Vec::new();
    // Stack of (scope name, index into `out` if a struct).
    let mut stack: Vec<(String, Option<usize>)> = Vec::new();
    for line in output.lines() {
        let t = line.trim();
        let (code, comment) = t
            .split_once('#')
            .map_or((t, ""), |(a, b)| (a.trim(), b.trim()));
        if let Some(rest) = code
            .strip_prefix("struct ")
            .or_else(|| code.strip_prefix("enum "))
        {
            let name = rest.split_whitespace().next().unwrap();
            let full = match stack.last() {
                Some((p, _)) => format!("{p}.{name}"),
                None => name.to_owned(),
            };
            let idx = if code.starts_with("struct ") {
                // "16 bytes, 3 ptrs"
                let mut it = comment
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|s| !s.is_empty());
                let bytes = it.next().unwrap().parse().unwrap();
                let ptrs = it.next().unwrap().parse().unwrap();
                out.push((full.clone(), bytes, ptrs, Vec::new()));
                Some(out.len() - 1)
            } else {
                None
            };
            stack.push((full, idx));
        } else if code == "}" {
            stack.pop();
        } else if code.contains(" @") && code.contains(':') && !comment.is_empty() {
            let field = code.split_whitespace().next().unwrap().to_owned();
            if let Some((_, Some(idx))) = stack.last() {
                out[*idx].3.push((field, comment.to_owned()));
            }
        }
    }
    out
}

fn slot_text(slot: Slot) -> String {
    match slot {
        Slot::Data { bit_offset, width } => format!("bits[{bit_offset}, {})", bit_offset + width),
        Slot::Pointer(i) => format!("ptr[{i}]"),
    }
}

#[test]
fn layout_matches_capnp_compiler_for_every_schema() {
    for (name, text) in all_schemas() {
        let schema = parse_schema(&text, &name).unwrap();
        let expected = compiler_layout(&Tool::new(&text).compile());
        assert_eq!(expected.len(), schema.structs.len(), "{name}: struct count");
        for (sname, bytes, ptrs, fields) in expected {
            let s = schema
                .find_struct(&sname)
                .unwrap_or_else(|| panic!("{name}: {sname}"));
            assert_eq!(
                u32::from(s.layout.data_words) * 8,
                bytes,
                "{name}: {sname} data size"
            );
            assert_eq!(
                u32::from(s.layout.pointers),
                ptrs,
                "{name}: {sname} pointers"
            );
            let ours: Vec<(String, String)> = s
                .fields
                .iter()
                .map(|f| (f.name.clone(), slot_text(f.slot)))
                .collect();
            assert_eq!(ours, fields, "{name}: {sname} field slots");
        }
    }
}

/// Many generated structs of random mixed types, laid out by capnp in one compiler run.
#[test]
fn layout_matches_capnp_compiler_for_generated_structs() {
    const TYPES: [&str; 16] = [
        "Bool",
        "Bool",
        "Bool",
        "Int8",
        "UInt8",
        "Int16",
        "UInt16",
        "Int32",
        "UInt32",
        "Float32",
        "Int64",
        "UInt64",
        "Float64",
        "Text",
        "List(Bool)",
        "E",
    ];
    // A fixed linear congruential sequence: the same schemas on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut text = String::from("@0xe5d2a7b3c9f1a2b4;\nenum E { a @0; b @1; }\n");
    for s in 0..40 {
        text.push_str(&format!("struct G{s} {{\n"));
        for f in 0..next(40) + 1 {
            let ty = TYPES[usize::try_from(next(16)).unwrap()];
            text.push_str(&format!("  f{f} @{f} :{ty};\n"));
        }
        text.push_str("}\n");
    }
    let schema = parse_schema(&text, "generated.capnp").unwrap();
    let expected = compiler_layout(&Tool::new(&text).compile());
    assert_eq!(expected.len(), 40);
    for (sname, bytes, ptrs, fields) in expected {
        let s = schema.find_struct(&sname).unwrap();
        assert_eq!(
            u32::from(s.layout.data_words) * 8,
            bytes,
            "{sname} data size"
        );
        assert_eq!(u32::from(s.layout.pointers), ptrs, "{sname} pointers");
        let ours: Vec<(String, String)> = s
            .fields
            .iter()
            .map(|f| (f.name.clone(), slot_text(f.slot)))
            .collect();
        assert_eq!(ours, fields, "{sname} field slots");
    }
}

// ---------------------------------------------------------------------------------------------
// Records with a non-default value in every field.

fn sample(schema: &SchemaFile, ty: &Type, field: &str, salt: u32) -> Value {
    let n = i64::from(salt) + 11;
    match ty {
        Type::Bool => Value::Bool(true),
        Type::Int8 => Value::Int(-100 + n),
        Type::Int16 => Value::Int(-30000 + n),
        Type::Int32 => Value::Int(-2_000_000_000 + n),
        Type::Int64 => Value::Int(-9_000_000_000_000 + n),
        Type::UInt8 => Value::UInt(250 - u64::from(salt)),
        Type::UInt16 => Value::UInt(65000 + u64::from(salt)),
        Type::UInt32 => Value::UInt(4_000_000_000 + u64::from(salt)),
        Type::UInt64 => Value::UInt(u64::MAX - u64::from(salt)),
        Type::Float32 => Value::Float(0.25 + f64::from(salt)),
        Type::Float64 => Value::Float(1.0e100 + f64::from(salt)),
        Type::Text => Value::Text(format!("{field} \"v{salt}\"\\\n\tå✓")),
        Type::Data => Value::Data(vec![0, 1, 0xff, 0x7f, 0x80, salt.to_le_bytes()[0]]),
        Type::List(inner) => Value::List(
            (0..3)
                .map(|i| sample(schema, inner, field, salt + i))
                .collect(),
        ),
        Type::Enum(r) => {
            let e = &schema.enums[r.index];
            Value::Enum(e.enumerants[e.enumerants.len() - 1].clone())
        }
        Type::Struct(r) => Value::Struct(full_record(schema, &schema.structs[r.index], salt + 1)),
        other => panic!("unsupported type {other}"),
    }
}

fn full_record(schema: &SchemaFile, s: &StructDef, salt: u32) -> Record {
    let mut r = Record::new();
    for f in &s.fields {
        let mut v = sample(schema, &f.ty, &f.name, salt + u32::from(f.ordinal));
        if f.default == Some(Value::Bool(true)) {
            v = Value::Bool(false);
        }
        assert_ne!(
            Some(&v),
            f.default.as_ref(),
            "{}: sample equals default",
            f.name
        );
        r.insert(f.name.as_str(), v);
    }
    r
}

fn root_structs(schema: &SchemaFile) -> Vec<&StructDef> {
    schema
        .structs
        .iter()
        .filter(|s| !s.name.contains('.'))
        .collect()
}

#[test]
fn our_messages_decode_with_capnp_to_the_values_we_wrote() {
    for (name, text) in all_schemas() {
        let schema = parse_schema(&text, &name).unwrap();
        let tool = Tool::new(&text);
        for s in root_structs(&schema) {
            let record = full_record(&schema, s, 0);
            for encoding in ENCODINGS {
                let bytes = ays_schema::encode(&schema, &s.name, &record, encoding).unwrap();
                let printed = tool.decode(&s.name, &bytes, encoding);
                let parsed = TextVal::parse(&printed).unwrap();
                let theirs = text_to_record(&schema, s, &parsed);
                assert_eq!(theirs, record, "{name}/{}/{encoding:?}: {printed}", s.name);
                let ours = ays_schema::decode(&schema, &s.name, &bytes, encoding).unwrap();
                assert_eq!(ours, record, "{name}/{}/{encoding:?}", s.name);
            }
        }
    }
}

#[test]
fn capnp_messages_decode_to_the_record_we_meant() {
    for (name, text) in all_schemas() {
        let schema = parse_schema(&text, &name).unwrap();
        let tool = Tool::new(&text);
        for s in root_structs(&schema) {
            let record = full_record(&schema, s, 3);
            let literal = print_record(&schema, s, &record);
            for encoding in ENCODINGS {
                let bytes = tool.encode(&s.name, &literal, encoding);
                let ours = ays_schema::decode(&schema, &s.name, &bytes, encoding).unwrap();
                assert_eq!(ours, record, "{name}/{}/{encoding:?}: {literal}", s.name);
                // Same allocation order as the C++ encoder: the bytes are identical too.
                let ours_bytes = ays_schema::encode(&schema, &s.name, &record, encoding).unwrap();
                assert_eq!(ours_bytes, bytes, "{name}/{}/{encoding:?} bytes", s.name);
            }
        }
    }
}

#[test]
fn absent_fields_read_as_defaults_like_capnp() {
    for (name, text) in all_schemas() {
        let schema = parse_schema(&text, &name).unwrap();
        let tool = Tool::new(&text);
        for s in root_structs(&schema) {
            for encoding in ENCODINGS {
                // An all-zero struct from capnp, and our encoding of an empty record.
                let theirs_bytes = tool.encode(&s.name, "()", encoding);
                let ours_bytes =
                    ays_schema::encode(&schema, &s.name, &Record::new(), encoding).unwrap();
                assert_eq!(ours_bytes, theirs_bytes, "{name}/{}/{encoding:?}", s.name);
                let printed = tool.decode(&s.name, &ours_bytes, encoding);
                let expected = text_to_record(&schema, s, &TextVal::parse(&printed).unwrap());
                let ours = ays_schema::decode(&schema, &s.name, &theirs_bytes, encoding).unwrap();
                assert_eq!(ours, expected, "{name}/{}/{encoding:?}: {printed}", s.name);
            }
        }
    }
}

#[test]
fn defaults_of_fixtures_read_back_by_value() {
    let (_, text) = fixture_schemas()
        .into_iter()
        .find(|(n, _)| n == "jumpscale__portal")
        .unwrap();
    let schema = parse_schema(&text, "portal").unwrap();
    let bytes = ays_schema::encode(&schema, "Schema", &Record::new(), Encoding::Packed).unwrap();
    let r = ays_schema::decode(&schema, "Schema", &bytes, Encoding::Packed).unwrap();
    assert_eq!(r.get("listenAddr"), Some(&Value::Text("127.0.0.1".into())));
    assert_eq!(r.get("listenPort"), Some(&Value::Int(82)));
    assert_eq!(r.get("oauthEnabled"), Some(&Value::Bool(false)));
    assert_eq!(r.get("os"), Some(&Value::Text(String::new())));
    assert_eq!(r.get("oauthDefaultGroups"), Some(&Value::List(vec![])));
    assert_eq!(r.len(), 17);
    // The XOR encoding: a default value and an absent field give the same bytes.
    let explicit = Record::new().with("listenPort", 82);
    let bytes2 = ays_schema::encode(&schema, "Schema", &explicit, Encoding::Packed).unwrap();
    assert_eq!(bytes2, bytes);
    // The capnp tool prints the defaults of data fields of an all-zero message.
    let printed = Tool::new(&text).decode("Schema", &bytes, Encoding::Packed);
    assert_eq!(printed.trim(), "(listenPort = 82, oauthEnabled = false)");
}

#[test]
fn nested_struct_lookup_and_codec() {
    let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
    let deep = schema.find_struct("Mixed.Inner.Deep").unwrap();
    assert_eq!(deep.fields.len(), 2);
    let r = Record::new().with("on", true);
    let bytes = ays_schema::encode(&schema, "Mixed.Inner.Deep", &r, Encoding::Unpacked).unwrap();
    let back = ays_schema::decode(&schema, "Mixed.Inner.Deep", &bytes, Encoding::Unpacked).unwrap();
    assert_eq!(back, Record::new().with("on", true).with("n", 9));
    let err = ays_schema::encode(&schema, "Nope", &r, Encoding::Packed).unwrap_err();
    assert!(
        matches!(&err, CodecError::UnknownStruct { name, .. } if name == "Nope"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors.

#[test]
fn wrong_type_names_field_expected_and_given() {
    let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
    let cases: Vec<(Record, &str, &str, &str)> = vec![
        (Record::new().with("big", "x"), "big", "Int64", "Text"),
        (Record::new().with("flag", 1), "flag", "Bool", "Int"),
        (
            Record::new().with("tags", Value::List(vec!["a".into(), Value::Int(2)])),
            "tags[1]",
            "Text",
            "Int",
        ),
        (
            Record::new().with(
                "inner",
                Value::Struct(
                    Record::new().with("deep", Value::Struct(Record::new().with("n", 1.5))),
                ),
            ),
            "inner.deep.n",
            "Int64",
            "Float",
        ),
        (
            Record::new().with("color", "red"),
            "color",
            "Mixed.Color",
            "Text",
        ),
    ];
    for (record, path, expected, found) in cases {
        let err = ays_schema::encode(&schema, "Mixed", &record, Encoding::Packed).unwrap_err();
        match &err {
            CodecError::WrongType {
                path: p,
                expected: e,
                found: f,
            } => assert_eq!(
                (p.as_str(), e.as_str(), f.as_str()),
                (path, expected, found)
            ),
            other => panic!("expected WrongType for {path}, got {other:?}"),
        }
    }
}

#[test]
fn out_of_range_integers_are_errors() {
    let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
    for (field, value, ty) in [
        ("small", Value::Int(128), "Int8"),
        ("small", Value::Int(-129), "Int8"),
        ("byte", Value::Int(-1), "UInt8"),
        ("byte", Value::UInt(256), "UInt8"),
        ("mid", Value::Int(40000), "Int16"),
        ("word", Value::UInt(1 << 32), "UInt32"),
        ("big", Value::UInt(u64::MAX), "Int64"),
        ("single", Value::Float(1e300), "Float32"),
    ] {
        let rec = Record::new().with(field, value.clone());
        let err = ays_schema::encode(&schema, "Mixed", &rec, Encoding::Unpacked).unwrap_err();
        assert!(
            matches!(&err, CodecError::OutOfRange { path, expected, .. } if path == field && expected == ty),
            "{field} = {value:?}: {err:?}"
        );
    }
    let rec = Record::new().with("color", Value::Enum("purple".into()));
    let err = ays_schema::encode(&schema, "Mixed", &rec, Encoding::Unpacked).unwrap_err();
    assert!(
        matches!(&err, CodecError::UnknownEnumerant { path, enum_name, name } if path == "color" && enum_name == "Mixed.Color" && name == "purple"),
        "{err:?}"
    );
    let rec = Record::new().with("nope", 1);
    let err = ays_schema::encode(&schema, "Mixed", &rec, Encoding::Unpacked).unwrap_err();
    assert!(
        matches!(&err, CodecError::UnknownField { field, struct_name, .. } if field == "nope" && struct_name == "Mixed"),
        "{err:?}"
    );
}

#[test]
fn malformed_bytes_are_errors_not_panics() {
    let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
    let codec = ays_schema::Codec::new(&schema, "Mixed").unwrap();
    let good = codec
        .encode(
            &full_record(&schema, &schema.structs[0], 0),
            Encoding::Unpacked,
        )
        .unwrap();
    // Truncated message.
    let err = codec
        .decode(&good[..good.len() - 8], Encoding::Unpacked)
        .unwrap_err();
    assert!(
        matches!(&err, CodecError::Malformed { path, .. } if path.is_empty()),
        "{err:?}"
    );
    // Root pointer aimed far outside the segment.
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let err = codec.decode(&bad, Encoding::Unpacked).unwrap_err();
    assert!(matches!(err, CodecError::Malformed { .. }), "{err:?}");
    // A text field whose pointer claims to be a struct: the error names the field.
    let ptr_section = 8 + 8 + 8 * usize::from(schema.structs[0].layout.data_words);
    let mut bad = good.clone();
    bad[ptr_section] &= !3; // kind 0 = struct
    let err = codec.decode(&bad, Encoding::Unpacked).unwrap_err();
    assert!(
        matches!(&err, CodecError::Malformed { path, .. } if path == "name"),
        "{err:?}"
    );
}

fn schema_err(src: &str) -> SchemaError {
    parse_schema(src, "t.capnp").unwrap_err()
}

#[test]
fn schema_errors_are_located() {
    let id = "@0xc2f6d3c1a2b3c4d5;\n";
    // Each case is the second line of a schema whose first line is the file id.
    let cases = [
        "struct S { a @0 :Text; b @0 :Int8; }",
        "struct S { a @0 :Text; b @2 :Int8; }",
        "struct S { a @0 :Text; a @1 :Int8; }",
        "struct S { a @0 :Txt; }",
        "struct S { a @0 :Int8 = 300; }",
        "struct S { a @0 :UInt8 = -1; }",
        "struct S { a @0 :Bool = 1; }",
        "struct S { a @0 :E = purple; enum E { red @0; } }",
        "struct S { a @0 :List(Text) = [1]; }",
        "struct S { a @0 :Text }",
        "struct S { union { a @0 :Text; } }",
        "struct S { g :group { a @0 :Text; } }",
        "struct S(T) { }",
        "interface I { }",
        "using X = import \"x.capnp\";",
        "const c :Int8 = 1;",
        "struct S { a @0 :Text $foo; }",
        "struct S { a @0 :List(Foo(Bar)); }",
        "struct S { a @0 :Void; }",
        "struct S { a @0 :AnyPointer; }",
        "struct S { a @0 :Text = \"x; }",
        "struct S { a @0 :T.U; struct T { } }",
        "enum E { a @0; b @0; }",
        "enum E { a @0; a @1; }",
        "struct S { } struct S { }",
        "struct S { a @0 :Text; struct a { } }",
        "struct S { a @70000 :Text; }",
        "struct S { a @0 :Text; } %",
    ];
    let mut out = String::new();
    for case in cases {
        let err = schema_err(&format!("{id}{case}"));
        out.push_str(&format!("{case}\n  => {err}\n"));
    }
    out.push_str(&format!(
        "(no id) struct S {{ }}\n  => {}\n",
        schema_err("struct S { }")
    ));
    insta::assert_snapshot!(out);
    assert!(matches!(
        schema_err(&format!("{id}struct S {{ a @0 :Text; b @0 :Int8; }}")),
        SchemaError::DuplicateOrdinal { ordinal: 0, ref field, .. } if field == "b"
    ));
}

// ---------------------------------------------------------------------------------------------
// JSON.

#[test]
fn json_round_trip_and_errors() {
    let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
    let record = full_record(&schema, &schema.structs[0], 0);
    let json = record.to_json();
    assert_eq!(json["blob"], serde_json::json!([0, 1, 255, 127, 128, 8]));
    assert_eq!(json["color"], serde_json::json!("blue"));
    let back = Record::from_json(&schema, "Mixed", &json).unwrap();
    assert_eq!(back, record);
    let err = Record::from_json(
        &schema,
        "Mixed",
        &serde_json::json!({"inners": [{"x": 1}, {"x": "one"}]}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, CodecError::WrongType { path, expected, found } if path == "inners[1].x" && expected == "UInt16" && found == "JSON string"),
        "{err:?}"
    );
    let err = Record::from_json(&schema, "Mixed", &serde_json::json!({"small": 1000})).unwrap_err();
    assert!(
        matches!(&err, CodecError::OutOfRange { path, .. } if path == "small"),
        "{err:?}"
    );
    let nan = Record::new().with("double", f64::NAN).to_json();
    assert_eq!(nan, serde_json::json!({"double": "NaN"}));
}

// ---------------------------------------------------------------------------------------------
// File ids and compatibility.

#[test]
fn fnv_file_ids_are_deterministic_with_top_bit() {
    let a = ays_schema::fnv_file_id("node.ovc");
    assert_eq!(a, ays_schema::fnv_file_id("node.ovc"));
    assert_ne!(a, ays_schema::fnv_file_id("node.packet.net"));
    assert_eq!(a >> 63, 1);
    // The id is accepted by the parser (and by capnp, which requires the top bit).
    let text = format!("@0x{a:016x};\nstruct S {{ a @0 :Text; }}\n");
    assert_eq!(parse_schema(&text, "s").unwrap().id, a);
    Tool::new(&text).compile();
}

#[test]
fn compatibility_classification() {
    let base =
        "struct Schema { a @0 :Text; b @1 :Int64 = 1; inner @2 :In; struct In { x @0 :Bool; } }";
    let parse = |id: &str, body: &str| parse_schema(&format!("@0x{id};\n{body}"), "s").unwrap();
    let old = parse("c000000000000001", base);
    let cmp =
        |body: &str| compare_structs(&old, &parse("c000000000000002", body), "Schema").unwrap();
    assert_eq!(cmp(base), Compatibility::Identical);
    assert_eq!(
        cmp(
            "struct Schema { a @0 :Text; b @1 :Int64 = 1; inner @2 :In; c @3 :Bool; struct In { x @0 :Bool; y @1 :Text; } }"
        ),
        Compatibility::Compatible {
            added: vec!["inner.y".into(), "c".into()]
        }
    );
    assert_eq!(
        cmp(
            "struct Schema { a @0 :Text; b @1 :Int32 = 1; inner @2 :In; struct In { x @0 :Bool; } }"
        ),
        Compatibility::Incompatible {
            field: "b".into(),
            change: Change::TypeChanged {
                old: "Int64".into(),
                new: "Int32".into()
            }
        }
    );
    assert_eq!(
        cmp(
            "struct Schema { b @0 :Int64 = 1; a @1 :Text; inner @2 :In; struct In { x @0 :Bool; } }"
        ),
        Compatibility::Incompatible {
            field: "a".into(),
            change: Change::Renumbered { old: 0, new: 1 }
        }
    );
    assert_eq!(
        cmp(
            "struct Schema { a @0 :Text; b @1 :Int64 = 1; inner @2 :In; struct In { z @0 :Bool; } }"
        ),
        Compatibility::Incompatible {
            field: "inner.x".into(),
            change: Change::Removed
        }
    );
    assert_eq!(
        cmp(
            "struct Schema { a @0 :Text; b @1 :Int64 = 2; inner @2 :In; struct In { x @0 :Bool; } }"
        ),
        Compatibility::Incompatible {
            field: "b".into(),
            change: Change::DefaultChanged
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests.

mod props {
    use super::*;
    use proptest::prelude::*;

    fn value_strategy(schema: &SchemaFile, ty: &Type, depth: u32) -> BoxedStrategy<Value> {
        match ty {
            Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            Type::Int8 => any::<i8>().prop_map(|v| Value::Int(v.into())).boxed(),
            Type::Int16 => any::<i16>().prop_map(|v| Value::Int(v.into())).boxed(),
            Type::Int32 => any::<i32>().prop_map(|v| Value::Int(v.into())).boxed(),
            Type::Int64 => any::<i64>().prop_map(Value::Int).boxed(),
            Type::UInt8 => any::<u8>().prop_map(|v| Value::UInt(v.into())).boxed(),
            Type::UInt16 => any::<u16>().prop_map(|v| Value::UInt(v.into())).boxed(),
            Type::UInt32 => any::<u32>().prop_map(|v| Value::UInt(v.into())).boxed(),
            Type::UInt64 => any::<u64>().prop_map(Value::UInt).boxed(),
            Type::Float32 => any::<f32>()
                .prop_filter("NaN never equals itself", |f| !f.is_nan())
                .prop_map(|f| Value::Float(f.into()))
                .boxed(),
            Type::Float64 => any::<f64>()
                .prop_filter("NaN never equals itself", |f| !f.is_nan())
                .prop_map(Value::Float)
                .boxed(),
            Type::Text => ".{0,12}".prop_map(Value::Text).boxed(),
            Type::Data => proptest::collection::vec(any::<u8>(), 0..10)
                .prop_map(Value::Data)
                .boxed(),
            Type::Enum(r) => {
                let names = schema.enums[r.index].enumerants.clone();
                proptest::sample::select(names)
                    .prop_map(Value::Enum)
                    .boxed()
            }
            Type::List(inner) => {
                proptest::collection::vec(value_strategy(schema, inner, depth), 0..4)
                    .prop_map(Value::List)
                    .boxed()
            }
            Type::Struct(r) => record_strategy(schema, &schema.structs[r.index], depth + 1)
                .prop_map(Value::Struct)
                .boxed(),
            other => panic!("unsupported type {other}"),
        }
    }

    /// A record with a random subset of fields set.
    fn record_strategy(schema: &SchemaFile, s: &StructDef, depth: u32) -> BoxedStrategy<Record> {
        let fields: Vec<_> = s
            .fields
            .iter()
            .filter(|f| depth < 3 || !matches!(f.ty, Type::Struct(_)))
            .map(|f| {
                let name = f.name.clone();
                proptest::option::of(value_strategy(schema, &f.ty, depth))
                    .prop_map(move |v| (name.clone(), v))
            })
            .collect();
        fields
            .prop_map(|pairs| {
                pairs
                    .into_iter()
                    .filter_map(|(n, v)| v.map(|v| (n, v)))
                    .collect()
            })
            .boxed()
    }

    /// What decoding gives back for a written record: every field, absent ones at default.
    fn complete(schema: &SchemaFile, s: &StructDef, r: &Record) -> Record {
        let mut out = Record::new();
        for f in &s.fields {
            let v = match (r.get(&f.name), &f.ty) {
                (Some(Value::Struct(inner)), Type::Struct(t)) => {
                    Value::Struct(complete(schema, &schema.structs[t.index], inner))
                }
                (Some(Value::List(items)), Type::List(elem)) => Value::List(
                    items
                        .iter()
                        .map(|v| match (v, &**elem) {
                            (Value::Struct(inner), Type::Struct(t)) => {
                                Value::Struct(complete(schema, &schema.structs[t.index], inner))
                            }
                            _ => v.clone(),
                        })
                        .collect(),
                ),
                (Some(v), _) => v.clone(),
                (None, _) => match capnp_text::default_of(schema, f) {
                    Some(v) => v,
                    None => continue,
                },
            };
            out.insert(f.name.as_str(), v);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn encode_decode_round_trip(record in {
            let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
            let s = schema.structs[0].clone();
            record_strategy(&schema, &s, 0)
        }, packed in any::<bool>()) {
            let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
            let encoding = if packed { Encoding::Packed } else { Encoding::Unpacked };
            let codec = ays_schema::Codec::new(&schema, "Mixed").unwrap();
            let bytes = codec.encode(&record, encoding).unwrap();
            let back = codec.decode(&bytes, encoding).unwrap();
            prop_assert_eq!(back, complete(&schema, &schema.structs[0], &record));
        }

        #[test]
        fn json_round_trip(record in {
            let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
            let s = schema.structs[0].clone();
            record_strategy(&schema, &s, 0)
        }) {
            let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
            let back = Record::from_json(&schema, "Mixed", &record.to_json()).unwrap();
            prop_assert_eq!(back, record);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256), packed in any::<bool>()) {
            let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
            let codec = ays_schema::Codec::new(&schema, "Mixed").unwrap();
            let encoding = if packed { Encoding::Packed } else { Encoding::Unpacked };
            let _ = codec.decode(&bytes, encoding);
        }

        #[test]
        fn decode_of_corrupted_message_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
            let schema = parse_schema(MIXED, "mixed.capnp").unwrap();
            let codec = ays_schema::Codec::new(&schema, "Mixed").unwrap();
            let mut bytes = codec.encode(&full_record(&schema, &schema.structs[0], 0), Encoding::Unpacked).unwrap();
            for (i, b) in flips {
                let i = i.index(bytes.len());
                bytes[i] ^= b;
            }
            let _ = codec.decode(&bytes, Encoding::Unpacked);
        }

        #[test]
        fn parser_never_panics(src in "[@0-9a-zA-Z:;=(){}\\[\\],.\"#\\- \n]{0,120}") {
            let _ = parse_schema(&src, "p.capnp");
        }

        #[test]
        fn parser_never_panics_on_mutated_schema(i in any::<prop::sample::Index>(), c in any::<char>()) {
            let mut chars: Vec<char> = MIXED.chars().collect();
            let i = i.index(chars.len());
            chars[i] = c;
            let src: String = chars.into_iter().collect();
            let _ = parse_schema(&src, "p.capnp");
        }
    }
}

#[test]
fn codec_and_records_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ays_schema::Codec>();
    send_sync::<Record>();
    send_sync::<SchemaFile>();
    send_sync::<CodecError>();
}

#[test]
fn old_data_reads_with_an_appended_schema() {
    let old = parse_schema(
        "@0xc000000000000001;\nstruct Schema { a @0 :Text; color @1 :Color; enum Color { red @0; green @1; blue @2; } }",
        "old",
    )
    .unwrap();
    let new = parse_schema(
        "@0xc000000000000002;\nstruct Schema { a @0 :Text; color @1 :Color; b @2 :Int64 = 5; tags @3 :List(Text) = [\"x\"]; enum Color { red @0; green @1; blue @2; } }",
        "new",
    )
    .unwrap();
    assert_eq!(
        compare_structs(&old, &new, "Schema").unwrap(),
        Compatibility::Compatible {
            added: vec!["b".into(), "tags".into()]
        }
    );
    let rec = Record::new()
        .with("a", "kept")
        .with("color", Value::Enum("blue".into()));
    let bytes = ays_schema::encode(&old, "Schema", &rec, Encoding::Packed).unwrap();
    let back = ays_schema::decode(&new, "Schema", &bytes, Encoding::Packed).unwrap();
    assert_eq!(
        back,
        rec.clone()
            .with("b", 5)
            .with("tags", Value::List(vec!["x".into()]))
    );
    // Data written by a newer schema with an enumerant we don't know is an error naming it.
    let older = parse_schema(
        "@0xc000000000000003;\nstruct Schema { a @0 :Text; color @1 :Color; enum Color { red @0; green @1; } }",
        "older",
    )
    .unwrap();
    let err = ays_schema::decode(&older, "Schema", &bytes, Encoding::Packed).unwrap_err();
    assert!(
        matches!(&err, CodecError::UnknownEnumOrdinal { path, enum_name, ordinal: 2 } if path == "color" && enum_name == "Schema.Color"),
        "{err:?}"
    );
}
