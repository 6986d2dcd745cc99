//! Real AYS 8.1 content (`../shared/fixtures/upstream-81/`): the templates of its default
//! template repository and its QA actors (#10).

use ays_core::testing::{TestResult, fixture};
use ays_core::{Runtime, TemplateSet};

#[test]
fn issue_10_all_upstream_templates_load_as_one_set() -> TestResult {
    let root = fixture("upstream-81")?;
    let none = root.join("no-local-templates");
    let set = TemplateSet::discover(
        &none,
        &[root.join("templates"), root.join("tests/test_services")],
    )?;
    let list = set.list();
    // 47 directories, `vfs` twice: 46 names, and the two QA actors.
    assert_eq!(
        list.len(),
        48,
        "{:?}",
        list.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    let vfs = set.find("vfs").ok_or("no vfs")?;
    assert_eq!(
        vfs.path,
        root.join("templates/os/vfs"),
        "the one found last"
    );
    assert_eq!(vfs.ignored, [root.join("templates/g8os/vfs")]);
    let mut failures = Vec::new();
    for info in &list {
        match set.load(info.name.as_str()) {
            Ok(t) => {
                let python = t
                    .actions
                    .iter()
                    .filter(|a| a.code.runtime == Runtime::Python);
                for a in python {
                    assert!(
                        !a.code.name.as_str().ends_with('_'),
                        "{}: `{}` is not an action",
                        info.name,
                        a.code.name
                    );
                }
            }
            Err(err) => failures.push(format!("{}: {err}", info.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // `init_actions_` (a literal dict, read without running the module) orders the actions.
    let requires = |template: &str, action: &str| -> Result<Vec<String>, String> {
        let t = set.load(template).map_err(|e| e.to_string())?;
        let a = t
            .actions
            .iter()
            .find(|a| a.code.name.as_str() == action)
            .ok_or(format!("{template} has no {action}"))?;
        Ok(a.depends_on.iter().map(ToString::to_string).collect())
    };
    assert_eq!(requires("test_add_user_to_vm", "test")?, ["install"]);
    assert_eq!(
        requires("test_create_cloudspace", "test_create_cloudspace")?,
        ["install"]
    );
    assert_eq!(requires("node.ovc", "export")?, ["install"]);
    assert_eq!(requires("image_os", "uninstall")?, Vec::<String>::new());
    Ok(())
}
