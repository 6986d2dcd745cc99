//! The in-memory message queue (`mem://`), for tests: the semantics of Redis Streams with
//! consumer groups, in one process.
//!
//! One `Shared` per `mem://NAME` holds every stream of every namespace behind one mutex; a
//! condition variable wakes blocked readers when a message is published.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::StoreError;
use crate::queue::{
    Delivery, MAX_BLOCK, Message, MessageId, MessageQueue, PendingCount, check_count, check_id,
};

/// Named queues of this process (`mem://NAME`), kept while some handle is alive.
static NAMED: Mutex<BTreeMap<String, Weak<Shared>>> = Mutex::new(BTreeMap::new());

#[derive(Debug, Default)]
struct Shared {
    streams: Mutex<HashMap<(String, String), Stream>>,
    published: Condvar,
}

#[derive(Debug, Default)]
struct Stream {
    /// Messages by (milliseconds, sequence).
    messages: BTreeMap<(u64, u64), Vec<u8>>,
    last: (u64, u64),
    groups: HashMap<String, Group>,
}

#[derive(Debug, Default)]
struct Group {
    /// The last message delivered to the group.
    delivered: (u64, u64),
    pending: BTreeMap<(u64, u64), Pending>,
}

#[derive(Debug)]
struct Pending {
    consumer: String,
    since: Instant,
    deliveries: u64,
}

#[derive(Debug)]
struct MemoryQueue {
    shared: Arc<Shared>,
    namespace: String,
}

/// Opens `mem://NAME` (`name` empty for a private queue) on `namespace`.
pub(crate) fn open(name: &str, namespace: &str) -> Arc<dyn MessageQueue> {
    Arc::new(MemoryQueue {
        shared: crate::memory::named(&NAMED, name),
        namespace: namespace.to_owned(),
    })
}

fn id_of((ms, seq): (u64, u64)) -> MessageId {
    MessageId(format!("{ms}-{seq}"))
}

impl MemoryQueue {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Stream>> {
        self.shared
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn key(&self, stream: &str) -> (String, String) {
        (self.namespace.clone(), stream.to_owned())
    }

