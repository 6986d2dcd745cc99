//! Identifiers, validated once in `FromStr`: [`ActorName`], [`ActionName`], [`InstanceName`],
//! [`ServiceKey`] (`role!instance`) and [`RunId`]. Every crate of the workspace uses these; each
//! has one validation rule, here.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{name}`: {reason}")]
pub struct NameError {
    /// What kind of name (`actor name`, `service key`, …).
    pub what: &'static str,
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
    /// The part that was rejected, for a composite name (the role or the instance of a
    /// service key).
    #[source]
    pub part: Option<Box<NameError>>,
}

impl NameError {
    fn new(what: &'static str, name: &str, reason: &'static str) -> Self {
        NameError {
            what,
            name: name.to_owned(),
            reason,
            part: None,
        }
    }
}

/// Checks the characters every identifier shares: non-empty, at most 200 bytes, no `/`, `!`,
/// whitespace or control characters (store keys are built with `/` and `!` separators).
fn check_chars(what: &'static str, name: &str) -> Result<(), NameError> {
    let err = |reason| Err(NameError::new(what, name, reason));
    if name.is_empty() {
        return err("it is empty");
    }
    if name.len() > 200 {
        return err("it is longer than 200 bytes");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '!' || c.is_whitespace() || c.is_control())
    {
        return err("`/`, `!`, whitespace and control characters are not allowed");
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, NameError> {
                check_chars($what, s)?;
                let extra: fn(&str) -> Option<&'static str> = $check;
                if let Some(reason) = extra(s) {
                    return Err(NameError::new($what, s, reason));
                }
                Ok($name(s.to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

name_type!(
    /// An actor (template) name such as `node.ovc`: its role is the part before the first `.`.
    ActorName,
    "actor name",
    |s| (s.starts_with('.') || s.ends_with('.') || s.contains("__"))
        .then_some("it must not start or end with `.` nor hold `__`")
);

name_type!(
    /// An action name such as `install` or `processChange`: ASCII letters, digits and `_`.
    ActionName,
    "action name",
    |s| (!s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some("only ASCII letters, digits and `_` are allowed")
);

name_type!(
    /// The instance name of a service (`vm1`, `auto_0`); any text without `/`, `!` or spaces.
    InstanceName,
    "instance name",
    |_| None
);

name_type!(
    /// A run's identity, such as `1764502923000-1a2b0` (no `/`, `!` or white space).
    RunId,
    "run id",
    |_| None
);

impl RunId {
    /// A new run id: the time in ms, the process id and a per-process counter, so that ids
    /// sort by creation time and two processes never pick the same one.
    pub fn generate() -> RunId {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        RunId(format!("{ms:013}-{:x}{n}", std::process::id()))
    }
}

impl ActionName {
    /// Whether this action runs consumers first (`stop` and `uninstall`).
    pub fn is_teardown(&self) -> bool {
        matches!(self.0.as_str(), "stop" | "uninstall")
    }
}

impl ActorName {
    /// The role: the name up to its first `.` (`node.ovc` → `node`).
    pub fn role(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }
}

/// A service's identity in a repository: its role and instance name, printed `role!instance`.
///
/// Keys order as their text does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// `role!instance`.
    text: String,
    /// Where the `!` is.
    bang: usize,
}

impl ServiceKey {
    /// The key of `instance` of `actor`'s role.
    pub fn new(actor: &ActorName, instance: InstanceName) -> Self {
        let role = actor.role();
        ServiceKey {
            text: format!("{role}!{instance}"),
            bang: role.len(),
        }
    }

    /// The role (`node`).
    pub fn role(&self) -> &str {
        self.text.get(..self.bang).unwrap_or_default()
    }

    /// The instance name (`vm1`).
    pub fn instance(&self) -> &str {
        self.text.get(self.bang + 1..).unwrap_or_default()
    }

    /// The key as text, `role!instance`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for ServiceKey {
    type Err = NameError;

    /// Parses `role!instance`.
    fn from_str(s: &str) -> Result<Self, NameError> {
        let bad = |reason| NameError::new("service key", s, reason);
        let (role, instance) = s
            .split_once('!')
            .ok_or_else(|| bad("expected `role!instance`"))?;
        if role.contains('.') {
            return Err(bad("the role must not hold `.`"));
        }
        let part = |reason| {
            move |e: NameError| NameError {
                part: Some(Box::new(e)),
                ..bad(reason)
            }
        };
        let role: ActorName = role.parse().map_err(part("its role is not valid"))?;
        let instance: InstanceName = instance
            .parse()
            .map_err(part("its instance is not valid"))?;
        Ok(ServiceKey::new(&role, instance))
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for ServiceKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roles_cut_at_the_first_dot() {
        let a: ActorName = "node.ovc.x".parse().unwrap();
        assert_eq!(a.role(), "node");
        let k = ServiceKey::new(&a, "vm1".parse().unwrap());
        assert_eq!(k.to_string(), "node!vm1");
    }

    #[test]
    fn bad_names_say_why() {
        let e = "a/b".parse::<ActorName>().unwrap_err();
        assert_eq!(e.what, "actor name");
        assert!("a b".parse::<InstanceName>().is_err());
        assert!("in-stall".parse::<ActionName>().is_err());
        assert!("node.x!a".parse::<ServiceKey>().is_err());
        assert!("node".parse::<ServiceKey>().is_err());
        let e = "node!a b".parse::<ServiceKey>().unwrap_err();
        assert_eq!(e.reason, "its instance is not valid");
        let part = e.part.as_deref().unwrap();
        assert_eq!((part.what, part.name.as_str()), ("instance name", "a b"));
        assert!(part.reason.contains("whitespace"));
        assert_eq!("r/1".parse::<RunId>().unwrap_err().what, "run id");
        assert!("node!in:1".parse::<ServiceKey>().is_ok());
    }

    proptest! {
        #[test]
        fn service_keys_round_trip(role in "[a-z][a-z0-9]{0,10}", inst in "[a-zA-Z0-9_.é-]{1,12}") {
            let text = format!("{role}!{inst}");
            let key: ServiceKey = text.parse().unwrap();
            prop_assert_eq!(key.to_string(), text);
        }
    }
}
