//! The `schema.hrd` dialect: one field per line, `name = option option …`.

use std::collections::HashMap;
use std::fmt;

use crate::error::{HrdError, ValidationError};
use crate::lexer::{column, option_tokens};
use crate::location::Location;
use crate::naming::sanitize;
use crate::relations::{self, Consume, Parent};
use crate::validation::{ValidationRule, parse_bool, parse_date, parse_duration_secs, parse_float};

/// The type of a schema field, as named by `type:` (default `str`).
///
/// The first six rows are the types AYS 8.1 converted; the others were known to its type
/// registry but made the conversion fail, and are accepted here (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldType {
    /// `str`, `string`: `Text`.
    Str,
    /// `multiline`: `Text`.
    Multiline,
    /// `int`, `integer`: `Int64`.
    Int,
    /// `float`: `Float32`.
    Float,
    /// `bool`, `boolean`: `Bool`.
    Bool,
    /// `ipaddr`, `ipaddress`: `Text` holding an IPv4 or IPv6 address.
    IpAddr,
    /// `iprange`, `ipaddressrange`: `Text` holding a CIDR range.
    IpRange,
    /// `ipport`: `UInt16` in `1..=65535`.
    IpPort,
    /// `email`: `Text` holding an email address.
    Email,
    /// `tel`, `mobile`: `Text` holding a phone number.
    Tel,
    /// `dict`: `Text` holding a JSON object.
    Dict,
    /// `yaml`: `Text` holding JSON (a subset of YAML).
    Yaml,
    /// `json`: `Text` holding JSON.
    Json,
    /// `set`: `List(Text)` with unique items.
    Set,
    /// `guid`: `Text` holding a UUID.
    Guid,
    /// `duration`: `Int64` seconds.
    Duration,
    /// `date`: `Int64` seconds since the Unix epoch.
    Date,
}

impl FieldType {
    /// Parses a type name, case-insensitively.
    fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "str" | "string" => FieldType::Str,
            "multiline" => FieldType::Multiline,
            "int" | "integer" => FieldType::Int,
            "float" => FieldType::Float,
            "bool" | "boolean" => FieldType::Bool,
            "ipaddr" | "ipaddress" => FieldType::IpAddr,
            "iprange" | "ipaddressrange" => FieldType::IpRange,
            "ipport" => FieldType::IpPort,
            "email" => FieldType::Email,
            "tel" | "mobile" => FieldType::Tel,
            "dict" => FieldType::Dict,
            "yaml" => FieldType::Yaml,
            "json" => FieldType::Json,
            "set" => FieldType::Set,
            "guid" => FieldType::Guid,
            "duration" => FieldType::Duration,
            "date" => FieldType::Date,
            _ => return None,
        })
    }

    /// The canonical name (`str`, `int`, `ipaddr`, …).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "str",
            FieldType::Multiline => "multiline",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::IpAddr => "ipaddr",
            FieldType::IpRange => "iprange",
            FieldType::IpPort => "ipport",
            FieldType::Email => "email",
            FieldType::Tel => "tel",
            FieldType::Dict => "dict",
            FieldType::Yaml => "yaml",
            FieldType::Json => "json",
            FieldType::Set => "set",
            FieldType::Guid => "guid",
            FieldType::Duration => "duration",
            FieldType::Date => "date",
        }
    }

    /// The Cap'n Proto type of one value of this type.
    pub fn capnp_type(self) -> &'static str {
        match self {
            FieldType::Int | FieldType::Duration | FieldType::Date => "Int64",
            FieldType::Float => "Float32",
            FieldType::Bool => "Bool",
            FieldType::IpPort => "UInt16",
            FieldType::Set => "List(Text)",
            FieldType::Str
            | FieldType::Multiline
            | FieldType::IpAddr
            | FieldType::IpRange
            | FieldType::Email
            | FieldType::Tel
            | FieldType::Dict
            | FieldType::Yaml
            | FieldType::Json
            | FieldType::Guid => "Text",
        }
    }

    /// The rule a value of this type must follow.
    pub fn validation_rule(self) -> ValidationRule {
        match self {
            FieldType::Str | FieldType::Multiline => ValidationRule::Text,
            FieldType::Int => ValidationRule::Int,
            FieldType::Float => ValidationRule::Float,
            FieldType::Bool => ValidationRule::Bool,
            FieldType::IpAddr => ValidationRule::IpAddr,
            FieldType::IpRange => ValidationRule::IpRange,
            FieldType::IpPort => ValidationRule::IpPort,
            FieldType::Email => ValidationRule::Email,
            FieldType::Tel => ValidationRule::Tel,
            FieldType::Dict => ValidationRule::JsonObject,
            FieldType::Yaml | FieldType::Json => ValidationRule::Json,
            FieldType::Set => ValidationRule::UniqueItems,
            FieldType::Guid => ValidationRule::Guid,
            FieldType::Duration => ValidationRule::Duration,
            FieldType::Date => ValidationRule::Date,
        }
    }

    /// Whether values are stored as `Text`.
    fn is_text(self) -> bool {
        self.capnp_type() == "Text"
    }
}

