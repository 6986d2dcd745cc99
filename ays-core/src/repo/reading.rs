//! Reads for callers that look at many services at once (a run's payloads): services by key in
//! one read of the store, and a [`DataDecoder`] that compiles an actor's schema once for all its
//! services.

use std::sync::Arc;

use crate::actor::CompiledActor;
use crate::error::CoreError;
use crate::ids::{ActorName, ServiceKey};
use crate::keys;
use crate::record;
use crate::service::Service;

use super::Repository;

/// Decodes the data of the services of one actor, its schema compiled once. Cheap to clone;
/// it keeps the actor as it was when it was made.
#[derive(Debug, Clone)]
pub struct DataDecoder {
    actor: Arc<CompiledActor>,
}

impl DataDecoder {
    /// The actor whose services it decodes.
    pub fn actor(&self) -> &ActorName {
        &self.actor.actor.name
    }

    /// The data of `s` as JSON, every field present.
    ///
    /// # Errors
    ///
    /// [`CoreError::Codec`] when the data does not decode; [`CoreError::Corrupt`] when `s` is
    /// not a service of this decoder's actor.
    pub fn data(&self, s: &Service) -> Result<serde_json::Value, CoreError> {
        if s.actor != self.actor.actor.name {
            return Err(CoreError::Corrupt {
                key: s.key.to_string(),
                reason: format!(
                    "a service of actor {} decoded as one of actor {}",
                    s.actor, self.actor.actor.name
                ),
            });
        }
        self.actor.service_data(s)
    }
}

impl Repository {
    /// The services `keys` name, in the same order, read in one read of the store; `None` for
    /// a key with no service.
    ///
    /// # Errors
    ///
    /// [`CoreError::Store`], [`CoreError::Corrupt`].
    pub fn services_by_key(&self, keys: &[&ServiceKey]) -> Result<Vec<Option<Service>>, CoreError> {
        let store_keys: Vec<Vec<u8>> = keys.iter().map(|k| keys::service(k)).collect();
        let refs: Vec<&[u8]> = store_keys.iter().map(Vec::as_slice).collect();
        let values = self
            .store
            .get_many(&refs)
            .map_err(CoreError::store("get services"))?;
        keys.iter()
            .zip(values)
            .map(|(key, value)| {
                value
                    .map(|bytes| record::decode_service(key.as_str(), &bytes))
                    .transpose()
            })
            .collect()
    }

    /// A decoder of the data of `actor`'s services.
    ///
    /// # Errors
    ///
    /// [`CoreError::ActorNotFound`], and the errors of reading and compiling the actor.
    pub fn data_decoder(&self, actor: &ActorName) -> Result<DataDecoder, CoreError> {
        let stored = self
            .actor(actor.as_str())?
            .ok_or_else(|| CoreError::ActorNotFound {
                name: actor.to_string(),
            })?;
        Ok(DataDecoder {
            actor: Arc::new(CompiledActor::new(stored)?),
        })
    }
}
