//! Conversion of an [`ActorSchema`] to Cap'n Proto schema text, byte-compatible with the AYS
//! 8.1 and 8.2 generators except for the (now deterministic) id line.

use sha2::{Digest, Sha256};

use crate::error::HrdError;
use crate::schema::{ActorSchema, DefaultValue, SchemaField};

/// Which generator's output to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CapnpStyle {
    /// AYS 8.1: no defaults in the schema (they are applied when a service is created).
    Ays81,
    /// AYS 8.2: ` = default` on every non-list field whose default (explicit or implicit) is
    /// not empty. The default of `ays schema convert`.
    #[default]
    Ays82,
}

/// The prefix hashed with the actor name by [`schema_id`]. Changing it changes every id.
const ID_PREFIX: &[u8] = b"ays-hrd schema id v1\0";

/// The Cap'n Proto file id of an actor's schema: the first 8 bytes (big-endian) of
/// `SHA-256("ays-hrd schema id v1\0" + actor_name)` with bit 63 set, so converting twice gives
/// the same text (AYS 8.1 drew a random id on every conversion).
///
/// ```
/// let id = ays_hrd::schema_id("node.ovc");
/// assert_eq!(id, ays_hrd::schema_id("node.ovc"));
/// assert_ne!(id & (1 << 63), 0);
/// ```
pub fn schema_id(actor_name: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(ID_PREFIX);
    hasher.update(actor_name.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    for (dst, src) in first.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    u64::from_be_bytes(first) | (1 << 63)
}

impl ActorSchema {
    /// Renders the schema as Cap'n Proto text, laid out byte for byte as AYS did: an empty
    /// line, `@0x<id>;`, `struct Schema {`, one TAB-indented line per field, an empty line and
    /// `}`.
    ///
    /// Text defaults are escaped (`\"`, `\\`, `\n`, `\t`, `\xNN`), so a default holding a `"`
    /// or a newline gives valid Cap'n Proto where 8.2 gave broken text; defaults without such
    /// characters render exactly as 8.2 rendered them.
    ///
    /// # Errors
    ///
    /// Returns [`HrdError::BadActorName`] when `actor_name` is empty or holds a control
    /// character.
    pub fn to_capnp(&self, actor_name: &str, style: CapnpStyle) -> Result<String, HrdError> {
        if actor_name.is_empty() {
            return Err(HrdError::BadActorName {
                name: actor_name.to_owned(),
                reason: "the name is empty",
            });
        }
        if actor_name.chars().any(char::is_control) {
            return Err(HrdError::BadActorName {
                name: actor_name.to_owned(),
                reason: "the name holds a control character",
            });
        }
        let mut out = String::with_capacity(64 + 40 * self.fields.len());
        out.push_str(&format!(
            "\n@0x{:016x};\nstruct Schema {{\n",
            schema_id(actor_name)
        ));
        for (ordinal, field) in self.fields.iter().enumerate() {
            out.push_str(&format!(
                "\t{} @{} :{}",
                field.name,
                ordinal,
                field.capnp_type()
            ));
            if style == CapnpStyle::Ays82
                && let Some(default) = rendered_default(field)
            {
                out.push_str(" = ");
                out.push_str(&default);
            }
            out.push_str(";\n");
        }
        out.push_str("\n}\n");
        Ok(out)
    }
}

/// The ` = …` text 8.2 wrote for a field, if any: never for lists, never for an empty text.
fn rendered_default(field: &SchemaField) -> Option<String> {
    if field.is_list() {
        return None;
    }
    match field.effective_default()? {
        DefaultValue::Text(t) if t.is_empty() => None,
        DefaultValue::Text(t) => Some(capnp_text_literal(&t)),
        DefaultValue::Int(i) => Some(i.to_string()),
        DefaultValue::Float(f) => Some(python_float_repr(f)),
        DefaultValue::Bool(b) => Some(b.to_string()),
        DefaultValue::List(_) => None,
    }
}

/// A Cap'n Proto text literal, with C-style escapes.
pub(crate) fn capnp_text_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Python's `repr(float)`: the shortest round-tripping digits, positional for exponents in
/// `-4..16` (always with a `.0` or fraction), scientific otherwise (`1e-05`, `1e+16`).
pub(crate) fn python_float_repr(f: f64) -> String {
    if !f.is_finite() {
        return format!("{f}");
    }
    // `{:e}` gives the shortest round-tripping digits as `d.ddde<exp>`.
    let sci = format!("{f:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return format!("{f:?}");
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return format!("{f:?}");
    };
    if (-4..16).contains(&exp) {
        let plain = format!("{f}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_render_like_python() {
        for (f, want) in [
            (0.0, "0.0"),
            (1.5, "1.5"),
            (-2.0, "-2.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (1.5e16, "1.5e+16"),
            (123456789.0, "123456789.0"),
            (0.0001, "0.0001"),
        ] {
            assert_eq!(python_float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn text_literals_escape_what_8_2_left_raw() {
        assert_eq!(capnp_text_literal("a \"b\"\n\\"), r#""a \"b\"\n\\""#);
        assert_eq!(capnp_text_literal("\u{1}"), r#""\x01""#);
    }

    #[test]
    fn schema_ids_are_stable_and_have_bit_63() {
        let a = schema_id("node.ovc");
        assert_eq!(a, schema_id("node.ovc"));
        assert_ne!(a, schema_id("node.kvm"));
        assert_eq!(a >> 63, 1);
    }
}
