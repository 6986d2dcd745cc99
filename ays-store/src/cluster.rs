//! The Redis Cluster backend (`redis+cluster://host:port[,host:port...]`).
//!
//! Every key of a namespace `ns` carries the hash tag `{ns}` (see the `redis` module), so a
//! namespace lives in exactly one cluster slot, `CRC16(ns) mod 16384`, and so on one master.
//! A cluster store therefore finds that master (`CLUSTER SLOTS` from the first seed node that
//! answers) and runs the single-node Redis code against it unchanged: the same scripts,
//! transactions and connection pool.
//!
//! # When the slot moves
//!
//! A `MOVED`, `CLUSTERDOWN` or `READONLY` reply (the slot was migrated, or the master failed
//! over and was demoted), or a connection error, makes the store re-read the slot map from the
//! seeds and retry once on the master it now names: any call after a redirect (the server
//! refused it before running it) or a failed connect, and otherwise only idempotent calls, as
//! for a single server (a compare-and-swap whose connection broke
//! mid-call reports [`StoreError::Connection`](crate::StoreError::Connection)).
//!
//! An `ASK` reply (the slot is being migrated and this call's key has moved already) is
//! followed instead: the call runs once on the node it names, after `ASKING`, and the slot
//! map is kept, since the old master serves the keys not yet moved.
//!
//! # While a slot migrates
//!
//! During a migration (the slot `MIGRATING` on the old master, `IMPORTING` on the new one,
//! keys moving in batches) a call whose keys are split between the two masters is refused with
//! `TRYAGAIN`, and a `MULTI` one of whose commands was redirected aborts; neither ran anything.
//! Such a call is retried after 50 ms, the pause doubling up to 1 s, for up to 5 s, whatever
//! its kind (a compare-and-swap too, since it ran nothing). A transaction redirected by `ASK`
//! is sent whole to the new master after `ASKING`, which runs it only if it holds all of its
//! keys (else `TRYAGAIN`), so a value and its index entry always land on one master.
//!
//! A put or delete of a key whose value has moved while the index has not (or the reverse),
//! and a put of a key that exists on neither master, can therefore only run once the slot
//! is handed over (`CLUSTER SETSLOT … NODE`): it waits for that, and fails with
//! [`StoreError::Connection`](crate::StoreError::Connection), having written nothing, if the
//! migration takes longer than 5 s. The alternative, writing the value on one master and the
//! index on the other, would break the rule that no client sees one without the other; and
//! waiting longer would stall a caller for as long as an operator's migration of a big slot
//! takes, which the caller, told the store is unreachable, can decide better. Reads of single
//! keys follow `ASK` and never wait.
//!
//! A scan's script reads value keys it does not declare, which the old master refuses once
//! one has moved, and which must not follow an `ASK` (the new master would take the keys not
//! yet moved for expired ones and drop them from the index). Refused, the page is read again
//! with commands that declare their keys: `ZRANGEBYLEX` on the index, then a pipeline of `GET`s,
//! the moved ones asked of the new master. That path skips entries whose value is gone without
//! removing them from the index; the next scan by script does.
//!
//! # Durability: the loss window
//!
//! Redis replicates asynchronously. After every write the store sends `WAIT 1 1000` on the
//! connection that wrote, waiting up to [`WAIT_MS`] ms for one replica to acknowledge it. If
//! none does, the write still succeeds (the master has it) and a warning is logged: should that
//! master fail before a replica copies the write, the promoted replica lacks it and the write
//! is lost. `WAIT` narrows that window to writes whose replica was slow or absent; it is not a
//! guarantee (a replica that acknowledged may still lose the write if it fails too).
//!
//! A master without a replica (after a failover, until one is attached) would make every write
//! wait the whole second. So after a `WAIT` that no replica answered, the writes of the next
//! [`UNREPLICATED_FOR`] (5 s) do not wait: they are in the loss window, which the warning
//! says, and the next write after it waits again.

use std::sync::{Arc, Mutex, PoisonError};

use redis::{Connection, RedisError, RedisResult, Value};

use crate::redis::{Locate, Node, open_located};
use crate::{BackendError, KvStore, StoreError};

