//! Message queues: append-only streams of opaque messages with consumer groups, the transport of
//! distributed workers.
//!
//! A [`MessageQueue`] is bound to a namespace, like a [`KvStore`](crate::KvStore), and holds any
//! number of named streams. A stream is read two ways:
//!
//! - by a *consumer group* ([`MessageQueue::read_group`]): each message goes to one consumer of
//!   the group, stays *pending* (delivered, not acknowledged) until that consumer
//!   [`ack`](MessageQueue::ack)s it, and can be taken over by another consumer once it has been
//!   idle longer than a lease ([`MessageQueue::claim_idle`]) — so a consumer that dies loses
//!   nothing. A consumer renews its lease on what it holds with [`MessageQueue::renew`];
//! - by anyone, from a position ([`MessageQueue::read`]): every reader sees every message.
//!
//! Message bodies are opaque bytes to this crate. Delivery is at least once: a message can be
//! delivered again (after a lease ran out, or when a publish was retried after a connection
//! error), so readers must tolerate duplicates.
//!
//! Backends: `mem://` (a process-wide queue per `mem://NAME`, for tests) and, with the `redis`
//! feature, `redis://` and `redis+cluster://`. A `redb://` store has no queue: [`open_queue`]
//! refuses it with [`StoreError::InvalidUrl`], since workers on other machines could not reach
//! it anyway. Every backend passes the same rules, `ays_store::queue_conformance!` (feature
//! `conformance`).
//!
//! # Redis layout
//!
//! A queue on namespace `ns` keeps stream `s` at the key `{ns}:q:<s>`: a Redis stream whose
//! entries have one field, `b`, the body; a [`MessageId`] is the entry id. The `{ns}` hash tag
//! keeps every stream of a namespace in the namespace's cluster slot, beside its key value
//! store. The calls map onto Redis Streams:
//!
//! | call | Redis |
//! |---|---|
//! | [`publish`](MessageQueue::publish) | `XADD key * b <body>`; `publish_many` pipelines them |
//! | [`create_group`](MessageQueue::create_group) | `XGROUP CREATE key group 0 MKSTREAM` (`BUSYGROUP` ignored) |
//! | [`reset`](MessageQueue::reset) | `DEL key` |
//! | [`read_group`](MessageQueue::read_group) | `XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS key >` |
//! | [`ack`](MessageQueue::ack) | `XACK` and `XDEL` of the ids in one `MULTI … EXEC` |
//! | [`claim_idle`](MessageQueue::claim_idle) | a Lua script: `XPENDING … IDLE`, then `XCLAIM` of those ids |
//! | [`renew`](MessageQueue::renew) | a Lua script: per id, `XPENDING` and, if still held, `XCLAIM … JUSTID` |
//! | [`pending`](MessageQueue::pending) | `XPENDING key group` |
//! | [`read`](MessageQueue::read) | `XREAD COUNT n [BLOCK ms] STREAMS key <after>` |
//!
//! A missing stream or group (`NOGROUP`) reads as empty. A zero block sends no `BLOCK` (which
//! would wait forever). A blocking read holds one pooled connection, with a read timeout longer
//! than its block; other threads open connections of their own meanwhile. Calls retry once
//! after a cluster redirect or a broken connection, like the key value store's, but never after
//! a timeout: a `publish` retried after a broken connection may append its message twice, which
//! the at-least-once contract allows. On a cluster, `publish`, `publish_many`, `create_group`,
//! `reset`, `ack` and `claim_idle` wait for a replica (`WAIT 1 1000`) like store writes;
//! `read_group` and `renew` do not, since losing one in a failover only redelivers a message.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Key, StoreError};

/// The longest a blocking read may wait ([`MessageQueue::read_group`], [`MessageQueue::read`]).
/// Longer requests are shortened to it, so a blocking read never outlives the backend's I/O
/// timeout.
pub const MAX_BLOCK: Duration = Duration::from_secs(1);

/// The id of a message in its stream: `<milliseconds>-<sequence>`, increasing in publish order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub String);

impl MessageId {
    /// The position before every message ([`MessageQueue::read`] from the start).
    pub fn start() -> Self {
        Self("0-0".to_owned())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its milliseconds and sequence number, `None` for text that is no message id.
    pub(crate) fn parts(&self) -> Option<(u64, u64)> {
        let (ms, seq) = self.0.split_once('-')?;
        Some((ms.parse().ok()?, seq.parse().ok()?))
    }
}

/// Refuses a zero `count` of `op` on `stream`.
pub(crate) fn check_count(op: &'static str, stream: &str, count: usize) -> Result<(), StoreError> {
    if count == 0 {
        return Err(StoreError::InvalidArgument {
            op,
            key: Key::from(stream.as_bytes()),
            reason: "count must be at least 1",
        });
    }
    Ok(())
}

/// Refuses an `id` of `op` that is no message id; returns its parts.
pub(crate) fn check_id(op: &'static str, id: &MessageId) -> Result<(u64, u64), StoreError> {
    id.parts().ok_or_else(|| StoreError::InvalidArgument {
        op,
        key: Key::from(id.as_str().as_bytes()),
        reason: "not a message id",
    })
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message as a plain reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// Its body, as published.
    pub body: Vec<u8>,
}

/// A message delivered to a consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: MessageId,
    /// Its body, as published.
    pub body: Vec<u8>,
    /// How many times it has been delivered, this time included (1 for a first delivery).
    pub deliveries: u64,
    /// For a message taken over by [`MessageQueue::claim_idle`]: the consumer that held it.
    pub previous_consumer: Option<String>,
}

