//! The Redis backend (`redis://host:port/db`): a store shared by several processes.
//!
//! # Key layout
//!
//! A store is bound to a namespace `ns` (one per repository). Every Redis key it touches starts
//! with the hash tag `{ns}`, so all keys of a namespace live in one Redis Cluster slot and a
//! batch or script over them is legal there:
//!
//! - `{ns}:k:<key bytes>`: a string holding the value, with a Redis expiry (`PX`) for TTL puts;
//! - `{ns}:i`: the ordered index, a sorted set whose members are the raw keys, all at score 0.
//!
//! # The ordered index
//!
//! `SCAN` is unordered and not paged by key, so prefix scans read the index instead:
//! `ZRANGEBYLEX` walks members in byte order from the cursor (`(after` or `[prefix`) to the end of
//! the prefix (`(prefix+1`, see [`prefix_end`]), `LIMIT 0 n`. Every write updates the value and
//! the index together: a put is `MULTI SET ZADD EXEC`, a delete `MULTI DEL ZREM EXEC`, a batch
//! one `MULTI … EXEC`, and a batch with preconditions one Lua script (`COMMIT_SCRIPT`), so no
//! client ever sees a value without its index entry or the reverse.
//!
//! # Expiry and the index
//!
//! Redis expires the value key by itself, but the index member stays. The scan is therefore one
//! Lua script (`SCAN_SCRIPT`) that reads a run of members, `GET`s each value, returns only those
//! that exist, and `ZREM`s the members whose value is gone: expired keys never show in a scan and
//! the index is cleaned lazily. Being atomic, the script cannot remove the member of a key that a
//! concurrent put has just re-created. The scan script derives value keys from members, so it
//! touches keys not passed in `KEYS`; they share the `{ns}` slot, which Redis Cluster accepts
//! except while that slot migrates: then the page is read with commands that declare their keys
//! (see the `scan` submodule).
//!
//! # Connections
//!
//! The `connection` submodule holds what the store shares with the message queue
//! (`redis_queue`). A small pool (`Mutex<Vec<Connection>>`, locked only to pop or push) lets
//! many threads work at once; a thread with no idle connection opens one. Connects time out
//! after [`CONNECT_TIMEOUT`](connection::CONNECT_TIMEOUT), reads and writes after
//! [`IO_TIMEOUT`], so a dead server is a [`StoreError::Connection`] within seconds, never a
//! hang. A connection that fails with an I/O
//! error is dropped together with every idle one (after a server restart they are all stale);
//! the next call connects afresh, so the same store works again once the server is back. A call
//! that failed on a reused idle connection (other than by timing out) is retried once on a fresh
//! one when it is idempotent (everything but a batch with preconditions, whose retry could
//! misreport its own success), so a server restart between two calls goes unnoticed by reads and
//! plain writes; a compare-and-swap in that window reports [`StoreError::Connection`] once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis::Script;

use crate::batch::{Precondition, Write};
use crate::key::{prefix_end, scan_start};
use crate::store::{check_limit, check_ttl};
use crate::{Batch, Key, KvStore, Page, StoreError};

mod connection;
mod scan;

pub(crate) use connection::{Fixed, IO_TIMEOUT, Locate, Node, Pool, Retry, with_timeout};

/// How much longer a commit may take for each write of its batch: the server applies a batch
/// in one step, and a big one (the blueprint of 100,000 services is 900,000 writes) took
/// longer than [`IO_TIMEOUT`] on a loaded machine.
const COMMIT_TIME_PER_WRITE: Duration = Duration::from_micros(20);

/// How many keys of a plain batch are encoded and sent at once (see `commit_plain`).
const COMMIT_CHUNK: usize = 8192;

/// How long a commit of `writes` writes may take to be sent and answered.
pub(crate) fn commit_timeout(writes: usize) -> Duration {
    let writes = u32::try_from(writes).unwrap_or(u32::MAX);
    IO_TIMEOUT.saturating_add(COMMIT_TIME_PER_WRITE.saturating_mul(writes))
}

/// Checks every precondition, then applies every write; returns 0, or the 1-based index of the
/// first failing precondition. `KEYS`: the index, then one value key per precondition and per
/// write, in order. `ARGV`: the count of preconditions, each as `absent` or `equals <expected>`;
/// then the count of writes, each as `put <member> <value>`, `putex <member> <value> <ms>` or
/// `del <member>`.
const COMMIT_SCRIPT: &str = r"
local index = KEYS[1]
local k = 1
local a = 1
local checks = tonumber(ARGV[a]); a = a + 1
for c = 1, checks do
  k = k + 1
  if ARGV[a] == 'absent' then
    if redis.call('EXISTS', KEYS[k]) == 1 then return c end
    a = a + 1
  else
    if redis.call('GET', KEYS[k]) ~= ARGV[a + 1] then return c end
    a = a + 2
  end
