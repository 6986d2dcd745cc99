//! Validation rules for the field types AYS 8.1 knew but could not convert (`ipaddr`, `email`,
//! `date`, …), and the value conversions they share with defaults.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::duration::parse_positive_secs;
use crate::error::ValidationError;

/// The check a field's type imposes on a value given as text (for example a blueprint
/// argument), beyond what its Cap'n Proto type can express.
///
/// Obtain it with [`SchemaField::validation_rule`](crate::SchemaField::validation_rule) and
/// apply it with [`ValidationRule::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValidationRule {
    /// Any text (`str`, `multiline`).
    Text,
    /// A signed decimal integer fitting `i64` (`int`).
    Int,
    /// A finite decimal float fitting `f32` (`float`).
    Float,
    /// `0`, `1`, `true` or `false`, in any case (`bool`).
    Bool,
    /// An IPv4 or IPv6 address (`ipaddr`).
    IpAddr,
    /// An address with a prefix length in CIDR form, `10.0.0.0/8` or `fd00::/8` (`iprange`).
    IpRange,
    /// A port number in `1..=65535` (`ipport`).
    IpPort,
    /// `local@domain` with a non-empty local part, a dotted domain and no whitespace
    /// (`email`).
    Email,
    /// A phone number: an optional leading `+`, then digits, spaces, `-`, `.`, `(` and `)`,
    /// with 3 to 20 digits (`tel`).
    Tel,
    /// A JSON object (`dict`).
    JsonObject,
    /// Any JSON value (`json`, and `yaml`, whose values are stored as JSON).
    Json,
    /// Comma-separated items, each unique (`set`).
    UniqueItems,
    /// A UUID in the hyphenated 8-4-4-4-12 hexadecimal form (`guid`).
    Guid,
    /// A duration: whole seconds, or numbers with units such as `30s`, `5m`, `1h30m`, `1d`,
    /// `2w` (`duration`).
    Duration,
    /// Epoch seconds, a date `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SSZ` in UTC (`date`).
    Date,
}

impl ValidationRule {
    /// Checks `value` against the rule.
    ///
    /// # Errors
    ///
    /// Returns a [`ValidationError`] holding the value and what was expected.
    ///
    /// # Example
    ///
    /// ```
    /// use ays_hrd::ValidationRule;
    ///
    /// assert!(ValidationRule::IpAddr.validate("10.0.0.1").is_ok());
    /// let err = ValidationRule::IpAddr.validate("10.0.0.256").unwrap_err();
    /// assert_eq!(err.to_string(), "`10.0.0.256` is not an IPv4 or IPv6 address");
    /// ```
    pub fn validate(&self, value: &str) -> Result<(), ValidationError> {
        let format = |expected: &'static str| ValidationError::Format {
            value: value.to_owned(),
            expected,
        };
        match self {
            ValidationRule::Text => Ok(()),
            ValidationRule::Int => value
                .trim()
                .parse::<i64>()
                .map(drop)
                .map_err(|_| format("a decimal integer")),
            ValidationRule::Float => parse_float(value)
                .map(drop)
                .ok_or_else(|| format("a float")),
            ValidationRule::Bool => parse_bool(value)
                .map(drop)
                .ok_or_else(|| format("`0`, `1`, `true` or `false`")),
            ValidationRule::IpAddr => value
                .parse::<IpAddr>()
                .map(drop)
                .map_err(|_| format("an IPv4 or IPv6 address")),
            ValidationRule::IpRange => is_cidr(value)
                .then_some(())
                .ok_or_else(|| format("an address range in CIDR form (`10.0.0.0/8`)")),
            ValidationRule::IpPort => {
                let port: i64 = value.trim().parse().map_err(|_| format("a port number"))?;
                if (1..=65535).contains(&port) {
                    Ok(())
                } else {
                    Err(ValidationError::OutOfRange {
                        value: value.to_owned(),
                        min: "1".into(),
                        max: "65535".into(),
                    })
                }
            }
            ValidationRule::Email => is_email(value)
                .then_some(())
                .ok_or_else(|| format("an email address")),
            ValidationRule::Tel => is_tel(value)
                .then_some(())
                .ok_or_else(|| format("a phone number")),
            ValidationRule::JsonObject => match serde_json::from_str::<serde_json::Value>(value) {
                Ok(serde_json::Value::Object(_)) => Ok(()),
                _ => Err(format("a JSON object")),
            },
            ValidationRule::Json => serde_json::from_str::<serde_json::Value>(value)
                .map(drop)
                .map_err(|_| format("JSON")),
            ValidationRule::UniqueItems => {
                let mut seen = HashSet::new();
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !seen.insert(item) {
                        return Err(ValidationError::DuplicateItem {
                            value: value.to_owned(),
                            item: item.to_owned(),
                        });
                    }
                }
                Ok(())
            }
            ValidationRule::Guid => is_guid(value)
                .then_some(())
                .ok_or_else(|| format("a UUID (8-4-4-4-12 hex digits)")),
            ValidationRule::Duration => parse_positive_secs(value)
                .map(drop)
                .map_err(|_| format("a duration such as `30s`, `5m`, `1h` or `1d`")),
            ValidationRule::Date => parse_date(value)
                .map(drop)
                .ok_or_else(|| format("epoch seconds, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`")),
        }
    }
}