/// How many messages of a group one consumer holds (delivered, not acknowledged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCount {
    /// The consumer.
    pub consumer: String,
    /// Its pending messages.
    pub count: u64,
}

/// Streams of opaque messages with consumer groups, on one namespace (see the module
/// documentation). Implementations are `Send + Sync`: share one as `Arc<dyn MessageQueue>`.
///
/// A stream or group that does not exist reads as empty and acknowledges nothing; it is not an
/// error, because a coordinator may [`reset`](MessageQueue::reset) a stream while consumers
/// read it.
pub trait MessageQueue: Send + Sync + fmt::Debug {
    /// Appends `body` to `stream` (created if absent); returns its id.
    ///
    /// # Errors
    /// [`StoreError::Connection`] or [`StoreError::Backend`] when the backend fails.
    fn publish(&self, stream: &str, body: &[u8]) -> Result<MessageId, StoreError>;

    /// Appends every body of `bodies` to `stream`, in order, in as few round trips as the backend
    /// can; returns their ids.
    ///
    /// # Errors
    /// As [`publish`](Self::publish); on an error, a prefix of `bodies` may have been appended.
    fn publish_many(&self, stream: &str, bodies: &[&[u8]]) -> Result<Vec<MessageId>, StoreError> {
        bodies.iter().map(|b| self.publish(stream, b)).collect()
    }

    /// Creates consumer group `group` on `stream` (and the stream, if absent), reading from the
    /// stream's first message. Creating a group that exists does nothing.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    fn create_group(&self, stream: &str, group: &str) -> Result<(), StoreError>;

    /// Removes `stream` with its messages and groups; returns whether it existed.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    fn reset(&self, stream: &str) -> Result<bool, StoreError>;

    /// Up to `count` messages of `stream` never delivered to `group`, now delivered to
    /// `consumer` (they become its pending messages). Waits up to `block` (at most
    /// [`MAX_BLOCK`]) when there is none; `Duration::ZERO` does not wait.
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] for a zero `count`, else as [`publish`](Self::publish).
    fn read_group(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Acknowledges (and removes from the stream) the messages `ids` of `group`: they are no
    /// longer pending for anyone. Unknown ids are ignored.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    fn ack(&self, stream: &str, group: &str, ids: &[MessageId]) -> Result<(), StoreError>;

    /// Takes over up to `count` pending messages of `group` that have been idle (neither
    /// delivered, claimed nor renewed) for at least `min_idle`, whoever holds them, and gives
    /// them to `consumer`; each [`Delivery`] names its previous consumer.
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] for a zero `count`, else as [`publish`](Self::publish).
    fn claim_idle(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Renews `consumer`'s lease on the messages `ids`: their idle time restarts from zero.
    /// Only messages `consumer` still holds are renewed (atomically: one another consumer has
    /// claimed is left to it); returns those ids.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    fn renew(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        ids: &[MessageId],
    ) -> Result<Vec<MessageId>, StoreError>;

    /// The consumers of `group` holding pending messages, with how many each holds.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    fn pending(&self, stream: &str, group: &str) -> Result<Vec<PendingCount>, StoreError>;

    /// Up to `count` messages of `stream` published after `after` (any reader, no group), in
    /// order. Waits up to `block` (at most [`MAX_BLOCK`]) when there is none.
    ///
    /// # Errors
    /// [`StoreError::InvalidArgument`] for a zero `count`, else as [`publish`](Self::publish).
    fn read(
        &self,
        stream: &str,
        after: &MessageId,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Message>, StoreError>;
}

/// Opens the message queue of the store at `url` on `namespace`: a `mem://NAME` queue (shared
/// within the process by `NAME`; `mem://` is private), or the Redis server or cluster of a
/// `redis://` or `redis+cluster://` URL.
///
/// # Errors
/// [`StoreError::InvalidUrl`] for a malformed URL or a store without a queue (`redb://`),
/// [`StoreError::BackendDisabled`] and [`StoreError::InvalidNamespace`] as
/// [`open_namespaced`](crate::open_namespaced).
pub fn open_queue(url: &str, namespace: &str) -> Result<Arc<dyn MessageQueue>, StoreError> {
    crate::check_namespace(namespace)?;
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: "expected `scheme://…` with scheme mem, redis or redis+cluster".to_owned(),
        })?;
    match scheme {
        "mem" => Ok(crate::memory_queue::open(rest, namespace)),
        "redis" | "redis+cluster" => open_redis_queue(url, namespace),
        "redb" => Err(StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: "an embedded redb store has no message queue; distributed workers need a \
                     redis:// or redis+cluster:// store that every machine reaches"
                .to_owned(),
        }),
        other => Err(StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: format!("unknown scheme `{other}`, expected mem, redis or redis+cluster"),
        }),
    }
}

#[cfg(feature = "redis")]
fn open_redis_queue(url: &str, namespace: &str) -> Result<Arc<dyn MessageQueue>, StoreError> {
    crate::redis_queue::open(url, namespace)
}

#[cfg(not(feature = "redis"))]
fn open_redis_queue(url: &str, _namespace: &str) -> Result<Arc<dyn MessageQueue>, StoreError> {
    Err(StoreError::BackendDisabled {
        url: url.to_owned(),
        feature: "redis",
    })
}
