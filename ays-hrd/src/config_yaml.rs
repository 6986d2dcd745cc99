//! Rendering of the 8.2 `config.yaml` of a migrated template: relations, property docs and
//! recurring actions (`hrd.md` §3.8).

use crate::actor_config::ActorConfig;
use crate::duration::format_duration;
use crate::schema::ActorSchema;

/// Renders the `config.yaml` that AYS 8.2's template upgrader wrote next to `schema.capnp`:
///
/// ```yaml
/// links:
///   parent:                 # only when a field has `parent:`
///     role: "vdc"
///     argname: "vdc"
///     auto: true
///     optional: false
///   consume:
///     - role: "sshkey"
///       argname: "sshkey"
///       auto: true
///       min: 1
///       max: 100
/// doc:
///   property:
///     - image: "the OS image"
/// recurring:
///   - action: "monitor"
///     period: "30s"
///     log: true
/// ```
///
/// Output is deterministic. Every string is double-quoted with YAML escapes, so any text is
/// safe. Deviations from 8.2: `parent.role` and `consume[].role` are the roles as written
/// (8.2 sanitised the parent role), `parent.argname` is added (as in later 8.2 templates),
/// and `min`/`max` are always integers (8.2 kept written counts as strings).
///
/// ```
/// let schema = ays_hrd::ActorSchema::parse("vdc = type:str parent:'vdc' auto\n", "schema.hrd")?;
/// let yaml = ays_hrd::config_yaml(&schema, None);
/// assert!(yaml.starts_with("links:\n  parent:\n    role: \"vdc\"\n"));
/// # Ok::<(), ays_hrd::HrdError>(())
/// ```
pub fn config_yaml(schema: &ActorSchema, config: Option<&ActorConfig>) -> String {
    let mut out = String::from("links:\n");
    if let Some(p) = schema.parent() {
        out.push_str("  parent:\n");
        out.push_str(&format!("    role: {}\n", quote(&p.raw_role)));
        out.push_str(&format!("    argname: {}\n", quote(&p.arg_name)));
        out.push_str(&format!("    auto: {}\n", p.auto));
        out.push_str(&format!("    optional: {}\n", p.optional));
    }
    if schema.consumes().is_empty() {
        out.push_str("  consume: []\n");
    } else {
        out.push_str("  consume:\n");
        for c in schema.consumes() {
            out.push_str(&format!("    - role: {}\n", quote(&c.raw_role)));
            out.push_str(&format!("      argname: {}\n", quote(&c.arg_name)));
            out.push_str(&format!("      auto: {}\n", c.auto));
            out.push_str(&format!("      min: {}\n", c.min));
            out.push_str(&format!("      max: {}\n", c.max));
        }
    }
    out.push_str("doc:\n");
    if schema.fields().is_empty() {
        out.push_str("  property: []\n");
    } else {
        out.push_str("  property:\n");
        for f in schema.fields() {
            out.push_str(&format!(
                "    - {}: {}\n",
                f.name(),
                quote(f.description().unwrap_or(""))
            ));
        }
    }
    let recurring = config.map(ActorConfig::recurring).unwrap_or_default();
    if recurring.is_empty() {
        out.push_str("recurring: []\n");
    } else {
        out.push_str("recurring:\n");
        for r in recurring {
            out.push_str(&format!("  - action: {}\n", quote(&r.action)));
            out.push_str(&format!(
                "    period: {}\n",
                quote(&format_duration(r.period))
            ));
            out.push_str(&format!("    log: {}\n", r.log));
        }
    }
    out
}

/// A YAML double-quoted scalar.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_everything_special() {
        assert_eq!(quote("a\"b\\c\nd\u{7}"), "\"a\\\"b\\\\c\\nd\\u0007\"");
    }
}
