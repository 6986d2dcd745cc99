//! The fixed AYS models: repositories, actors, services, action code, jobs and runs.
//!
//! The structs are defined in `ays-schema/schema/model.capnp` and compiled by `capnpc` into
//! the private module `generated::model_capnp`, re-exported here. Records are stored as
//! unpacked Cap'n Proto messages; [`to_bytes`] and [`read`] are the one place where that
//! framing is chosen, and [`read`] applies traversal and nesting limits because stored bytes
//! are input.
//!
//! ```
//! use ays_schema::models::{self, service, ActionState};
//!
//! let mut message = capnp::message::Builder::new_default();
//! let mut svc = message.init_root::<service::Builder>();
//! svc.set_name("main");
//! svc.set_actor_name("sshkey");
//! let mut actions = svc.init_actions(1);
//! actions.reborrow().get(0).set_name("install");
//! actions.reborrow().get(0).set_state(ActionState::Scheduled);
//! let bytes = models::to_bytes(&message);
//!
//! let reader = models::read(&bytes)?;
//! let svc = reader.get_root::<service::Reader>()?;
//! assert_eq!(svc.get_name()?.to_str()?, "main");
//! assert_eq!(svc.get_actions()?.get(0).get_state()?, ActionState::Scheduled);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use crate::generated::model_capnp::*;

use capnp::message::{Allocator, Builder, Reader, ReaderOptions};
use capnp::serialize::OwnedSegments;

/// The most words a stored model may make a reader visit (64 MiB), so that a corrupt or hostile
/// record cannot make a read run away.
pub const TRAVERSAL_LIMIT_WORDS: usize = 8 * 1024 * 1024;

/// The deepest nesting of structs and lists a stored model may have.
pub const NESTING_LIMIT: i32 = 64;

/// Serializes a model message in the unpacked stream framing used for stored records.
pub fn to_bytes<A: Allocator>(message: &Builder<A>) -> Vec<u8> {
    capnp::serialize::write_message_to_words(message)
}

/// Reads a stored model message, with bounded traversal and nesting.
///
/// # Errors
///
/// Returns the `capnp` error when the bytes are not a well-formed message (truncated framing, a
/// segment table that does not match the length, more segments than allowed).
pub fn read(bytes: &[u8]) -> capnp::Result<Reader<OwnedSegments>> {
    // The `capnp` reader allocates what the segment table claims before reading the segments:
    // check the table against the bytes present first, so a corrupt 8-byte record cannot make
    // it allocate 64 MiB.
    let limit = u64::try_from(TRAVERSAL_LIMIT_WORDS).unwrap_or(u64::MAX);
    crate::codec::frame(bytes, limit, |_| {})
        .map_err(|reason| capnp::Error::failed(reason.to_owned()))?;
    let mut options = ReaderOptions::new();
    options
        .traversal_limit_in_words(Some(TRAVERSAL_LIMIT_WORDS))
        .nesting_limit(NESTING_LIMIT);
    let mut slice = bytes;
    capnp::serialize::read_message(&mut slice, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_round_trips_with_relations_and_action_states() {
        let mut message = Builder::new_default();
        {
            let mut svc = message.init_root::<service::Builder>();
            svc.set_key("k1");
            svc.set_name("vm1");
            svc.set_actor_name("node.ovc");
            svc.set_has_parent(true);
            svc.reborrow().init_parent().set_service_name("myvdc");
            let mut producers = svc.reborrow().init_producers(2);
            producers.reborrow().get(0).set_actor_name("vdc");
            producers.reborrow().get(1).set_actor_name("sshkey");
            let mut actions = svc.reborrow().init_actions(2);
            actions.reborrow().get(0).set_name("install");
            actions.reborrow().get(0).set_state(ActionState::Ok);
            actions.reborrow().get(1).set_name("monitor");
            actions.reborrow().get(1).set_period(30);
            actions.reborrow().get(1).set_last_run(1_700_000_000_000);
            svc.set_data(&[1, 2, 3]);
        }
        let bytes = to_bytes(&message);
        let reader = read(&bytes).unwrap();
        let svc = reader.get_root::<service::Reader>().unwrap();
        assert_eq!(svc.get_actor_name().unwrap().to_str().unwrap(), "node.ovc");
        assert!(svc.get_has_parent());
        assert_eq!(
            svc.get_parent()
                .unwrap()
                .get_service_name()
                .unwrap()
                .to_str()
                .unwrap(),
            "myvdc"
        );
        let producers = svc.get_producers().unwrap();
        assert_eq!(producers.len(), 2);
        assert_eq!(
            producers.get(1).get_actor_name().unwrap().to_str().unwrap(),
            "sshkey"
        );
        let actions = svc.get_actions().unwrap();
        assert_eq!(actions.get(0).get_state().unwrap(), ActionState::Ok);
        assert_eq!(actions.get(1).get_state().unwrap(), ActionState::New);
        assert_eq!(actions.get(1).get_period(), 30);
        assert_eq!(actions.get(1).get_last_run(), 1_700_000_000_000);
        assert_eq!(svc.get_data().unwrap(), &[1, 2, 3]);
    }

    #[test]
    fn truncated_bytes_are_an_error_not_a_panic() {
        let mut message = Builder::new_default();
        message
            .init_root::<job::Builder>()
            .set_action_name("install");
        let bytes = to_bytes(&message);
        for cut in 0..bytes.len() {
            let outcome = read(&bytes[..cut]).and_then(|r| {
                r.get_root::<job::Reader>()
                    .and_then(|j| j.get_action_name().map(|_| ()))
            });
            assert!(
                outcome.is_err(),
                "a message cut at {cut} bytes must not read"
            );
        }
    }
}