/// How long a write waits for a replica to acknowledge it, in milliseconds.
pub(crate) const WAIT_MS: u64 = 1000;

/// How long writes go without waiting for a replica after one waited [`WAIT_MS`] in vain.
/// Without it, a master left without a replica (after a failover, until a replica is attached)
/// made every write wait a whole second.
pub(crate) const UNREPLICATED_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// The number of slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// Parses `url` and returns a store on `namespace`; connects lazily, on the first call.
pub(crate) fn open(url: &str, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    let located = locate(url, namespace)?;
    tracing::debug!(url, namespace, "opened redis cluster store");
    Ok(open_located(located, namespace))
}

/// The master of `namespace`'s slot in the cluster of `url`, found on first use and again
/// whenever the slot moves: what a store or a queue on `namespace` talks to.
pub(crate) fn locate(url: &str, namespace: &str) -> Result<Box<dyn Locate>, StoreError> {
    Ok(Box::new(Cluster {
        seeds: parse_seeds(url)?,
        slot: key_slot(namespace.as_bytes()),
        node: Mutex::new(None),
        unreplicated_until: Mutex::new(None),
    }))
}

/// The seed nodes of a `redis+cluster://host:port[,host:port...]` URL, as `host:port`.
fn parse_seeds(url: &str) -> Result<Vec<String>, StoreError> {
    let invalid = |reason: String| StoreError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("redis+cluster://")
        .ok_or_else(|| invalid("expected `redis+cluster://host:port[,host:port...]`".to_owned()))?;
    let hosts = rest.strip_suffix('/').unwrap_or(rest);
    if hosts.is_empty() {
        return Err(invalid(
            "no host, expected `redis+cluster://host:port[,host:port...]`".to_owned(),
        ));
    }
    hosts
        .split(',')
        .map(|seed| match seed.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(seed.to_owned())
            }
            _ => Err(invalid(format!(
                "bad seed `{seed}`, expected `host:port` (e.g. `127.0.0.1:7000`)"
            ))),
        })
        .collect()
}

/// The cluster slot of the hash tag `tag`: CRC16 (XMODEM) modulo 16384, as `CLUSTER KEYSLOT`.
pub(crate) fn key_slot(tag: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in tag {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % SLOTS
}

/// The master owning one slot, re-read from the seeds when it moves.
struct Cluster {
    seeds: Vec<String>,
    slot: u16,
    /// The master found last; `None` before the first call.
    node: Mutex<Option<Arc<Node>>>,
    /// Until when writes do not wait for a replica: set when one found none
    /// ([`UNREPLICATED_FOR`]).
    unreplicated_until: Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("seeds", &self.seeds)
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

fn protocol_error(detail: String) -> RedisError {
    RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected CLUSTER SLOTS reply",
        detail,
    ))
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other).and_then(|s| s.parse().ok()),
    }
}

/// The `host:port` of the master serving `slot` in a `CLUSTER SLOTS` reply; an empty host
/// (a node that does not know its address) means `seed_host`.
fn master_of(reply: &Value, slot: u16, seed_host: &str) -> RedisResult<String> {
    let Value::Array(ranges) = reply else {
        return Err(protocol_error(format!("not an array: {reply:?}")));
    };
    for range in ranges {
        let Value::Array(fields) = range else {
            continue;
        };
        let (Some(start), Some(end), Some(Value::Array(master))) = (
            fields.first().and_then(int),
            fields.get(1).and_then(int),
            fields.get(2),
        ) else {
            continue;
        };
        if !(start..=end).contains(&i64::from(slot)) {
            continue;
        }
        let host = master.first().and_then(text);
        let port = master.get(1).and_then(int);
        let (Some(host), Some(port)) = (host, port) else {
            return Err(protocol_error(format!("bad master entry {master:?}")));
        };
        let host = if host.is_empty() || host == "?" {
            seed_host.to_owned()
        } else {
            host
        };
        return Ok(format!("{host}:{port}"));
    }
    Err(RedisError::from((
        redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown),
        "no master serves the slot",
        format!("slot {slot}"),
    )))
}

