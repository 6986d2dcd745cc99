//! Durations as templates write them (`30s`, `5m`, `1h30m`, `1d`, `2w`, or whole seconds): the
//! one parser behind `actor.hrd` periods, `config.yaml` settings, the `duration` field type and
//! (through ays-core) blueprints, and the writer that prints them back.

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("{}", self.reason())]
pub enum DurationError {
    /// The text is empty or blank.
    Empty,
    /// A character that is neither a digit nor one of the units `s`, `m`, `h`, `d`, `w`.
    UnknownUnit,
    /// A unit with no number before it (`m`, `5mh`).
    UnitWithoutNumber,
    /// A number after a unit, without a unit of its own (`5m3`).
    NumberWithoutUnit,
    /// More seconds than a `u64` holds.
    TooLarge,
}

impl DurationError {
    /// The message, also used where a field holds a `&'static str` reason
    /// ([`HrdError::BadPeriod`](crate::HrdError::BadPeriod)).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            DurationError::Empty => "the duration is empty",
            DurationError::UnknownUnit => "expected a number followed by `s`, `m`, `h`, `d` or `w`",
            DurationError::UnitWithoutNumber => "a unit is not preceded by a number",
            DurationError::NumberWithoutUnit => "a number after a unit needs its own unit",
            DurationError::TooLarge => "the duration is too large",
        }
    }
}

/// Parses a duration: whole seconds (`30`), or numbers each followed by a unit (`s`, `m`, `h`,
/// `d`, `w`) and added up (`1h30m`). Surrounding whitespace is ignored; zero is a duration.
///
/// # Errors
///
/// A [`DurationError`] saying what is wrong.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(ays_hrd::parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
/// assert_eq!(ays_hrd::parse_duration(" 45 "), Ok(Duration::from_secs(45)));
/// assert_eq!(ays_hrd::parse_duration("0s"), Ok(Duration::ZERO));
/// assert_eq!(ays_hrd::parse_duration("5m3"), Err(ays_hrd::DurationError::NumberWithoutUnit));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let secs = text.parse().map_err(|_| DurationError::TooLarge)?;
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(DurationError::UnknownUnit),
        };
        if number.is_empty() {
            return Err(DurationError::UnitWithoutNumber);
        }
        let n: u64 = number.parse().map_err(|_| DurationError::TooLarge)?;
        number.clear();
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or(DurationError::TooLarge)?;
    }
    if !number.is_empty() {
        return Err(DurationError::NumberWithoutUnit);
    }
    Ok(Duration::from_secs(total))
}

/// Parses a duration that must be positive (a recurring period, a `duration` field value), in
/// whole seconds; the error is a reason in words.
pub(crate) fn parse_positive_secs(text: &str) -> Result<u64, &'static str> {
    match parse_duration(text) {
        Ok(d) if d.is_zero() => Err("the period must be positive"),
        Ok(d) => Ok(d.as_secs()),
        Err(e) => Err(e.reason()),
    }
}

/// Prints a duration in the largest unit that divides it: `90m`, `1d`, `45s`, `0s`. Sub-second
/// parts are dropped (templates count whole seconds); [`parse_duration`] reads the text back to
/// the same number of seconds.
pub(crate) fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    for (unit, size) in [("w", 604_800u64), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs > 0 && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_units_and_whole_seconds() {
        let secs = |t| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(
            [
                secs("30s"),
                secs("1h30m"),
                secs("12"),
                secs("0"),
                secs("1w1d")
            ],
            [Ok(30), Ok(5_400), Ok(12), Ok(0), Ok(691_200)]
        );
        assert_eq!(
            [secs(""), secs("x"), secs("m"), secs("5m3"), secs("+5")],
            [
                Err(DurationError::Empty),
                Err(DurationError::UnknownUnit),
                Err(DurationError::UnitWithoutNumber),
                Err(DurationError::NumberWithoutUnit),
                Err(DurationError::UnknownUnit),
            ]
        );
        assert_eq!(
            [secs("99999999999999999999"), secs("99999999999999w")],
            [Err(DurationError::TooLarge), Err(DurationError::TooLarge)]
        );
    }

    #[test]
    fn periods_must_be_positive() {
        assert_eq!(parse_positive_secs("1h30m"), Ok(5_400));
        assert_eq!(
            parse_positive_secs("0s"),
            Err("the period must be positive")
        );
        assert_eq!(
            parse_positive_secs("5m3"),
            Err("a number after a unit needs its own unit")
        );
    }

    #[test]
    fn durations_print_in_the_largest_exact_unit() {
        let p = |s| format_duration(Duration::from_secs(s));
        assert_eq!(
            [p(30), p(300), p(5400), p(86_400), p(1_209_600), p(61), p(0)],
            ["30s", "5m", "90m", "1d", "2w", "61s", "0s"]
        );
    }
}