/// A typed default value of a field.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// A text default (for every `Text`-based type).
    Text(String),
    /// An integer default (`int`, `ipport`, `duration` in seconds, `date` in epoch seconds).
    Int(i64),
    /// A float default.
    Float(f64),
    /// A boolean default.
    Bool(bool),
    /// A list default (for `list` fields and `set`).
    List(Vec<DefaultValue>),
}

/// A compiled `regex:` option; compares by its pattern.
#[derive(Debug, Clone)]
pub(crate) struct FieldRegex {
    pattern: String,
    compiled: regex::Regex,
}

impl PartialEq for FieldRegex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

/// One field of a `schema.hrd`.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaField {
    pub(crate) raw_name: String,
    pub(crate) name: String,
    pub(crate) at: Location,
    pub(crate) ty: FieldType,
    pub(crate) list: bool,
    pub(crate) default: Option<DefaultValue>,
    pub(crate) descr: Option<String>,
    pub(crate) parent: Option<String>,
    pub(crate) consume: Option<relations::ConsumeSpec>,
    pub(crate) auto: bool,
    pub(crate) optional: bool,
    pub(crate) ask: bool,
    pub(crate) regex: Option<FieldRegex>,
    pub(crate) minval: Option<f64>,
    pub(crate) maxval: Option<f64>,
    pub(crate) other: Vec<(String, String)>,
}

impl SchemaField {
    /// The name as written in `schema.hrd` (`os.image`); blueprint arguments use it.
    pub fn raw_name(&self) -> &str {
        &self.raw_name
    }

    /// The sanitised Cap'n Proto field name (`osImage`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the (last) definition of the field starts.
    pub fn location(&self) -> &Location {
        &self.at
    }

    /// The field's type (of one item, for a list).
    pub fn field_type(&self) -> FieldType {
        self.ty
    }

    /// Whether the field is a list (`list` label).
    pub fn is_list(&self) -> bool {
        self.list
    }

    /// The full Cap'n Proto type, `List(…)` included.
    pub fn capnp_type(&self) -> String {
        if self.list {
            format!("List({})", self.ty.capnp_type())
        } else {
            self.ty.capnp_type().to_owned()
        }
    }

    /// The default given with `default:`, if any.
    pub fn default(&self) -> Option<&DefaultValue> {
        self.default.as_ref()
    }

    /// The default AYS applies: the explicit one, else the implicit one of 8.1 (`str` → `""`,
    /// `int` → `0`, `float` → `0.0`, `bool` → `true`, list → `[]`). The types 8.1 could not
    /// convert have no implicit default.
    pub fn effective_default(&self) -> Option<DefaultValue> {
        if let Some(d) = &self.default {
            return Some(d.clone());
        }
        if self.list {
            return Some(DefaultValue::List(Vec::new()));
        }
        match self.ty {
            FieldType::Str | FieldType::Multiline => Some(DefaultValue::Text(String::new())),
            FieldType::Int => Some(DefaultValue::Int(0)),
            FieldType::Float => Some(DefaultValue::Float(0.0)),
            FieldType::Bool => Some(DefaultValue::Bool(true)),
            _ => None,
        }
    }