impl Cluster {
    fn current_node(&self) -> Option<Arc<Node>> {
        self.node
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Asks the seeds in turn which master serves the slot, and remembers it.
    fn resolve(&self, op: &'static str) -> Result<Arc<Node>, StoreError> {
        let mut last = None;
        for seed in &self.seeds {
            match self.master_from(seed) {
                Ok(node) => {
                    tracing::debug!(
                        seed,
                        master = node.server(),
                        slot = self.slot,
                        "resolved cluster slot"
                    );
                    *self.node.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(Arc::clone(&node));
                    return Ok(node);
                }
                Err(err) => {
                    tracing::debug!(seed, error = %err, "cluster seed did not give the slot map");
                    last = Some(err);
                }
            }
        }
        Err(StoreError::Connection {
            server: self.seeds.join(","),
            op,
            source: BackendError::redis(last.unwrap_or_else(|| {
                RedisError::from((redis::ErrorKind::Client, "no cluster seed"))
            })),
        })
    }

    fn master_from(&self, seed: &str) -> RedisResult<Arc<Node>> {
        let seed_node = Node::from_url(&format!("redis://{seed}/"))?;
        let mut conn = seed_node.connect()?;
        let reply: Value = redis::cmd("CLUSTER").arg("SLOTS").query(&mut conn)?;
        let seed_host = seed.rsplit_once(':').map_or(seed, |(host, _)| host);
        let master = master_of(&reply, self.slot, seed_host)?;
        Node::from_url(&format!("redis://{master}/"))
    }
}

impl Locate for Cluster {
    fn current(&self, op: &'static str) -> Result<Arc<Node>, StoreError> {
        match self.current_node() {
            Some(node) => Ok(node),
            None => self.resolve(op),
        }
    }

    fn relocate(
        &self,
        op: &'static str,
        failed: &Arc<Node>,
    ) -> Result<Option<Arc<Node>>, StoreError> {
        // A new master is asked again whether it has a replica.
        *self
            .unreplicated_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        // Another thread may have re-read the map since: use its answer.
        if let Some(node) = self.current_node()
            && !Arc::ptr_eq(&node, failed)
        {
            return Ok(Some(node));
        }
        self.resolve(op).map(Some)
    }

    fn after_write(&self, conn: &mut Connection, op: &'static str) {
        let now = std::time::Instant::now();
        let mut until = self
            .unreplicated_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if until.is_some_and(|at| now < at) {
            tracing::debug!(
                op,
                "not waiting for a replica: none acknowledged a write lately"
            );
            return;
        }
        *until = None;
        drop(until);
        let acked = redis::cmd("WAIT").arg(1).arg(WAIT_MS).query::<i64>(conn);
        let master = self
            .current_node()
            .map_or_else(String::new, |node| node.server().to_owned());
        match acked {
            Ok(n) if n >= 1 => {}
            Ok(acked) => {
                *self
                    .unreplicated_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(now + UNREPLICATED_FOR);
                tracing::warn!(
                    master,
                    op,
                    acked,
                    wait_ms = WAIT_MS,
                    unreplicated_for_s = UNREPLICATED_FOR.as_secs(),
                    "no replica acknowledged the write; it is lost if this master fails now \
                     (so are the writes of the next 5 s, which do not wait for a replica)"
                );
            }
            Err(err) => tracing::warn!(
                master,
                op,
                error = %err,
                "could not wait for a replica; the write is lost if this master fails now"
            ),
        }
    }

    fn name(&self) -> String {
        self.current_node()
            .map_or_else(|| self.seeds.join(","), |node| node.server().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slot_matches_redis() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"123456789"), 0x31C3 % SLOTS);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
    }

    #[test]
    fn seeds_parse() {
        assert_eq!(
            parse_seeds("redis+cluster://a:1,b:2/").ok(),
            Some(vec!["a:1".to_owned(), "b:2".to_owned()])
        );
        for bad in [
            "redis+cluster://",
            "redis+cluster:///",
            "redis+cluster://a",
            "redis+cluster://a:x",
            "redis+cluster://a:1,",
        ] {
            assert!(
                matches!(parse_seeds(bad), Err(StoreError::InvalidUrl { url, .. }) if url == bad),
                "{bad}"
            );
        }
    }
}
