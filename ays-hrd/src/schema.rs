//! The `schema.hrd` dialect: one field per line, `name = option option …`.

mod options;
mod types;

use std::collections::HashMap;

use crate::duration::parse_positive_secs;
use crate::error::{HrdError, ValidationError};
use crate::lexer::column;
use crate::location::{Located, Location};
use crate::relations::{self, Consume, IgnoredParent, Parent};
use crate::validation::{ValidationRule, parse_bool, parse_date, parse_float};

use options::{SchemaLine, parse_field};
pub use types::{DefaultValue, FieldType};

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

    /// Validates one value given as text (one item for a list field) and converts it to the
    /// typed value stored in the Cap'n Proto field: `duration` to seconds, `date` to epoch
    /// seconds, `ipport` to its number, `set` to its items, text types unchanged.
    ///
    /// # Errors
    ///
    /// Returns the [`ValidationError`] of [`SchemaField::validate`].
    ///
    /// # Example
    ///
    /// ```
    /// use ays_hrd::{ActorSchema, DefaultValue};
    ///
    /// let schema = ActorSchema::parse("timeout = type:duration\n", "schema.hrd")?;
    /// let field = &schema.fields()[0];
    /// assert_eq!(field.parse_value("1h30m"), Ok(DefaultValue::Int(5400)));
    /// # Ok::<(), ays_hrd::HrdError>(())
    /// ```
    pub fn parse_value(&self, value: &str) -> Result<DefaultValue, ValidationError> {
        self.validate(value)?;
        let format = |expected: &'static str| ValidationError::Format {
            value: value.to_owned(),
            expected,
        };
        Ok(match self.ty {
            FieldType::Int | FieldType::IpPort => DefaultValue::Int(
                value
                    .trim()
                    .parse()
                    .map_err(|_| format("a decimal integer"))?,
            ),
            FieldType::Duration => {
                let secs = parse_positive_secs(value).map_err(|_| format("a duration"))?;
                DefaultValue::Int(
                    i64::try_from(secs).map_err(|_| format("a duration fitting Int64"))?,
                )
            }
            FieldType::Date => {
                DefaultValue::Int(parse_date(value).ok_or_else(|| format("a date"))?)
            }
            FieldType::Float => {
                DefaultValue::Float(parse_float(value).ok_or_else(|| format("a float"))?)
            }
            FieldType::Bool => {
                DefaultValue::Bool(parse_bool(value).ok_or_else(|| format("a boolean"))?)
            }
            FieldType::Set => DefaultValue::List(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| DefaultValue::Text(s.to_owned()))
                    .collect(),
            ),
            _ => DefaultValue::Text(value.to_owned()),
        })
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
    pub(crate) redefined: Vec<Located<String>>,
    pub(crate) ignored_parents: Vec<IgnoredParent>,
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
    /// become a Cap'n Proto field name, or two names that sanitise alike. A second parent is
    /// not an error: see [`ActorSchema::ignored_parents`].
    pub fn parse(src: &str, file: &str) -> Result<ActorSchema, HrdError> {
        let mut fields: Vec<SchemaField> = Vec::new();
        let mut redefined = Vec::new();
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
                    redefined.push(Located {
                        value: field.raw_name.clone(),
                        at: field.at.clone(),
                    });
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
        let (parent, consumes, ignored_parents) = relations::collect(&fields);
        Ok(ActorSchema {
            redefined,
            ignored_parents,
            fields,
            parent,
            consumes,
        })
    }

    /// The fields defined more than once, each at its later definition (which wins).
    pub fn redefined(&self) -> &[Located<String>] {
        &self.redefined
    }

    /// The fields that declare a parent after the first one did (plain fields, as in 8.1).
    pub fn ignored_parents(&self) -> &[IgnoredParent] {
        &self.ignored_parents
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