    /// The `descr:` text (`__` turned into spaces, a literal `\n` into a newline).
    pub fn description(&self) -> Option<&str> {
        self.descr.as_deref()
    }

    /// Whether the field has `auto`.
    pub fn is_auto(&self) -> bool {
        self.auto
    }

    /// Whether the field has `optional`.
    pub fn is_optional(&self) -> bool {
        self.optional
    }

    /// Whether the field has `@ask` (in any case). AYS 8.1 ignored it; a port should report a
    /// missing value instead of prompting.
    pub fn asks(&self) -> bool {
        self.ask
    }

    /// The `regex:` pattern. Values must match it as a whole.
    pub fn regex(&self) -> Option<&str> {
        self.regex.as_ref().map(|r| r.pattern.as_str())
    }

    /// The `minval:` bound.
    pub fn minval(&self) -> Option<f64> {
        self.minval
    }

    /// The `maxval:` bound.
    pub fn maxval(&self) -> Option<f64> {
        self.maxval
    }

    /// Options kept but not interpreted (`alias`, `multichoice`, `singlechoice`), in order.
    pub fn other_options(&self) -> &[(String, String)] {
        &self.other
    }

    /// The rule of the field's type.
    pub fn validation_rule(&self) -> ValidationRule {
        self.ty.validation_rule()
    }

    /// Checks one value (one item for a list) against the type's rule, `regex`, `minval`
    /// and `maxval`.
    ///
    /// # Errors
    ///
    /// Returns the first [`ValidationError`] found.
    pub fn validate(&self, value: &str) -> Result<(), ValidationError> {
        self.validation_rule().validate(value)?;
        if let Some(re) = &self.regex
            && !re.compiled.is_match(value)
        {
            return Err(ValidationError::NoMatch {
                value: value.to_owned(),
                pattern: re.pattern.clone(),
            });
        }
        if self.minval.is_some() || self.maxval.is_some() {
            let n = parse_float(value).ok_or_else(|| ValidationError::Format {
                value: value.to_owned(),
                expected: "a number",
            })?;
            let low = self.minval.unwrap_or(f64::NEG_INFINITY);
            let high = self.maxval.unwrap_or(f64::INFINITY);
            if n < low || n > high {
                return Err(ValidationError::OutOfRange {
                    value: value.to_owned(),
                    min: self.minval.map_or_else(|| "-inf".into(), |v| v.to_string()),
                    max: self.maxval.map_or_else(|| "inf".into(), |v| v.to_string()),
                });
            }
        }
        Ok(())
    }
}

/// A parsed `schema.hrd`: its fields in order (ordinal `@n` = index), the parent relation and
/// the consumed roles.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorSchema {
    pub(crate) fields: Vec<SchemaField>,
    pub(crate) parent: Option<Parent>,
    pub(crate) consumes: Vec<Consume>,
}

