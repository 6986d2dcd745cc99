//! Helpers the ays-core tests share beyond `ays_core::testing`.

/// The error of a call that must fail.
pub(crate) fn fails<T: std::fmt::Debug, E>(r: Result<T, E>) -> Result<E, String> {
    match r {
        Ok(v) => Err(format!("expected an error, got {v:?}")),
        Err(e) => Ok(e),
    }
}
