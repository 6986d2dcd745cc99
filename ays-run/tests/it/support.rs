//! The 8.1 scenario `sample_repo3` as ays-run's tests need it, on `ays_core::testing`.

use std::path::Path;

use ays_core::ApplyOptions;
use ays_core::testing::{Backend, TestRepo, TestingError, write_file};

/// Writes sample_repo3's action chains and `actions.sh` in this project's formats into the
/// repository at `root`: `test` fails naming its service, `test2` and `test3` succeed.
pub(crate) fn write_sample_repo3_actions(root: &Path) -> Result<(), TestingError> {
    write_file(
        root,
        "actorTemplates/runtime_error_service/config.yaml",
        "depends:\n  test: [install]\n  test2: [install]\n  test3: [test2]\n",
    )?;
    write_file(
        root,
        "actorTemplates/runtime_error_service/actions.sh",
        "test() {\n    echo \"Error from service $AYS_SERVICE\" >&2\n    return 1\n}\n\
         test2() {\n    :\n}\n\ntest3() {\n    :\n}\n",
    )
}

/// The scenario `sample_repo3` on `backend`, with [`write_sample_repo3_actions`], blueprints
/// applied.
pub(crate) fn sample_repo3(backend: Backend) -> Result<TestRepo, Box<dyn std::error::Error>> {
    let t = TestRepo::with_scenario(backend, "sample_repo3")?;
    write_sample_repo3_actions(t.root())?;
    t.repo.apply_blueprints(ApplyOptions::default())?;
    Ok(t)
}