impl ActorSchema {
    /// Parses a `schema.hrd`.
    ///
    /// Blank lines and lines starting with `#` are skipped; every other line is
    /// `name = options`. A name given twice keeps its first position and takes its last
    /// definition, as in AYS 8.1 (logged as a warning).
    ///
    /// # Errors
    ///
    /// Returns an [`HrdError`] naming the file, line, column and field for a line without `=`,
    /// an unknown type or option, a malformed option value or default, a name that cannot
    /// become a Cap'n Proto field name, two names that sanitise alike, or a second parent.
    pub fn parse(src: &str, file: &str) -> Result<ActorSchema, HrdError> {
        let mut fields: Vec<SchemaField> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, raw) in src.lines().enumerate() {
            let number = i.saturating_add(1);
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let start = raw.len().saturating_sub(raw.trim_start().len());
            let at = Location::new(file, number, column(raw, start));
            let Some((name_part, options)) = raw.split_once('=') else {
                return Err(HrdError::MissingEquals {
                    at,
                    found: trimmed.to_owned(),
                });
            };
            let line = SchemaLine {
                raw,
                file,
                number,
                options_offset: name_part.len().saturating_add(1),
            };
            let field = parse_field(&line, name_part.trim(), options, at)?;
            match index.get(&field.raw_name) {
                Some(&pos) => {
                    tracing::warn!(
                        field = %field.raw_name,
                        at = %field.at,
                        "field defined twice: it keeps its first position and takes this definition"
                    );
                    if let Some(slot) = fields.get_mut(pos) {
                        *slot = field;
                    }
                }
                None => {
                    index.insert(field.raw_name.clone(), fields.len());
                    fields.push(field);
                }
            }
        }
        check_collisions(&fields)?;
        let (parent, consumes) = relations::collect(&fields)?;
        Ok(ActorSchema {
            fields,
            parent,
            consumes,
        })
    }

    /// The fields in ordinal order.
    pub fn fields(&self) -> &[SchemaField] {
        &self.fields
    }

    /// The field a blueprint argument names, by raw name (`os.image`) or sanitised name
    /// (`osImage`).
    pub fn field(&self, arg: &str) -> Option<&SchemaField> {
        self.fields
            .iter()
            .find(|f| f.raw_name == arg)
            .or_else(|| self.fields.iter().find(|f| f.name == arg))
    }

    /// The parent relation, if a field has `parent:`.
    pub fn parent(&self) -> Option<&Parent> {
        self.parent.as_ref()
    }

    /// The consumed roles, one per field with `consume:` and no `parent:`, in field order.
    pub fn consumes(&self) -> &[Consume] {
        &self.consumes
    }
}

impl fmt::Display for DefaultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefaultValue::Text(s) => f.write_str(s),
            DefaultValue::Int(i) => write!(f, "{i}"),
            DefaultValue::Float(x) => f.write_str(&crate::to_capnp::python_float_repr(*x)),
            DefaultValue::Bool(b) => write!(f, "{b}"),
            DefaultValue::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// A `schema.hrd` line being parsed, for building locations.
struct SchemaLine<'a> {
    raw: &'a str,
    file: &'a str,
    number: usize,
    options_offset: usize,
}

impl SchemaLine<'_> {
    /// The location of byte `offset` of the options text.
    fn at(&self, offset: usize) -> Location {
        let byte = self.options_offset.saturating_add(offset);
        Location::new(self.file, self.number, column(self.raw, byte))
    }
}

/// The options of one field line, before they are checked against each other.
#[derive(Default)]
struct RawOptions {
    ty: Option<(FieldType, Location)>,
    list: bool,
    default: Option<(String, Location)>,
    descr: Option<String>,
    parent: Option<(String, Location)>,
    consume: Option<(String, Location)>,
    auto: bool,
    optional: bool,
    ask: bool,
    regex: Option<(String, Location)>,
    minval: Option<(String, Location)>,
    maxval: Option<(String, Location)>,
    other: Vec<(String, String)>,
}

fn parse_field(
    line: &SchemaLine<'_>,
    raw_name: &str,
    options: &str,
    at: Location,
) -> Result<SchemaField, HrdError> {
    let name = sanitize(raw_name).map_err(|reason| HrdError::BadFieldName {
        at: at.clone(),
        field: raw_name.to_owned(),
        reason,
    })?;
    let field = raw_name;
    let tokens = option_tokens(options).map_err(|q| HrdError::UnterminatedQuote {
        at: line.at(q),
        key: field.to_owned(),
    })?;
    let mut o = RawOptions::default();
    let mut seen: Vec<String> = Vec::new();
    for tok in tokens {
        let tat = line.at(tok.offset);
        let key = tok.key.to_ascii_lowercase();
        let unknown = || HrdError::UnknownOption {
            at: tat.clone(),
            field: field.to_owned(),
            option: tok.key.clone(),
        };
        if tok.key_quoted {
            return Err(unknown());
        }
        if seen.contains(&key) {
            return Err(HrdError::DuplicateOption {
                at: tat,
                field: field.to_owned(),
                option: key,
            });
        }
        seen.push(key.clone());
        let Some(value) = tok.value.clone() else {
            match key.as_str() {
                "list" => o.list = true,
                "auto" => o.auto = true,
                "optional" => o.optional = true,
                "@ask" => o.ask = true,
                "type" | "default" | "descr" | "parent" | "consume" | "regex" | "minval"
                | "maxval" => {
                    return Err(HrdError::InvalidOption {
                        at: tat,
                        field: field.to_owned(),
                        option: key.clone(),
                        reason: format!("`{key}` needs a value, as in `{key}:…`"),
                    });
                }
                _ => return Err(unknown()),
            }
            continue;
        };
        match key.as_str() {
            "type" => {
                let ty = FieldType::from_name(&value).ok_or_else(|| HrdError::UnknownType {
                    at: tat.clone(),
                    field: field.to_owned(),
                    name: value.clone(),
                })?;
                o.ty = Some((ty, tat));
            }
            "default" => o.default = Some((value, tat)),
            "descr" => o.descr = Some(value.replace("__", " ").replace("\\n", "\n")),
            "parent" => o.parent = Some((value, tat)),
            "consume" => o.consume = Some((value, tat)),
            "regex" => o.regex = Some((value, tat)),
            "minval" => o.minval = Some((value, tat)),
            "maxval" => o.maxval = Some((value, tat)),
            "alias" | "multichoice" | "singlechoice" => o.other.push((key, value)),
            _ => return Err(unknown()),
        }
    }
    build_field(raw_name, name, at, o)
}

