//! `actor.hrd`: the recurring actions of an actor (`recurring.<action>` blocks), with every
//! other key kept in the generic [`Document`].

use std::time::Duration;

use crate::ast::{Document, Value};
use crate::duration::parse_positive_secs;
use crate::error::HrdError;
use crate::location::Location;
use crate::parser::parse_document;

/// A recurring action: in `actor.hrd`, `recurring.monitor =` followed by `period: 30s,` and
/// `log: True,`; in `config.yaml`, an entry of `recurring:` ([`ConfigYaml`](crate::ConfigYaml)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecurringAction {
    /// The action name (the key after `recurring.`, or `action:`).
    pub action: String,
    /// How often the action runs (positive in `actor.hrd`; `config.yaml` allows zero).
    pub period: Duration,
    /// Whether the action's runs are logged (default `true`).
    pub log: bool,
    /// Where the entry starts.
    pub at: Location,
}

/// A parsed `actor.hrd`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorConfig {
    recurring: Vec<RecurringAction>,
    document: Document,
}

impl ActorConfig {
    /// Parses an `actor.hrd`: every `recurring.<action>` entry must be a dict with a `period`
    /// (`30s`, `5m`, `1h`, `1d`, `2w`, combinations such as `1h30m`, or whole seconds) and an
    /// optional boolean `log`.
    ///
    /// # Errors
    ///
    /// Returns the [`HrdError`] of [`parse_document`], or a located error for a recurring
    /// entry that is not a dict, lacks a `period`, has an unknown key, a bad period or a `log`
    /// that is not a boolean.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let src = "recurring.monitor =\n    period: 5m,\n    log: True,\n\nflists.x = a\n";
    /// let config = ays_hrd::ActorConfig::parse_actor_hrd(src, "actor.hrd")?;
    /// let monitor = &config.recurring()[0];
    /// assert_eq!((monitor.action.as_str(), monitor.period, monitor.log), ("monitor", Duration::from_secs(300), true));
    /// assert!(config.document().get("flists.x").is_some());
    /// # Ok::<(), ays_hrd::HrdError>(())
    /// ```
    pub fn parse_actor_hrd(src: &str, file: &str) -> Result<ActorConfig, HrdError> {
        let document = parse_document(src, file)?;
        let mut recurring = Vec::new();
        for (action, entry) in document.with_prefix("recurring") {
            let unexpected = |expected: &'static str, found: String| HrdError::Unexpected {
                at: entry.at.clone(),
                key: entry.key.clone(),
                expected,
                found,
            };
            let Value::Dict(pairs) = &entry.value else {
                return Err(unexpected(
                    "a block of `period: 30s,` and `log: True,` items",
                    entry
                        .value
                        .to_text()
                        .unwrap_or_else(|| entry.value.kind().to_owned()),
                ));
            };
            if action.is_empty() || action.contains('.') {
                return Err(unexpected(
                    "`recurring.<action>` with a plain action name",
                    entry.key.clone(),
                ));
            }
            let mut period = None;
            let mut log = true;
            for (k, v) in pairs {
                match k.as_str() {
                    "period" => {
                        let text = v.to_text().ok_or_else(|| {
                            unexpected("a period such as `30s`", v.kind().to_owned())
                        })?;
                        let secs =
                            parse_positive_secs(&text).map_err(|reason| HrdError::BadPeriod {
                                at: entry.at.clone(),
                                action: action.to_owned(),
                                period: text.clone(),
                                reason,
                            })?;
                        period = Some(Duration::from_secs(secs));
                    }
                    "log" => {
                        // A quoted `'True'` is a string; accept it as 8.1's getBool did.
                        let quoted = v.as_str().and_then(crate::validation::parse_bool);
                        log = v.as_bool().or(quoted).ok_or_else(|| {
                            unexpected(
                                "`log: true` or `log: false`",
                                v.to_text().unwrap_or_default(),
                            )
                        })?;
                    }
                    other => {
                        return Err(unexpected("only `period` and `log` keys", other.to_owned()));
                    }
                }
            }
            let period = period.ok_or_else(|| {
                let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
                unexpected("a `period` item", keys.join(", "))
            })?;
            recurring.push(RecurringAction {
                action: action.to_owned(),
                period,
                log,
                at: entry.at.clone(),
            });
        }
        Ok(ActorConfig {
            recurring,
            document,
        })
    }

    /// The recurring actions in file order.
    pub fn recurring(&self) -> &[RecurringAction] {
        &self.recurring
    }

    /// The whole document, for the other keys (`flists.<name>`, `event.*`, …).
    pub fn document(&self) -> &Document {
        &self.document
    }
}