end
local writes = tonumber(ARGV[a]); a = a + 1
for w = 1, writes do
  k = k + 1
  local kind = ARGV[a]
  local member = ARGV[a + 1]
  if kind == 'put' then
    redis.call('SET', KEYS[k], ARGV[a + 2])
    redis.call('ZADD', index, 0, member)
    a = a + 3
  elseif kind == 'putex' then
    redis.call('SET', KEYS[k], ARGV[a + 2], 'PX', ARGV[a + 3])
    redis.call('ZADD', index, 0, member)
    a = a + 4
  else
    redis.call('DEL', KEYS[k])
    redis.call('ZREM', index, member)
    a = a + 2
  end
end
return 0
";

/// A store on one namespace of a Redis server (or of the cluster master owning its slot).
struct RedisStore {
    pool: Pool,
    /// `{ns}:k:`, the prefix of every value key.
    data_prefix: Vec<u8>,
    /// `{ns}:i`, the ordered index.
    index_key: Vec<u8>,
    commit_script: Script,
    scan_script: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("pool", &self.pool)
            .field("index_key", &Key::from(self.index_key.as_slice()))
            .finish_non_exhaustive()
    }
}

/// Parses `url` and returns a store on `namespace`; connects lazily, on the first call.
pub(crate) fn open(url: &str, namespace: &str) -> Result<Arc<dyn KvStore>, StoreError> {
    let fixed = Fixed::from_url(url)?;
    tracing::debug!(server = %fixed.name(), namespace, "opened redis store");
    Ok(open_located(Box::new(fixed), namespace))
}

/// A store on `namespace` of whatever node `locate` gives.
pub(crate) fn open_located(locate: Box<dyn Locate>, namespace: &str) -> Arc<dyn KvStore> {
    Arc::new(RedisStore {
        pool: Pool::new(locate),
        data_prefix: format!("{{{namespace}}}:k:").into_bytes(),
        index_key: format!("{{{namespace}}}:i").into_bytes(),
        commit_script: Script::new(COMMIT_SCRIPT),
        scan_script: Script::new(scan::SCAN_SCRIPT),
    })
}

/// A TTL in whole milliseconds, rounded up so that a key never expires early.
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_micros().div_ceil(1000))
        .unwrap_or(u64::MAX)
        .max(1)
}

