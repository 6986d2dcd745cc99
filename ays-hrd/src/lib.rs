//! HRD and `schema.hrd` parsing, conversion of AYS actor schemas to Cap'n Proto, and the
//! template's `config.yaml`.
//!
//! AYS 8.1 described actor templates in HRD, a line-oriented `key = value` format:
//! `schema.hrd` holds the service data schema and the relations (`parent:`, `consume:`),
//! `actor.hrd` the recurring actions. This crate reads both and converts a schema to the
//! Cap'n Proto text AYS generated, byte for byte, with a deterministic id. AYS 8.2 moved the
//! relations and action settings to `config.yaml`; this crate owns that format too, reading it
//! into a typed [`ConfigYaml`] with errors at their line and column, and writing it (for
//! `ays template migrate`).
//!
//! **What it must not know**: it does no I/O and knows nothing of Cap'n Proto runtime types,
//! stores or services. Text in; a located AST, typed values or Cap'n Proto schema text out.
//!
//! # Example
//!
//! ```
//! use ays_hrd::{ActorSchema, CapnpStyle, schema_id};
//!
//! let src = "\
//! vdc = type:str parent:'vdc' auto
//! os.image = type:str default:'Ubuntu 16.04'
//! memory = type:int default:2
//! ports = list type:str
//! ";
//! let schema = ActorSchema::parse(src, "schema.hrd")?;
//! let capnp = schema.to_capnp("node", CapnpStyle::Ays82)?;
//! let expected = format!(
//!     "\n@0x{:016x};\nstruct Schema {{\n\tvdc @0 :Text;\n\tosImage @1 :Text = \"Ubuntu 16.04\";\n\
//!      \tmemory @2 :Int64 = 2;\n\tports @3 :List(Text);\n\n}}\n",
//!     schema_id("node"),
//! );
//! assert_eq!(capnp, expected);
//! assert_eq!(schema.parent().map(|p| p.role.as_str()), Some("vdc"));
//! # Ok::<(), ays_hrd::HrdError>(())
//! ```
//!
//! # Modules
//!
//! - `lexer`: quote-aware line scanning and comment removal, shared by both HRD parsers.
//! - `parser`, `ast`, `print`: general HRD to a located [`Document`] of typed [`Value`]s and
//!   back.
//! - `schema`, `naming`, `relations`, `validation`: the `schema.hrd` dialect
//!   ([`ActorSchema`]), field name sanitising, [`Parent`]/[`Consume`] relations, and the
//!   [`ValidationRule`] of each type.
//! - `to_capnp`: [`ActorSchema::to_capnp`] and [`schema_id`].
//! - `actor_config`: `actor.hrd` ([`ActorConfig`]).
//! - `config_yaml`: the 8.2 `config.yaml`, read and written in one place ([`ConfigYaml`]),
//!   one submodule per section (`links`, `doc`, `recurring`, `settings` for `concurrency` and
//!   the per-action timeouts, retries and delays, `depends`) over `yaml`, which reads saphyr's
//!   located nodes and quotes scalars.
//! - `duration`: the one duration parser ([`parse_duration`]) behind `actor.hrd` periods,
//!   `config.yaml` settings, the `duration` type, and ays-core's templates and blueprints.
//! - `error`, `location`: [`HrdError`], [`ConfigYamlError`], [`ValidationError`],
//!   [`Location`], [`Located`].
//!
//! # Types
//!
//! AYS 8.1 converted only the first five rows and failed on the rest; they are accepted here
//! (a deliberate extension) and carry a [`ValidationRule`] that ays-core applies to blueprint
//! values. Implicit defaults (8.1) exist only for the first five rows.
//!
//! | `type:` | Cap'n Proto | rule ([`ValidationRule`]) | implicit default |
//! |---|---|---|---|
//! | `str`, `string` | `Text` | `Text` (any) | `""` |
//! | `multiline` | `Text` | `Text` (any) | `""` |
//! | `int`, `integer` | `Int64` | `Int` | `0` |
//! | `float` | `Float32` | `Float` (finite, fits f32) | `0.0` |
//! | `bool`, `boolean` (8.1 rejected `boolean`) | `Bool` | `Bool` (`0`/`1`/`true`/`false`) | `true` |
//! | `ipaddr`, `ipaddress` | `Text` | `IpAddr` (IPv4 or IPv6) | — |
//! | `iprange`, `ipaddressrange` | `Text` | `IpRange` (CIDR `addr/prefix`) | — |
//! | `ipport` | `UInt16` | `IpPort` (`1..=65535`) | — |
//! | `email` | `Text` | `Email` (`local@dom.ain`) | — |
//! | `tel`, `mobile` | `Text` | `Tel` (`+`, digits, ` -.()`, 3-20 digits) | — |
//! | `dict` | `Text` (JSON) | `JsonObject` | — |
//! | `json`, `yaml` | `Text` (JSON) | `Json` | — |
//! | `set` | `List(Text)` | `UniqueItems` | — |
//! | `guid` | `Text` | `Guid` (8-4-4-4-12 hex) | — |
//! | `duration` | `Int64` (seconds) | `Duration` (`30s`, `1h30m`, …) | — |
//! | `date` | `Int64` (epoch seconds) | `Date` (epoch, `YYYY-MM-DD[THH:MM:SSZ]`) | — |
//!
//! `list` wraps any type but `set` in `List(…)`. `minval:`/`maxval:` turn a `str` field into
//! `int` (as 8.1 did) and are checked by [`SchemaField::validate`], as is `regex:` (matched
//! against the whole value; only on `Text` types).
//!
//! # Deliberate deviations from AYS 8.1
//!
//! General HRD ([`parse_document`]) is strict where 8.1 lost or corrupted data (`hrd.md`
//! §1.11):
//!
//! - `#` starts a comment only at the start of a line or after whitespace, and never inside
//!   quotes (`pw = abc#def` keeps `abc#def`); comment lines inside a block do not end it.
//! - A line without `=`, a `@` directive line, a duplicate key, an invalid key, and a
//!   non-indented line right after a block (8.1 swallowed it) are errors.
//! - Block continuation lines may be indented with tabs; in list and dict blocks every line but
//!   the last must end with `,` (8.1 merged it with the next line).
//! - Quotes (single or double, stripped) protect `,`, `:` and `#` inline too; a text-block
//!   line keeps all its text; `[a, b]` is a list; the private escape alphabet (`\S`, `\K`, …)
//!   is never decoded.
//! - An unquoted URL (`url = http://h/p`, a dict in 8.1) is an error asking for quotes.
//! - `x = b` / `x = bqp` are plain strings (binary blocks are not supported); `@ASK` values
//!   and `$(key)` references are kept as text, never prompted for or resolved.
//! - Unquoted scalars are typed (`true`/`false`, integers, floats); quote a value to keep it a
//!   string.
//!
//! `schema.hrd` ([`ActorSchema::parse`]):
//!
//! - A `#` token starts a comment (8.1 turned its words into labels); double quotes quote
//!   like single quotes (8.1 kept them in the value); values are not percent-decoded.
//! - Unknown options, a type or option given twice on a line, a bare `type`, several
//!   comma-separated consume roles (8.1 kept the last), a second `parent:` field (8.1 chose
//!   one arbitrarily) and `min > max` are errors.
//! - Field names with an empty part (`a..b`), names that do not sanitise to a Cap'n Proto name
//!   (`Foo`, `a-b`, `_a`) and two names that sanitise alike are errors.
//! - The schema id is [`schema_id`] of the actor name instead of a random number.
//! - Text defaults holding `"`, `\`, or control characters are escaped in the 8.2 form; 8.2
//!   wrote them raw, producing invalid Cap'n Proto.
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
#![deny(missing_docs)]

mod actor_config;
mod ast;
mod config_yaml;
mod duration;
mod error;
mod lexer;
mod location;
mod naming;
mod parser;
mod print;
mod relations;
mod schema;
mod to_capnp;
mod validation;

pub use actor_config::{ActorConfig, RecurringAction};
pub use ast::{Document, Entry, Value};
pub use config_yaml::{
    ConfigYaml, ConsumeLink, EventEntry, ParentLink, PropertyDoc, yaml_nesting_beyond,
};
pub use duration::{DurationError, parse_duration};
pub use error::{ConfigYamlError, HrdError, ValidationError};
pub use location::{Located, Location};
pub use naming::capnp_field_name;
pub use parser::parse_document;
pub use print::print_document;
pub use relations::{Consume, DEFAULT_MAX, DEFAULT_MIN, IgnoredParent, Parent};
pub use schema::{ActorSchema, DefaultValue, FieldType, SchemaField};
pub use to_capnp::{CapnpStyle, schema_id};
pub use validation::ValidationRule;