/// Parses a finite float that also fits `f32` (the schema's `Float32`).
pub(crate) fn parse_float(value: &str) -> Option<f64> {
    let f: f64 = value.trim().parse().ok()?;
    (f.is_finite() && f.abs() <= f64::from(f32::MAX)).then_some(f)
}

/// Parses `0`, `1`, `true` or `false` in any case.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim();
    if v == "1" || v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v == "0" || v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn is_cidr(value: &str) -> bool {
    let Some((addr, prefix)) = value.split_once('/') else {
        return false;
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return false;
    };
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    match addr {
        IpAddr::V4(_) => prefix <= 32,
        IpAddr::V6(_) => prefix <= 128,
    }
}

fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let no_space = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == '@');
    no_space(local)
        && no_space(domain)
        && domain.contains('.')
        && domain.split('.').all(|p| !p.is_empty())
}

fn is_tel(value: &str) -> bool {
    let body = value.strip_prefix('+').unwrap_or(value);
    let allowed = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'));
    let digits = body.chars().filter(char::is_ascii_digit).count();
    allowed && (3..=20).contains(&digits)
}

fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    let lens = [8usize, 4, 4, 4, 12];
    groups.len() == lens.len()
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses epoch seconds, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC) into epoch seconds.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year = fixed_digits(parts.next()?, 4)?;
    let month = fixed_digits(parts.next()?, 2)?;
    let day = fixed_digits(parts.next()?, 2)?;
    if parts.next().is_some()
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
    {
        return None;
    }
    let secs_of_day = match time {
        None => 0,
        Some(t) => {
            let mut hms = t.split(':');
            let h = fixed_digits(hms.next()?, 2)?;
            let m = fixed_digits(hms.next()?, 2)?;
            let s = fixed_digits(hms.next()?, 2)?;
            if hms.next().is_some() || h > 23 || m > 59 || s > 59 {
                return None;
            }
            h * 3_600 + m * 60 + s
        }
    };
    Some(days_from_civil(year, month, day) * 86_400 + secs_of_day)
}

fn fixed_digits(s: &str, n: usize) -> Option<i64> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm); the
/// inputs are bounded by [`parse_date`] (4-digit year), so nothing overflows.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_accept_and_reject() {
        let cases: &[(ValidationRule, &str, bool)] = &[
            (ValidationRule::IpAddr, "::1", true),
            (ValidationRule::IpAddr, "host", false),
            (ValidationRule::IpRange, "10.0.0.0/8", true),
            (ValidationRule::IpRange, "10.0.0.0/33", false),
            (ValidationRule::IpRange, "fd00::/8", true),
            (ValidationRule::IpPort, "22", true),
            (ValidationRule::IpPort, "0", false),
            (ValidationRule::IpPort, "65536", false),
            (ValidationRule::Email, "a@b.io", true),
            (ValidationRule::Email, "a@b", false),
            (ValidationRule::Tel, "+32 (0)9-123.45", true),
            (ValidationRule::Tel, "call me", false),
            (ValidationRule::JsonObject, r#"{"a": 1}"#, true),
            (ValidationRule::JsonObject, "[1]", false),
            (ValidationRule::Json, "[1]", true),
            (ValidationRule::UniqueItems, "a, b", true),
            (ValidationRule::UniqueItems, "a, b, a", false),
            (
                ValidationRule::Guid,
                "123e4567-e89b-12d3-a456-426614174000",
                true,
            ),
            (
                ValidationRule::Guid,
                "123e4567e89b12d3a456426614174000",
                false,
            ),
            (ValidationRule::Duration, "1h30m", true),
            (ValidationRule::Duration, "1x", false),
            (ValidationRule::Date, "2017-01-03", true),
            (ValidationRule::Date, "2017-02-30", false),
            (ValidationRule::Float, "1e39", false),
            (ValidationRule::Bool, "yes", false),
        ];
        for (rule, value, ok) in cases {
            assert_eq!(rule.validate(value).is_ok(), *ok, "{rule:?} {value}");
        }
    }

    #[test]
    fn dates_and_ports_convert() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2017-01-03T10:00:00Z"), Some(1_483_437_600));
        assert_eq!(parse_date("-5"), Some(-5));
        assert_eq!(
            ValidationRule::IpPort.validate("0"),
            Err(ValidationError::OutOfRange {
                value: "0".into(),
                min: "1".into(),
                max: "65535".into()
            })
        );
    }
}