impl RedisStore {
    fn data_key(&self, key: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data_prefix.len() + key.len());
        out.extend_from_slice(&self.data_prefix);
        out.extend_from_slice(key);
        out
    }

    fn put_entry(
        &self,
        op: &'static str,
        key: &[u8],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let mut set = redis::cmd("SET");
        set.arg(self.data_key(key)).arg(value);
        if let Some(ttl) = ttl {
            set.arg("PX").arg(ttl_millis(ttl));
        }
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(&self.index_key).arg(0).arg(key);
        let packed = transaction(&[set, zadd]);
        self.pool.with_write(op, Retry::Idempotent, |conn| {
            conn.send_packed_command(&packed)?;
            read_transaction(conn, 3).map(drop)
        })
    }

    /// A batch without preconditions as one `MULTI … EXEC`. Only the last write to each key
    /// matters, so the batch is reduced to it first, then sent as few commands as possible, in
    /// chunks of [`COMMIT_CHUNK`] keys: per chunk one `MSET` for the puts without TTL, one
    /// `SET … PX` per TTL put, one `DEL` and one `ZREM` for the deletes, and one `ZADD` for every
    /// put key. The chunks are encoded and sent one after the other inside the transaction, so a
    /// batch of a million writes is never encoded whole (it used to take 1 GiB); the server
    /// applies nothing before `EXEC`, and discards everything if the connection drops first.
    fn commit_plain(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut last: BTreeMap<&[u8], &Write> = BTreeMap::new();
        for write in batch.writes() {
            last.insert(write.key(), write);
        }
        let last: Vec<(&[u8], &Write)> = last.into_iter().collect();
        let timeout = commit_timeout(batch.writes().len());
        self.pool.with_write("commit", Retry::Idempotent, |conn| {
            with_timeout(conn, timeout, |conn| {
                conn.send_packed_command(&redis::cmd("MULTI").get_packed_command())?;
                let mut queued = 1usize;
                let mut packed = Vec::new();
                for chunk in last.chunks(COMMIT_CHUNK) {
                    packed.clear();
                    queued += self.pack_chunk(chunk, &mut packed);
                    conn.send_packed_command(&packed)?;
                }
                conn.send_packed_command(&redis::cmd("EXEC").get_packed_command())?;
                read_transaction(conn, queued).map(drop)
            })
        })
    }

    /// Appends the commands of one chunk of a plain batch (the last write to each key) to
    /// `packed`; returns how many commands it appended.
    fn pack_chunk(&self, chunk: &[(&[u8], &Write)], packed: &mut Vec<u8>) -> usize {
        let mut mset = redis::cmd("MSET");
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(&self.index_key);
        let mut del = redis::cmd("DEL");
        let mut zrem = redis::cmd("ZREM");
        zrem.arg(&self.index_key);
        let (mut plain_puts, mut puts, mut deletes, mut commands) = (0usize, 0usize, 0usize, 0);
        for (key, write) in chunk {
            match write {
                Write::Put {
                    value, ttl: None, ..
                } => {
                    mset.arg(self.data_key(key)).arg(value.as_slice());
                    zadd.arg(0).arg(*key);
                    plain_puts += 1;
                    puts += 1;
                }
                Write::Put {
                    value,
                    ttl: Some(ttl),
                    ..
                } => {
                    redis::cmd("SET")
                        .arg(self.data_key(key))
                        .arg(value.as_slice())
                        .arg("PX")
                        .arg(ttl_millis(*ttl))
                        .write_packed_command(packed);
                    commands += 1;
                    zadd.arg(0).arg(*key);
                    puts += 1;
                }
                Write::Delete { .. } => {
                    del.arg(self.data_key(key));
                    zrem.arg(*key);
                    deletes += 1;
                }
            }
        }
        if plain_puts > 0 {
            mset.write_packed_command(packed);
            commands += 1;
        }
        if puts > 0 {
            zadd.write_packed_command(packed);
            commands += 1;
        }
        if deletes > 0 {
            del.write_packed_command(packed);
            zrem.write_packed_command(packed);
            commands += 2;
        }
        commands
    }

    fn commit_guarded(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut invocation = self.commit_script.prepare_invoke();
        invocation.key(&self.index_key);
        invocation.arg(batch.preconditions().len());
        for precondition in batch.preconditions() {
            invocation.key(self.data_key(precondition.key()));
            match precondition {
                Precondition::Absent { .. } => invocation.arg("absent"),
                Precondition::Equals { expected, .. } => {
                    invocation.arg("equals").arg(expected.as_slice())
                }
            };
        }
        invocation.arg(batch.writes().len());
        for write in batch.writes() {
            invocation.key(self.data_key(write.key()));
            match write {
                Write::Put {
                    key,
                    value,
                    ttl: None,
                } => invocation
                    .arg("put")
                    .arg(key.as_slice())
                    .arg(value.as_slice()),
                Write::Put {
                    key,
                    value,
                    ttl: Some(ttl),
                } => invocation
                    .arg("putex")
                    .arg(key.as_slice())
                    .arg(value.as_slice())
                    .arg(ttl_millis(*ttl)),
                Write::Delete { key } => invocation.arg("del").arg(key.as_slice()),
            };
        }
        let timeout = commit_timeout(batch.writes().len());
        let failed: i64 = self.pool.with_write("commit", Retry::Once, |conn| {
            with_timeout(conn, timeout, |conn| invocation.invoke::<i64>(conn))
        })?;
        if failed == 0 {
            return Ok(());
        }
        let failing = usize::try_from(failed)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| batch.preconditions().get(i));
        match failing {
            Some(precondition) => Err(StoreError::Conflict {
                key: Key::from(precondition.key()),
            }),
            None => Err(StoreError::Corrupt {
                store: self.pool.name(),
                key: Key::from(self.index_key.as_slice()),
                reason: format!("commit script returned {failed}, not a precondition index"),
            }),
        }
    }
}

/// `MULTI`, `commands`, `EXEC`, packed to be sent at once; [`read_transaction`] reads the
/// `commands.len() + 2` replies.
fn transaction(commands: &[redis::Cmd]) -> Vec<u8> {
    let mut packed = redis::cmd("MULTI").get_packed_command();
    for command in commands {
        command.write_packed_command(&mut packed);
    }
    redis::cmd("EXEC").write_packed_command(&mut packed);
    packed
}

