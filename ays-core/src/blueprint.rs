//! Blueprints: YAML files that create or update services and schedule their actions.
//!
//! Applying blueprints is atomic: every block of every file is parsed, validated and resolved
//! against the repository first (in file order, so a block may name a parent or producer
//! declared later, even in a later file), and the whole result is then written in one batch. A
//! bad blueprint changes nothing. A dry run computes the same [`BlueprintReport`] and writes
//! nothing.
//!
//! Deliberate differences from AYS 8.1:
//! - an invalid blueprint is an error naming the file, line and key (8.1 logged and skipped it,
//!   or left a half-applied repository);
//! - unknown actors, duplicate service keys (in one file or across files), unknown attributes
//!   and values of the wrong type are errors;
//! - re-applying a blueprint with changed values writes them into the service data and
//!   schedules the actor's `processChange` action (if it has one) with the changed field names
//!   in its args; an unchanged blueprint changes nothing;
//! - a template's `input` and `init` run as in 8.1 (see [`crate::creation`]), but inside the
//!   blueprint's unit of work: what they create, link or save is checked and written in the
//!   same batch, and a failing one rejects the blueprint. Services are linked and initialised
//!   in blueprint order once every block's service exists, so a block may still name a parent
//!   or producer declared further down.

mod apply;
mod duplicate_key;
mod parse;
mod value;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::action_state::ActionState;
use crate::error::{BlueprintError, CoreError};
use crate::ids::{ActionName, ActorName, ServiceKey};
use crate::repo::Repository;

/// Options of [`Repository::apply_blueprints`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Compute the report and write nothing.
    pub dry_run: bool,
}

/// A service whose data a blueprint changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdatedService {
    /// The service.
    pub key: ServiceKey,
    /// The changed data fields (Cap'n Proto names), in blueprint order.
    pub changed: Vec<String>,
    /// Each changed field with its value before and after, in the same order: what a
    /// blueprint puts back over what actions changed (drift) is visible before it is applied.
    pub fields: Vec<FieldChange>,
}

/// One data field a blueprint changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// The field (Cap'n Proto name).
    pub field: String,
    /// Its value before, as JSON (`null` when it had none).
    pub old: serde_json::Value,
    /// Its value after, as JSON.
    pub new: serde_json::Value,
}

/// An action whose state a blueprint changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduledAction {
    /// The service.
    pub key: ServiceKey,
    /// The action.
    pub action: ActionName,
    /// Its state before.
    pub from: ActionState,
    /// Its state after.
    pub to: ActionState,
}

/// What applying blueprints did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlueprintReport {
    /// The blueprint files applied, in order.
    pub files: Vec<String>,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Actors created from templates.
    pub actors_created: Vec<ActorName>,
    /// Services created (auto-created ones included), in creation order.
    pub created: Vec<ServiceKey>,
    /// Services whose data changed.
    pub updated: Vec<UpdatedService>,
    /// Actions whose state changed.
    pub scheduled: Vec<ScheduledAction>,
}

impl BlueprintReport {
    /// Whether the blueprints changed nothing.
    pub fn is_empty(&self) -> bool {
        self.actors_created.is_empty()
            && self.created.is_empty()
            && self.updated.is_empty()
            && self.scheduled.is_empty()
    }
}

/// Checks that `text` reads as a blueprint, without resolving it against a repository or
/// applying it: valid YAML within the nesting and alias limits, a mapping of
/// `actor__instance` blocks, `actions:` and `eventfilters:` entries of the right shape. What
/// needs the repository (that the actors exist, attribute names and types, parents,
/// producers) is checked when the blueprint is applied. `name` is the file name errors
/// mention.
///
/// # Errors
///
/// [`BlueprintError::Syntax`] (invalid YAML, aliases that expand beyond the YAML loader's
/// budget), [`BlueprintError::TooDeep`], [`BlueprintError::Malformed`],
/// [`BlueprintError::Duplicate`], naming the file and line.
pub fn check_blueprint(name: &str, text: &str) -> Result<(), BlueprintError> {
    parse::parse(name, text, &mut parse::Parsed::default())
}

