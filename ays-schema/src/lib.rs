//! Cap'n Proto models of AYS and the dynamic codec for service data.
//!
//! An actor's `schema.capnp` is known only at run time, so this crate parses the subset of the
//! schema language actor schemas use, lays each struct out exactly as the Cap'n Proto compiler
//! does, and reads and writes genuine Cap'n Proto messages (unpacked or packed) from a dynamic
//! [`Record`] of [`Value`]s. It also converts records to and from JSON for the CLI, and compares
//! two versions of a schema for actor updates.
//!
//! It never parses HRD and never touches a store.
//!
//! # Example
//!
//! ```
//! use ays_schema::{Codec, Encoding, Record, Value, parse_schema};
//!
//! let schema = parse_schema(
//!     "@0xe0283c28624942f8;\n\
//!      struct Schema {\n\
//!        url @0 :Text;\n\
//!        port @1 :Int64 = 443;\n\
//!        tags @2 :List(Text);\n\
//!      }\n",
//!     "schema.capnp",
//! )?;
//! let codec = Codec::new(&schema, "Schema")?;
//! let record = Record::new()
//!     .with("url", "https://example.com")
//!     .with("tags", Value::List(vec!["a".into(), "b".into()]));
//! let bytes = codec.encode(&record, Encoding::Packed)?;
//! let back = codec.decode(&bytes, Encoding::Packed)?;
//! // An absent field reads back as its default.
//! assert_eq!(back.get("port"), Some(&Value::Int(443)));
//! assert_eq!(back.get("url"), Some(&Value::Text("https://example.com".into())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Reading without copying
//!
//! [`Codec::read`] frames a message and [`Message::root`] views it in place: each field is
//! read from the wire when asked for, and Text and Data borrow the input bytes. The owned
//! [`Codec::decode`] is that view's [`RecordView::to_record`].
//!
//! ```
//! use ays_schema::{Codec, Encoding, Record, Value, ValueRef, parse_schema};
//!
//! let schema = parse_schema(
//!     "@0xe0283c28624942f8;\n\
//!      struct Schema { url @0 :Text; port @1 :Int64 = 443; tags @2 :List(Text); }\n",
//!     "schema.capnp",
//! )?;
//! let codec = Codec::new(&schema, "Schema")?;
//! let record = Record::new()
//!     .with("url", "https://example.com")
//!     .with("tags", Value::List(vec!["a".into(), "b".into()]));
//! let bytes = codec.encode(&record, Encoding::Unpacked)?;
//!
//! let message = codec.read(&bytes, Encoding::Unpacked)?;
//! let view = message.root()?;
//! assert!(matches!(view.get("url")?, Some(ValueRef::Text("https://example.com"))));
//! assert!(matches!(view.get("port")?, Some(ValueRef::Int(443))));
//! if let Some(ValueRef::List(tags)) = view.get("tags")? {
//!     let tags: Vec<&str> = tags
//!         .iter()
//!         .filter_map(|t| match t {
//!             Ok(ValueRef::Text(s)) => Some(s),
//!             _ => None,
//!         })
//!         .collect();
//!     assert_eq!(tags, ["a", "b"]);
//! }
//! assert_eq!(view.to_record()?, codec.decode(&bytes, Encoding::Unpacked)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//!
//! - `capnp_parse`: schema text → [`SchemaFile`], with located [`SchemaError`]s.
//! - `layout`: each field's slot and each struct's size, as the compiler computes them.
//! - `codec`: [`Record`] → message bytes through the `capnp` crate's layout code; message
//!   bytes → [`RecordView`] (`codec/view.rs`) through an in-place wire reader
//!   (`codec/message.rs`) with the `capnp` crate's limits, which also bound the values the
//!   owned decode builds; packed input is unpacked there too.
//! - `json`: [`Record::from_json`] and [`Record::to_json`].
//! - `compare`: whether a new version of a struct still reads old data ([`compare_structs`]).
//! - `file_id`: [`fnv_file_id`], a file id derived from a name; actor schemas use
//!   `ays_hrd::schema_id` instead, which gives a different id.
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod capnp_parse;
mod codec;
mod compare;
mod error;
mod file_id;
mod generated;
mod json;
mod layout;
pub mod models;
mod schema;
mod value;

pub use capnp_parse::parse_schema;
pub use codec::{
    Codec, Elements, Encoding, Fields, ListView, Message, RecordView, ValueRef, decode, encode,
};
pub use compare::{Change, Compatibility, compare_structs};
pub use error::{CodecError, Location, SchemaError};
pub use file_id::fnv_file_id;
pub use layout::{Slot, StructLayout};
pub use schema::{EnumDef, FieldDef, SchemaFile, StructDef, Type, TypeRef};
pub use value::{Record, Value};
