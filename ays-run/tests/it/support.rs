//! The 8.1 scenario `sample_repo3` as ays-run's tests need it, on `ays_core::testing`, and the
//! data patch repository that local and distributed runs are checked against.

use std::path::Path;

use ays_core::testing::{Backend, TestRepo, TestingError, write_file};
use ays_core::{ActionState, ApplyOptions, JobLogCategory, JobState, RunId};
use serde_json::json;

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

const PATCH_HRD: &str = "x = type:int\ny = type:int\nz = type:int\nname = type:str\n";

/// Two actors, a shell one and a Python one, whose `install` sets data, `bad` sets data the
/// schema rejects and `fail` sets data and fails (saying `boom` on stderr); one service of
/// each, all three actions scheduled.
pub(crate) fn write_data_patch_repo(t: &TestRepo) -> Result<(), Box<dyn std::error::Error>> {
    t.write("actorTemplates/shapp/schema.hrd", PATCH_HRD)?;
    t.write(
        "actorTemplates/shapp/actions.sh",
        "install() {\n    echo '{\"x\": 5, \"name\": \"sh\"}' > \"$AYS_RESULT_FILE\"\n}\n\
         bad() {\n    echo '{\"y\": \"many\"}' > \"$AYS_RESULT_FILE\"\n}\n\
         fail() {\n    echo '{\"z\": 7}' > \"$AYS_RESULT_FILE\"\n    echo boom >&2\n    exit 3\n}\n",
    )?;
    t.write("actorTemplates/pyapp/schema.hrd", PATCH_HRD)?;
    t.write(
        "actorTemplates/pyapp/actions.py",
        "def install(job):\n    job.service.data.x = job.service.data.x + 6\n    job.service.data.name = 'py'\n\n\
         def bad(job):\n    job.service.data.y = 'many'\n\n\
         def fail(job):\n    job.service.data.z = 7\n    raise RuntimeError('boom')\n",
    )?;
    t.repo.apply_blueprint_text(
        "bp.yaml",
        "shapp__s:\npyapp__p:\n  x: 1\nactions:\n  - action: install\n  - action: bad\n  - action: fail\n",
        ApplyOptions::default(),
    )?;
    Ok(())
}

/// Checks what run `id` of [`write_data_patch_repo`] left, run with the keep-going policy:
/// only the successes' data patches are stored, and a rejected patch fails its job.
pub(crate) fn check_data_patches(
    t: &TestRepo,
    id: &RunId,
) -> Result<(), Box<dyn std::error::Error>> {
    for key in ["shapp!s", "pyapp!p"] {
        let s = t.repo.service(&key.parse()?)?.ok_or("no service")?;
        let state = |name: &str| {
            s.actions
                .iter()
                .find(|a| a.name.as_str() == name)
                .map(|a| a.state)
        };
        assert_eq!(
            (state("install"), state("bad"), state("fail")),
            (
                Some(ActionState::Ok),
                Some(ActionState::Error),
                Some(ActionState::Error)
            ),
            "{key}"
        );
    }
    assert_eq!(
        t.repo.show_service(&"shapp!s".parse()?)?.data,
        json!({"x": 5, "y": 0, "z": 0, "name": "sh"})
    );
    assert_eq!(
        t.repo.show_service(&"pyapp!p".parse()?)?.data,
        json!({"x": 7, "y": 0, "z": 0, "name": "py"})
    );
    let bad = ays_run::show_run(&t.repo, id)?
        .jobs
        .into_iter()
        .filter(|j| j.action.as_str() == "bad")
        .collect::<Vec<_>>();
    assert_eq!(bad.len(), 2);
    for j in bad {
        assert_eq!(j.state, JobState::Error);
        assert!(
            j.logs.iter().any(|l| l.category == JobLogCategory::ErrorMsg
                && l.message.starts_with("data patch rejected")),
            "{:?}",
            j.logs
        );
    }
    Ok(())
}