impl Repository {
    /// The active blueprints of `blueprints/` (`*.yaml`/`*.yml`, not `_`-prefixed), in file-name
    /// order.
    ///
    /// # Errors
    ///
    /// [`CoreError::Io`].
    pub fn blueprint_files(&self) -> Result<Vec<PathBuf>, CoreError> {
        let dir = self.blueprints_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CoreError::Io {
                    op: "cannot read",
                    path: dir,
                    source,
                });
            }
        };
        let mut files = Vec::new();
        for e in entries {
            let e = e.map_err(CoreError::io("cannot read", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
            if yaml && !name.starts_with('_') && !name.starts_with('.') && e.path().is_file() {
                files.push(e.path());
            }
        }
        files.sort();
        Ok(files)
    }

    /// Applies every active blueprint of `blueprints/` as one unit (`ays blueprint
    /// [--dry-run]`).
    ///
    /// # Errors
    ///
    /// [`CoreError::Blueprint`] naming the file, line and key of the first problem; nothing is
    /// written. [`CoreError::Store`] and [`CoreError::Corrupt`] for store failures.
    pub fn apply_blueprints(&self, options: ApplyOptions) -> Result<BlueprintReport, CoreError> {
        let files = self.blueprint_files()?;
        self.apply_blueprint_files(files, options)
    }

    /// Applies one blueprint file (`ays blueprint PATH [--dry-run]`).
    ///
    /// # Errors
    ///
    /// As [`Repository::apply_blueprints`].
    pub fn apply_blueprint_file(
        &self,
        path: &Path,
        options: ApplyOptions,
    ) -> Result<BlueprintReport, CoreError> {
        self.apply_blueprint_files(vec![path.to_path_buf()], options)
    }

    fn apply_blueprint_files(
        &self,
        files: Vec<PathBuf>,
        options: ApplyOptions,
    ) -> Result<BlueprintReport, CoreError> {
        let mut sources = Vec::with_capacity(files.len());
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|source| {
                CoreError::Blueprint(BlueprintError::Io {
                    path: f.clone(),
                    source,
                })
            })?;
            let name = f
                .strip_prefix(self.root())
                .unwrap_or(&f)
                .display()
                .to_string();
            sources.push((name, text));
        }
        apply::apply(self, &sources, options)
    }

    /// Applies a blueprint given as text; `name` is the file name errors mention.
    ///
    /// # Errors
    ///
    /// As [`Repository::apply_blueprints`].
    pub fn apply_blueprint_text(
        &self,
        name: &str,
        text: &str,
        options: ApplyOptions,
    ) -> Result<BlueprintReport, CoreError> {
        apply::apply(self, &[(name.to_owned(), text.to_owned())], options)
    }
}

#[cfg(test)]
mod tests {
    use super::check_blueprint;
    use crate::error::BlueprintError;

    #[test]
    fn a_blueprint_is_checked_without_a_repository() {
        check_blueprint(
            "bp.yaml",
            "node__web1:\n  cpus: 2\nactions:\n  - action: install\n",
        )
        .unwrap();
        let err = check_blueprint("bp.yaml", "node__web1:\n  cpus: 2\nweb1: {}\n").unwrap_err();
        assert!(
            matches!(&err, BlueprintError::Malformed { at, .. } if at.line == 3),
            "{err}"
        );
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_owned()
            + &(b'b'..=b'i')
                .map(|c| {
                    let prev = (c - 1) as char;
                    let c = c as char;
                    format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n")
                })
                .collect::<String>();
        let err = check_blueprint("bomb.yaml", &bomb).unwrap_err();
        assert!(matches!(&err, BlueprintError::Syntax { .. }), "{err}");
        let flow = "a__b:\n  x: ".to_owned() + &"[".repeat(10_000);
        let err = check_blueprint("deep.yaml", &flow).unwrap_err();
        assert!(matches!(&err, BlueprintError::Syntax { .. }), "{err}");
        let block = format!("a__b:\n  x:\n    {}x\n", "- ".repeat(10_000));
        let err = check_blueprint("deep.yaml", &block).unwrap_err();
        assert!(matches!(&err, BlueprintError::TooDeep { .. }), "{err}");
    }
}