fn invalid(at: &Location, field: &str, option: &str, reason: impl Into<String>) -> HrdError {
    HrdError::InvalidOption {
        at: at.clone(),
        field: field.to_owned(),
        option: option.to_owned(),
        reason: reason.into(),
    }
}

fn build_field(
    raw_name: &str,
    name: String,
    at: Location,
    o: RawOptions,
) -> Result<SchemaField, HrdError> {
    let field = raw_name;
    let mut ty = o.ty.as_ref().map_or(FieldType::Str, |(t, _)| *t);
    let bound_at = o
        .minval
        .as_ref()
        .or(o.maxval.as_ref())
        .map(|(_, a)| a.clone());
    if let Some(bat) = &bound_at {
        // 8.1: minval/maxval turn a `str` (or untyped) field into an int.
        if ty == FieldType::Str {
            ty = FieldType::Int;
        }
        if !matches!(ty, FieldType::Int | FieldType::Float) {
            return Err(invalid(
                bat,
                field,
                "minval",
                "bounds need `type:int` or `type:float`",
            ));
        }
    }
    let bound = |b: &Option<(String, Location)>, option: &str| -> Result<Option<f64>, HrdError> {
        match b {
            None => Ok(None),
            Some((v, bat)) => parse_float(v)
                .map(Some)
                .ok_or_else(|| invalid(bat, field, option, format!("`{v}` is not a number"))),
        }
    };
    let minval = bound(&o.minval, "minval")?;
    let maxval = bound(&o.maxval, "maxval")?;
    if let (Some(lo), Some(hi), Some(bat)) = (minval, maxval, &bound_at)
        && lo > hi
    {
        return Err(invalid(
            bat,
            field,
            "minval",
            "`minval` is greater than `maxval`",
        ));
    }
    if ty == FieldType::Set && o.list {
        let tat = o.ty.as_ref().map_or(&at, |(_, a)| a);
        return Err(invalid(
            tat,
            field,
            "type",
            "`set` is already a list; drop `list`",
        ));
    }
    let regex = match o.regex {
        None => None,
        Some((pattern, rat)) => {
            if !ty.is_text() {
                return Err(invalid(
                    &rat,
                    field,
                    "regex",
                    format!("`regex` needs a text type, not `{}`", ty.name()),
                ));
            }
            let compiled = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                HrdError::InvalidRegex {
                    at: rat.clone(),
                    field: field.to_owned(),
                    pattern: pattern.clone(),
                    source: Box::new(e),
                }
            })?;
            Some(FieldRegex { pattern, compiled })
        }
    };
    let parent = match o.parent {
        None => None,
        Some((role, pat)) => {
            if role.is_empty() || role.starts_with('.') {
                return Err(invalid(&pat, field, "parent", "the role is empty"));
            }
            Some(role)
        }
    };
    let consume = match o.consume {
        None => None,
        Some((spec, cat)) => Some(
            relations::parse_consume(&spec)
                .map_err(|reason| invalid(&cat, field, "consume", reason))?,
        ),
    };
    let mut built = SchemaField {
        raw_name: raw_name.to_owned(),
        name,
        at,
        ty,
        list: o.list,
        default: None,
        descr: o.descr,
        parent,
        consume,
        auto: o.auto,
        optional: o.optional,
        ask: o.ask,
        regex,
        minval,
        maxval,
        other: o.other,
    };
    if let Some((text, dat)) = o.default {
        built.default =
            parse_default(&built, &text).map_err(|expected| HrdError::InvalidDefault {
                at: dat,
                field: field.to_owned(),
                value: text.clone(),
                expected,
            })?;
    }
    Ok(built)
}

