//! Field name sanitising: `schema.hrd` names (`os.image`, `client_id`) to Cap'n Proto field
//! names (`osImage`, `clientId`), as AYS 8.1's `sanitize_key` did, plus the validity checks
//! 8.1 lacked.

/// The Cap'n Proto name of a `schema.hrd` field name (`os.image` → `osImage`), the one rule for
/// both spellings wherever a field is named. Sanitises a raw field name: split on `_`, then on `.`; every part after the first gets
/// its first character upper-cased, the rest unchanged.
///
/// Returns why the name cannot be used when a part is empty or the result is not a valid
/// Cap'n Proto field name (an ASCII lower-case letter, then ASCII letters and digits).
pub fn capnp_field_name(raw: &str) -> Result<String, String> {
    let once = join_camel(raw, '_')?;
    let name = join_camel(&once, '.')?;
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "becomes `{name}`, which is not a Cap'n Proto field name (a lower-case ASCII letter, then ASCII letters and digits)"
        ));
    }
    Ok(name)
}

fn join_camel(name: &str, sep: char) -> Result<String, String> {
    let mut out = String::with_capacity(name.len());
    for (i, part) in name.split(sep).enumerate() {
        let mut chars = part.chars();
        let Some(first) = chars.next() else {
            return Err(format!("has an empty part around `{sep}`"));
        };
        if i == 0 {
            out.push(first);
        } else {
            out.extend(first.to_uppercase());
        }
        out.push_str(chars.as_str());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::capnp_field_name;

    #[test]
    fn sanitises_like_8_1() {
        for (raw, want) in [
            ("tidb_host", "tidbHost"),
            ("oauth.client_id", "oauthClientId"),
            ("cname.records", "cnameRecords"),
            ("bot.Secret", "botSecret"),
            ("owncloudAdminUser", "owncloudAdminUser"),
            ("ssh.port_nr", "sshPortNr"),
            ("a.1", "a1"),
            ("field_with_underscore", "fieldWithUnderscore"),
            ("os.image", "osImage"),
        ] {
            assert_eq!(capnp_field_name(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn rejects_what_8_1_crashed_on_or_made_invalid() {
        assert_eq!(
            capnp_field_name("a..b").unwrap_err(),
            "has an empty part around `.`"
        );
        assert_eq!(
            capnp_field_name("a__b").unwrap_err(),
            "has an empty part around `_`"
        );
        assert_eq!(
            capnp_field_name("_a").unwrap_err(),
            "has an empty part around `_`"
        );
        assert_eq!(
            capnp_field_name("a.").unwrap_err(),
            "has an empty part around `.`"
        );
        assert_eq!(
            capnp_field_name("").unwrap_err(),
            "has an empty part around `_`"
        );
        for (bad, becomes) in [
            ("Foo", "Foo"),
            ("a-b", "a-b"),
            ("1a", "1a"),
            ("A.B", "AB"),
            ("a b", "a b"),
        ] {
            let err = capnp_field_name(bad).unwrap_err();
            assert!(
                err.starts_with(&format!(
                    "becomes `{becomes}`, which is not a Cap'n Proto field name"
                )),
                "{bad}: {err}"
            );
        }
    }
}
