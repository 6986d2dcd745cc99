//! Parsing one `schema.hrd` field line: its option tokens, their checks and the default.

use super::{DefaultValue, FieldRegex, FieldType, SchemaField};
use crate::duration::parse_positive_secs;
use crate::error::HrdError;
use crate::lexer::{column, option_tokens};
use crate::location::Location;
use crate::naming::capnp_field_name;
use crate::relations;
use crate::validation::{ValidationRule, parse_bool, parse_date, parse_float};

/// A `schema.hrd` line being parsed, for building locations.
pub(super) struct SchemaLine<'a> {
    pub(super) raw: &'a str,
    pub(super) file: &'a str,
    pub(super) number: usize,
    pub(super) options_offset: usize,
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

pub(super) fn parse_field(
    line: &SchemaLine<'_>,
    raw_name: &str,
    options: &str,
    at: Location,
) -> Result<SchemaField, HrdError> {
    let name = capnp_field_name(raw_name).map_err(|reason| HrdError::BadFieldName {
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
                parse_positive_secs(text).map_err(|_| expected("a duration such as `30s`"))?;
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