    /// Calls `take` until it returns something or `block` has passed.
    fn wait<T>(
        &self,
        block: Duration,
        mut take: impl FnMut(&mut HashMap<(String, String), Stream>) -> Vec<T>,
    ) -> Vec<T> {
        let deadline = Instant::now() + block.min(MAX_BLOCK);
        let mut streams = self.lock();
        loop {
            let found = take(&mut streams);
            let now = Instant::now();
            if !found.is_empty() || now >= deadline {
                return found;
            }
            streams = self
                .shared
                .published
                .wait_timeout(streams, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl MessageQueue for MemoryQueue {
    fn publish(&self, stream: &str, body: &[u8]) -> Result<MessageId, StoreError> {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut streams = self.lock();
        let s = streams.entry(self.key(stream)).or_default();
        let id = if ms > s.last.0 {
            (ms, 0)
        } else {
            (s.last.0, s.last.1.saturating_add(1))
        };
        s.last = id;
        s.messages.insert(id, body.to_vec());
        drop(streams);
        self.shared.published.notify_all();
        Ok(id_of(id))
    }

    fn create_group(&self, stream: &str, group: &str) -> Result<(), StoreError> {
        let mut streams = self.lock();
        let s = streams.entry(self.key(stream)).or_default();
        s.groups.entry(group.to_owned()).or_default();
        Ok(())
    }

    fn reset(&self, stream: &str) -> Result<bool, StoreError> {
        Ok(self.lock().remove(&self.key(stream)).is_some())
    }

    fn read_group(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        check_count("read_group", stream, count)?;
        let key = self.key(stream);
        Ok(self.wait(block, |streams| {
            let Some(s) = streams.get_mut(&key) else {
                return Vec::new();
            };
            let Some(g) = s.groups.get_mut(group) else {
                return Vec::new();
            };
            let fresh: Vec<((u64, u64), Vec<u8>)> = s
                .messages
                .range((
                    std::ops::Bound::Excluded(g.delivered),
                    std::ops::Bound::Unbounded,
                ))
                .take(count)
                .map(|(id, body)| (*id, body.clone()))
                .collect();
            let now = Instant::now();
            fresh
                .into_iter()
                .map(|(id, body)| {
                    g.delivered = id;
                    g.pending.insert(
                        id,
                        Pending {
                            consumer: consumer.to_owned(),
                            since: now,
                            deliveries: 1,
                        },
                    );
                    Delivery {
                        id: id_of(id),
                        body,
                        deliveries: 1,
                        previous_consumer: None,
                    }
                })
                .collect()
        }))
    }

    fn ack(&self, stream: &str, group: &str, ids: &[MessageId]) -> Result<(), StoreError> {
        let mut streams = self.lock();
        let Some(s) = streams.get_mut(&self.key(stream)) else {
            return Ok(());
        };
        for id in ids.iter().filter_map(MessageId::parts) {
            if let Some(g) = s.groups.get_mut(group) {
                g.pending.remove(&id);
            }
            s.messages.remove(&id);
        }
        Ok(())
    }

    fn claim_idle(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        check_count("claim_idle", stream, count)?;
        let mut streams = self.lock();
        let Some(s) = streams.get_mut(&self.key(stream)) else {
            return Ok(Vec::new());
        };
        let Some(g) = s.groups.get_mut(group) else {
            return Ok(Vec::new());
        };
        let now = Instant::now();
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (id, p) in g.pending.iter_mut() {
            if out.len() >= count {
                break;
            }
            if now.duration_since(p.since) < min_idle {
                continue;
            }
            let Some(body) = s.messages.get(id) else {
                // Deleted from the stream: Redis drops such entries from the pending list too.
                gone.push(*id);
                continue;
            };
            let previous = std::mem::replace(&mut p.consumer, consumer.to_owned());
            p.since = now;
            p.deliveries = p.deliveries.saturating_add(1);
            out.push(Delivery {
                id: id_of(*id),
                body: body.clone(),
                deliveries: p.deliveries,
                previous_consumer: Some(previous),
            });
        }
        for id in gone {
            g.pending.remove(&id);
        }
        Ok(out)
    }

    fn renew(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        ids: &[MessageId],
    ) -> Result<Vec<MessageId>, StoreError> {
        let mut streams = self.lock();
        let Some(s) = streams.get_mut(&self.key(stream)) else {
            return Ok(Vec::new());
        };
        let Some(g) = s.groups.get_mut(group) else {
            return Ok(Vec::new());
        };
        let now = Instant::now();
        let mut renewed = Vec::new();
        for (id, parts) in ids.iter().filter_map(|id| Some((id, id.parts()?))) {
            if g.pending.get(&parts).is_none_or(|p| p.consumer != consumer) {
                continue;
            }
            if !s.messages.contains_key(&parts) {
                // Acknowledged (so deleted) through another group: like XCLAIM, drop it from
                // this group's pending list rather than renew a message that is gone.
                g.pending.remove(&parts);
                continue;
            }
            if let Some(p) = g.pending.get_mut(&parts) {
                p.since = now;
                renewed.push(id.clone());
            }
        }
        Ok(renewed)
    }

    fn pending(&self, stream: &str, group: &str) -> Result<Vec<PendingCount>, StoreError> {
        let streams = self.lock();
        let Some(g) = streams
            .get(&self.key(stream))
            .and_then(|s| s.groups.get(group))
        else {
            return Ok(Vec::new());
        };
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for p in g.pending.values() {
            *counts.entry(p.consumer.as_str()).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .map(|(consumer, count)| PendingCount {
                consumer: consumer.to_owned(),
                count,
            })
            .collect())
    }

    fn read(
        &self,
        stream: &str,
        after: &MessageId,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Message>, StoreError> {
        check_count("read", stream, count)?;
        let from = check_id("read", after)?;
        let key = self.key(stream);
        Ok(self.wait(block, |streams| {
            streams.get(&key).map_or_else(Vec::new, |s| {
                s.messages
                    .range((std::ops::Bound::Excluded(from), std::ops::Bound::Unbounded))
                    .take(count)
                    .map(|(id, body)| Message {
                        id: id_of(*id),
                        body: body.clone(),
                    })
                    .collect()
            })
        }))
    }
}
