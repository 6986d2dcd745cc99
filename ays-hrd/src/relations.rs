//! Relations declared in `schema.hrd`: the parent (`parent:role`) and consumed roles
//! (`consume:role[:min[:max]]`), as AYS 8.1 put them in its actor model.

use crate::location::Location;
use crate::schema::SchemaField;

/// The default `min` of a consume spec (8.1).
pub const DEFAULT_MIN: u8 = 0;
/// The default `max` of a consume spec (8.1).
pub const DEFAULT_MAX: u8 = 100;

/// The parent relation of an actor (`vdc = type:str parent:'vdc' auto`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Parent {
    /// The parent's actor role: the role as written, cut at its first `.` (`node.ssh` → `node`).
    pub role: String,
    /// The role as written.
    pub raw_role: String,
    /// Whether a missing parent is created automatically (`auto`).
    pub auto: bool,
    /// Whether the parent may be absent (`optional`).
    pub optional: bool,
    /// The blueprint argument naming the parent instance: the raw field name.
    pub arg_key: String,
    /// The sanitised field name (`argname` in 8.2's `config.yaml`).
    pub arg_name: String,
    /// Where the field is defined.
    pub at: Location,
}

/// A consumed role (`sshkey = type:str consume:sshkey:1 auto`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Consume {
    /// The producer's actor role: the role as written, cut at its first `.`.
    pub role: String,
    /// The role as written (`fs.btrfs`).
    pub raw_role: String,
    /// The minimum number of producers (default 0).
    pub min: u8,
    /// The maximum number of producers (default 100).
    pub max: u8,
    /// Whether missing producers are created automatically (`auto`).
    pub auto: bool,
    /// The blueprint argument naming the producer instances: the raw field name.
    pub arg_key: String,
    /// The sanitised field name (`argname` in 8.2's `config.yaml`).
    pub arg_name: String,
    /// Where the field is defined.
    pub at: Location,
}

/// A parsed `consume:` option value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumeSpec {
    pub(crate) role: String,
    pub(crate) min: u8,
    pub(crate) max: u8,
}

/// Parses `role[:min[:max]]`; the error says what is wrong.
pub(crate) fn parse_consume(spec: &str) -> Result<ConsumeSpec, String> {
    if spec.contains(',') {
        return Err(
            "several comma-separated roles are not supported (AYS 8.1 kept only the last)".into(),
        );
    }
    let mut parts = spec.split(':');
    let role = parts.next().unwrap_or_default().trim();
    if role.is_empty() || role.starts_with('.') {
        return Err("the role is empty".into());
    }
    let count = |part: Option<&str>, default: u8, what: &str| -> Result<u8, String> {
        match part {
            None => Ok(default),
            Some(p) => p
                .trim()
                .parse::<u8>()
                .map_err(|e| format!("{what} `{p}` is not a count in 0..=255 ({e})")),
        }
    };
    let min = count(parts.next(), DEFAULT_MIN, "min")?;
    let max = count(parts.next(), DEFAULT_MAX, "max")?;
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected `:{extra}` after `role:min:max`"));
    }
    if min > max {
        return Err(format!("min {min} is greater than max {max}"));
    }
    Ok(ConsumeSpec {
        role: role.to_owned(),
        min,
        max,
    })
}

fn cut_role(role: &str) -> String {
    role.split('.').next().unwrap_or(role).to_owned()
}

/// A field declaring a `parent:` after another one did: as in 8.1, which used one, the first
/// is the parent and this one is a plain field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredParent {
    /// The later parent field.
    pub field: String,
    /// Where it starts.
    pub at: Location,
    /// The parent field, the first.
    pub first: String,
    /// Where that starts.
    pub first_at: Location,
}

impl std::fmt::Display for IgnoredParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: field `{}` declares a second parent: it is a plain field, and field `{}` at {} the parent",
            self.at, self.field, self.first, self.first_at
        )
    }
}

/// The relations of the fields: the first `parent:` field (later ones are returned as
/// ignored), and one consume per field with `consume:` and no `parent:`.
pub(crate) fn collect(
    fields: &[SchemaField],
) -> (Option<Parent>, Vec<Consume>, Vec<IgnoredParent>) {
    let mut parent: Option<Parent> = None;
    let mut consumes = Vec::new();
    let mut ignored = Vec::new();
    for f in fields {
        if let Some(raw_role) = &f.parent {
            if let Some(first) = &parent {
                ignored.push(IgnoredParent {
                    field: f.raw_name.clone(),
                    at: f.at.clone(),
                    first: first.arg_key.clone(),
                    first_at: first.at.clone(),
                });
                continue;
            }
            parent = Some(Parent {
                role: cut_role(raw_role),
                raw_role: raw_role.clone(),
                auto: f.auto,
                optional: f.optional,
                arg_key: f.raw_name.clone(),
                arg_name: f.name.clone(),
                at: f.at.clone(),
            });
        } else if let Some(spec) = &f.consume {
            consumes.push(Consume {
                role: cut_role(&spec.role),
                raw_role: spec.role.clone(),
                min: spec.min,
                max: spec.max,
                auto: f.auto,
                arg_key: f.raw_name.clone(),
                arg_name: f.name.clone(),
                at: f.at.clone(),
            });
        }
    }
    (parent, consumes, ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_specs_parse_with_8_1_defaults() {
        let spec = |role: &str, min, max| ConsumeSpec {
            role: role.into(),
            min,
            max,
        };
        assert_eq!(parse_consume("sshkey"), Ok(spec("sshkey", 0, 100)));
        assert_eq!(parse_consume("sshkey:1"), Ok(spec("sshkey", 1, 100)));
        assert_eq!(
            parse_consume("storage_pool:0:50"),
            Ok(spec("storage_pool", 0, 50))
        );
        assert_eq!(parse_consume("fs.btrfs:1"), Ok(spec("fs.btrfs", 1, 100)));
        assert_eq!(
            parse_consume("a:2:1").unwrap_err(),
            "min 2 is greater than max 1"
        );
        assert!(
            parse_consume("a:x")
                .unwrap_err()
                .starts_with("min `x` is not a count")
        );
        assert!(parse_consume("a,b").unwrap_err().starts_with("several"));
    }
}