/// Parses a `default:` text for `field`; `Ok(None)` for an empty text default (8.1 ignored
/// those). The error says what was expected.
fn parse_default(field: &SchemaField, text: &str) -> Result<Option<DefaultValue>, String> {
    if field.list || field.ty == FieldType::Set {
        let inner = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        let mut items = Vec::new();
        for item in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let item = item
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .unwrap_or(item);
            let one = if field.ty == FieldType::Set {
                DefaultValue::Text(item.to_owned())
            } else {
                scalar_default(field, item)?
            };
            items.push(one);
        }
        if field.ty == FieldType::Set {
            ValidationRule::UniqueItems
                .validate(inner)
                .map_err(|e| format!("a set without repeated items ({e})"))?;
        }
        return Ok(Some(DefaultValue::List(items)));
    }
    if text.is_empty() {
        return Ok(None);
    }
    scalar_default(field, text).map(Some)
}

fn scalar_default(field: &SchemaField, text: &str) -> Result<DefaultValue, String> {
    let expected = |what: &str| format!("{what} (field type `{}`)", field.ty.name());
    let value = match field.ty {
        FieldType::Int => DefaultValue::Int(
            text.trim()
                .parse()
                .map_err(|_| expected("a decimal integer"))?,
        ),
        FieldType::IpPort => {
            let port: i64 = text.trim().parse().map_err(|_| expected("a port number"))?;
            if !(1..=65535).contains(&port) {
                return Err(expected("a port number in 1..=65535"));
            }
            DefaultValue::Int(port)
        }
        FieldType::Duration => {
            let secs =
                parse_duration_secs(text).map_err(|_| expected("a duration such as `30s`"))?;
            DefaultValue::Int(
                i64::try_from(secs).map_err(|_| expected("a duration that fits Int64"))?,
            )
        }
        FieldType::Date => DefaultValue::Int(
            parse_date(text).ok_or_else(|| expected("a date (`YYYY-MM-DD` or epoch seconds)"))?,
        ),
        FieldType::Float => {
            DefaultValue::Float(parse_float(text).ok_or_else(|| expected("a finite float"))?)
        }
        FieldType::Bool => DefaultValue::Bool(
            parse_bool(text).ok_or_else(|| expected("`0`, `1`, `true` or `false`"))?,
        ),
        FieldType::Set => DefaultValue::Text(text.to_owned()),
        ty => {
            ty.validation_rule()
                .validate(text)
                .map_err(|e| expected(&format!("valid: {e}")))?;
            DefaultValue::Text(text.to_owned())
        }
    };
    if field.regex.is_some() || field.minval.is_some() || field.maxval.is_some() {
        field
            .validate(text)
            .map_err(|e| expected(&format!("valid: {e}")))?;
    }
    Ok(value)
}

fn check_collisions(fields: &[SchemaField]) -> Result<(), HrdError> {
    let mut by_name: HashMap<&str, &SchemaField> = HashMap::new();
    for f in fields {
        if let Some(other) = by_name.insert(&f.name, f) {
            return Err(HrdError::NameCollision {
                at: f.at.clone(),
                field: f.raw_name.clone(),
                name: f.name.clone(),
                other: other.raw_name.clone(),
                other_at: other.at.clone(),
            });
        }
    }
    Ok(())
}