/// Reads the replies to a transaction sent on `conn`: `queued` replies (`MULTI`'s and one per
/// command), then `EXEC`'s; returns `EXEC`'s replies.
///
/// A command refused while queued (an `ASK` mid-migration) aborts the transaction, and its
/// error is returned rather than `EXECABORT`, so that the caller sees why: a refusal, which
/// it may retry (see [`connection::Refusal`]). So is an error `EXEC` itself replies (a
/// `TRYAGAIN` from the importing node when only some keys have moved there). Every reply is
/// read, even after an error, so that the connection goes back to the pool with nothing
/// pending.
fn read_transaction(
    conn: &mut redis::Connection,
    queued: usize,
) -> redis::RedisResult<Vec<redis::Value>> {
    let mut first_error = None;
    for _ in 0..queued {
        if let Err(err) = conn.recv_response().and_then(redis::Value::extract_error) {
            first_error.get_or_insert(err);
        }
    }
    let exec = conn.recv_response().and_then(redis::Value::extract_error);
    match (first_error, exec) {
        (Some(err), _) | (None, Err(err)) => Err(err),
        (None, Ok(redis::Value::Array(replies))) => Ok(replies),
        (None, Ok(other)) => Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "`EXEC` replied no array",
            format!("{other:?}"),
        ))),
    }
}

impl KvStore for RedisStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let data_key = self.data_key(key);
        self.pool.with_conn("get", Retry::Idempotent, |conn| {
            redis::cmd("GET")
                .arg(&data_key)
                .query::<Option<Vec<u8>>>(conn)
        })
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let data_keys: Vec<Vec<u8>> = keys.iter().map(|k| self.data_key(k)).collect();
        // One round trip: every key of a namespace shares its hash tag, so MGET also works on a
        // cluster.
        self.pool.with_conn("get_many", Retry::Idempotent, |conn| {
            redis::cmd("MGET")
                .arg(&data_keys)
                .query::<Vec<Option<Vec<u8>>>>(conn)
        })
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.put_entry("put", key, value, None)
    }

    fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        check_ttl("put_with_ttl", key, ttl)?;
        self.put_entry("put_with_ttl", key, value, Some(ttl))
    }

    fn delete(&self, key: &[u8]) -> Result<bool, StoreError> {
        let mut del = redis::cmd("DEL");
        del.arg(self.data_key(key));
        let mut zrem = redis::cmd("ZREM");
        zrem.arg(&self.index_key).arg(key);
        let packed = transaction(&[del, zrem]);
        let replies = self.pool.with_write("delete", Retry::Idempotent, |conn| {
            conn.send_packed_command(&packed)?;
            read_transaction(conn, 3)
        })?;
        let deleted = match replies.as_slice() {
            [redis::Value::Int(deleted), _] => *deleted,
            _ => {
                return Err(StoreError::Corrupt {
                    store: self.pool.name(),
                    key: Key::from(key),
                    reason: format!("`EXEC` of `DEL ZREM` replied {replies:?}"),
                });
            }
        };
        Ok(deleted > 0)
    }

    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        check_limit(prefix, limit)?;
        let (start, exclusive) = scan_start(prefix, after);
        let mut min = Vec::with_capacity(start.len() + 1);
        min.push(if exclusive { b'(' } else { b'[' });
        min.extend_from_slice(start);
        let max = match prefix_end(prefix) {
            Some(end) => {
                let mut max = Vec::with_capacity(end.len() + 1);
                max.push(b'(');
                max.extend_from_slice(&end);
                max
            }
            None => b"+".to_vec(),
        };
        let entries = self.scan_range(prefix, &min, &max, limit)?;
        Ok(Page::from_entries(entries, limit))
    }

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        batch.validate()?;
        if batch.preconditions().is_empty() {
            if batch.writes().is_empty() {
                return Ok(());
            }
            self.commit_plain(batch)
        } else {
            self.commit_guarded(batch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_may_take_longer_the_bigger_its_batch() {
        assert_eq!(commit_timeout(0), IO_TIMEOUT);
        assert_eq!(
            commit_timeout(900_000),
            IO_TIMEOUT + Duration::from_secs(18)
        );
        assert_eq!(
            commit_timeout(usize::MAX),
            IO_TIMEOUT + COMMIT_TIME_PER_WRITE * u32::MAX
        );
    }

    #[test]
    fn ttl_rounds_up_to_whole_milliseconds() {
        assert_eq!(ttl_millis(Duration::from_micros(1)), 1);
        assert_eq!(ttl_millis(Duration::from_micros(1_001)), 2);
        assert_eq!(ttl_millis(Duration::from_secs(2)), 2_000);
    }

    #[test]
    fn bad_url_names_the_url() {
        let err = open("redis://host:notaport/0", "ns").unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidUrl { url, .. } if url == "redis://host:notaport/0"),
            "{err:?}"
        );
    }
}
