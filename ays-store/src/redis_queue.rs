//! The Redis Streams message queue (`redis://host:port/db` and
//! `redis+cluster://host:port[,host:port...]`).
//!
//! # Key layout and commands
//!
//! Stream `s` of namespace `ns` is the Redis stream `{ns}:q:<s>`, each entry holding its body in
//! the field `b`; the table of commands is in the [`queue`](crate::queue) module docs. The
//! `{ns}` hash tag keeps the key in the namespace's cluster slot, so the two scripts below
//! (`CLAIM_SCRIPT`, `RENEW_SCRIPT`, each over that one key) are legal in a cluster.
//!
//! A `NOGROUP` reply (no such stream or group) reads as empty. A zero `block` sends no `BLOCK`
//! argument, since `BLOCK 0` would wait forever; a blocking read runs with a read timeout of
//! [`IO_TIMEOUT`] plus its block, on a connection of its own from the pool (other threads open
//! new connections meanwhile, so a blocked reader never holds up a publisher).
//!
//! `claim_idle` is `XAUTOCLAIM`, preceded in the same script by `XPENDING … IDLE` from the same
//! cursor, which names each claimed entry's previous consumer and delivery count.
//!
//! # Retries, duplicates and the loss window
//!
//! Calls go through the same connection pool as the key value store (`redis::connection`):
//! after a redirect or a failed connect any call retries once, and after a broken pooled
//! connection every call but a timed-out one retries once on a fresh connection. For `publish`
//! that retry may append the message twice (the first try may have reached the server before
//! the connection broke); for `read_group` and `claim_idle` it may leave messages pending for
//! this consumer that it never saw, until a later `claim_idle` takes them. Both are within the
//! at-least-once contract. A publish that timed out is never retried: it reports
//! [`StoreError::Connection`], and the message may or may not have been appended.
//!
//! On a cluster every write that must survive a failover (`publish`, `publish_many`,
//! `create_group`, `reset`, `ack`, `claim_idle`) waits for one replica (`WAIT 1 1000`), as the
//! key value store's writes do. `read_group` and `renew` do not: they are the hot path, and a
//! delivery or a renewal lost in a failover only lets a message be delivered again.

use std::sync::Arc;
use std::time::Duration;

use redis::{Connection, RedisError, RedisResult, Script, Value};

use crate::queue::{
    Delivery, MAX_BLOCK, Message, MessageId, MessageQueue, PendingCount, check_count, check_id,
};
use crate::redis::{Fixed, IO_TIMEOUT, Locate, Pool, Retry, commit_timeout, with_timeout};
use crate::{Key, StoreError};

/// The stream field holding a message body.
const BODY_FIELD: &str = "b";

/// The most ids one script call claims per `XPENDING` (Lua's `unpack` has a stack limit).
const CLAIM_CHUNK: usize = 1000;

/// The largest count sent to a script: Lua numbers are doubles.
const MAX_SCRIPT_COUNT: usize = 1 << 31;

/// Claims up to `count` entries of group `ARGV[1]` idle for at least `ARGV[3]` ms for consumer
/// `ARGV[2]`, with `XAUTOCLAIM` (which checks the idle time, increments the delivery count and
/// drops from the pending list the entries deleted from the stream, without returning them).
/// Just before each `XAUTOCLAIM`, `XPENDING … IDLE` from the same cursor names the holder and
/// delivery count of every entry it may claim (it scans at most ten times its `COUNT`). Being one
/// script, nobody can claim or ack in between. Returns a flat array of `id, previous consumer,
/// deliveries, body` (the body `false`, a nil, for an entry without a `b` field).
const CLAIM_SCRIPT: &str = r"
local key, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local min_idle, count, chunk = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
if redis.call('EXISTS', key) == 0 then return out end
local cursor = '0-0'
local claimed = 0
while claimed < count do
  local want = math.min(count - claimed, chunk)
  local pending = redis.pcall('XPENDING', key, group, 'IDLE', min_idle, cursor, '+', want * 10 + 10)
  if pending.err then
    if string.find(pending.err, 'NOGROUP', 1, true) then return out end
    return pending
  end
  if #pending == 0 then break end
  local held = {}
  for _, p in ipairs(pending) do held[p[1]] = p end
  local reply = redis.call('XAUTOCLAIM', key, group, consumer, min_idle, cursor, 'COUNT', want)
  for _, entry in ipairs(reply[2]) do
    local id, fields = entry[1], entry[2]
    local body = false
    if type(fields) == 'table' then
      for f = 1, #fields, 2 do
        if fields[f] == 'b' then body = fields[f + 1] end
      end
    end
    local p = held[id]
    out[#out + 1] = id
    out[#out + 1] = p and p[2] or ''
    out[#out + 1] = p and tostring(p[4] + 1) or '0'
    out[#out + 1] = body
    claimed = claimed + 1
  end
  cursor = reply[1]
  if cursor == '0-0' then break end
end
return out
";

/// For each id in `ARGV[3..]`: if consumer `ARGV[2]` of group `ARGV[1]` still holds it, resets
/// its idle time (`XCLAIM … 0 id JUSTID`, which leaves the delivery count alone). Returns the
/// renewed ids. Being one script, an entry another consumer claimed meanwhile is never taken
/// back.
const RENEW_SCRIPT: &str = r"
local key, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local out = {}
if redis.call('EXISTS', key) == 0 then return out end
for i = 3, #ARGV do
  local id = ARGV[i]
  local p = redis.pcall('XPENDING', key, group, id, id, 1)
  if p.err then
    if string.find(p.err, 'NOGROUP', 1, true) then return out end
    return p
  end
  if p[1] and p[1][2] == consumer then
    local claimed = redis.call('XCLAIM', key, group, consumer, 0, id, 'JUSTID')
    if #claimed > 0 then out[#out + 1] = id end
  end
end
return out
";

/// Parses `url` and returns a queue on `namespace`; connects lazily, on the first call.
pub(crate) fn open(url: &str, namespace: &str) -> Result<Arc<dyn MessageQueue>, StoreError> {
    let locate: Box<dyn Locate> = if url.starts_with("redis+cluster://") {
        crate::cluster::locate(url, namespace)?
    } else {
        Box::new(Fixed::from_url(url)?)
    };
    tracing::debug!(url, namespace, "opened redis message queue");
    Ok(Arc::new(RedisQueue {
        pool: Pool::new(locate),
        prefix: format!("{{{namespace}}}:q:"),
        claim_script: Script::new(CLAIM_SCRIPT),
        renew_script: Script::new(RENEW_SCRIPT),
    }))
}

/// A message queue on one namespace of a Redis server (or of the cluster master owning its
/// slot).
struct RedisQueue {
    pool: Pool,
    /// `{ns}:q:`, the prefix of every stream key.
    prefix: String,
    claim_script: Script,
    renew_script: Script,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("pool", &self.pool)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Whether `err` is Redis saying the stream or the group does not exist.
fn is_no_group(err: &RedisError) -> bool {
    err.code() == Some("NOGROUP")
}

/// The `BLOCK` argument for `block`: `None` for zero (no argument: `BLOCK 0` waits forever),
/// else whole milliseconds, rounded up, of at most [`MAX_BLOCK`].
fn block_millis(block: Duration) -> Option<u64> {
    if block.is_zero() {
        return None;
    }
    let ms = block.min(MAX_BLOCK).as_micros().div_ceil(1000);
    Some(u64::try_from(ms).unwrap_or(u64::MAX).max(1))
}

/// Whole milliseconds of `idle`, rounded up so that nothing is claimed early.
fn idle_millis(idle: Duration) -> u64 {
    u64::try_from(idle.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
}

/// Runs `cmd`, with a read timeout longer than its block when it blocks.
fn query_blocking(
    cmd: &redis::Cmd,
    conn: &mut Connection,
    block: Option<u64>,
) -> RedisResult<Value> {
    match block {
        None => cmd.query(conn),
        Some(ms) => with_timeout(conn, IO_TIMEOUT + Duration::from_millis(ms), |conn| {
            cmd.query(conn)
        }),
    }
}

/// A short description of a reply for an error message (never a whole 1 MiB body).
fn describe(value: &Value) -> String {
    let mut text = format!("{value:?}");
    if text.len() > 120 {
        let mut end = 120;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn count(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other).and_then(|s| s.parse().ok()),
    }
}

/// The body of a stream entry's field list `[b, <body>]`.
fn body_of(fields: Value) -> Result<Vec<u8>, String> {
    let Value::Array(fields) = fields else {
        return Err(format!(
            "entry fields are not an array: {}",
            describe(&fields)
        ));
    };
    let mut fields = fields.into_iter();
    while let (Some(name), Some(value)) = (fields.next(), fields.next()) {
        if text(&name).as_deref() == Some(BODY_FIELD) {
            return match value {
                Value::BulkString(body) => Ok(body),
                other => Err(format!("body is not a string: {}", describe(&other))),
            };
        }
    }
    Err(format!("entry has no `{BODY_FIELD}` field"))
}

/// One stream entry, `[id, [field, value, …]]`.
fn entry(value: Value) -> Result<(MessageId, Vec<u8>), String> {
    let Value::Array(parts) = value else {
        return Err(format!("entry is not an array: {}", describe(&value)));
    };
    let [id, fields] = <[Value; 2]>::try_from(parts)
        .map_err(|parts| format!("entry has {} parts, not 2", parts.len()))?;
    let id = text(&id).ok_or_else(|| format!("entry id is not text: {}", describe(&id)))?;
    Ok((MessageId(id), body_of(fields)?))
}

/// The entries of an `XREAD` or `XREADGROUP` reply over one stream: nil, or
/// `[[key, [entry, …]]]`.
fn read_reply(reply: Value) -> Result<Vec<(MessageId, Vec<u8>)>, String> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams,
        other => return Err(format!("read reply is not an array: {}", describe(&other))),
    };
    let mut out = Vec::new();
    for stream in streams {
        let Value::Array(pair) = stream else {
            return Err(format!(
                "stream reply is not an array: {}",
                describe(&stream)
            ));
        };
        let [_key, entries] = <[Value; 2]>::try_from(pair)
            .map_err(|pair| format!("stream reply has {} parts, not 2", pair.len()))?;
        match entries {
            Value::Array(entries) => {
                for e in entries {
                    out.push(entry(e)?);
                }
            }
            Value::Nil => {}
            other => return Err(format!("stream entries: {}", describe(&other))),
        }
    }
    Ok(out)
}

/// The per-consumer counts of an `XPENDING key group` summary:
/// `[count, min, max, [[consumer, count], …] or nil]`.
fn pending_reply(reply: Value) -> Result<Vec<PendingCount>, String> {
    let Value::Array(parts) = reply else {
        return Err(format!(
            "XPENDING reply is not an array: {}",
            describe(&reply)
        ));
    };
    let consumers = match parts.into_iter().nth(3) {
        None | Some(Value::Nil) => return Ok(Vec::new()),
        Some(Value::Array(consumers)) => consumers,
        Some(other) => return Err(format!("XPENDING consumers: {}", describe(&other))),
    };
    let mut out: Vec<PendingCount> = consumers
        .into_iter()
        .map(|c| match c {
            Value::Array(pair) => match pair.as_slice() {
                [name, n] => match (text(name), count(n)) {
                    (Some(consumer), Some(count)) => Ok(PendingCount { consumer, count }),
                    _ => Err(format!("XPENDING consumer {pair:?}")),
                },
                _ => Err(format!("XPENDING consumer {pair:?}")),
            },
            other => Err(format!("XPENDING consumer {}", describe(&other))),
        })
        .collect::<Result<_, _>>()?;
    out.sort_by(|a, b| a.consumer.cmp(&b.consumer));
    Ok(out)
}

/// The flat `id, previous consumer, deliveries, body` array of [`CLAIM_SCRIPT`].
fn claim_reply(reply: Vec<Value>) -> Result<Vec<Delivery>, String> {
    let quads = reply.chunks_exact(4);
    if !quads.remainder().is_empty() {
        return Err(format!(
            "claim script returned {} items, not quadruples",
            reply.len()
        ));
    }
    quads
        .map(|quad| match quad {
            [id, previous, deliveries, body] => {
                let id = text(id).ok_or_else(|| format!("claimed id {}", describe(id)))?;
                let previous = text(previous)
                    .ok_or_else(|| format!("previous consumer {}", describe(previous)))?;
                let deliveries = count(deliveries)
                    .ok_or_else(|| format!("deliveries {}", describe(deliveries)))?;
                let Value::BulkString(body) = body else {
                    return Err(format!("claimed entry {id} has no `{BODY_FIELD}` field"));
                };
                Ok(Delivery {
                    id: MessageId(id),
                    body: body.clone(),
                    deliveries,
                    // Empty when `XPENDING` did not list it (it cannot happen in one script).
                    previous_consumer: Some(previous).filter(|p| !p.is_empty()),
                })
            }
            _ => Err("claim script returned a short quadruple".to_owned()),
        })
        .collect()
}

impl RedisQueue {
    fn key(&self, stream: &str) -> String {
        format!("{}{stream}", self.prefix)
    }

    fn corrupt(&self, key: &str, reason: String) -> StoreError {
        StoreError::Corrupt {
            store: self.pool.name(),
            key: Key::from(key.as_bytes()),
            reason,
        }
    }

    /// The ids of `ids` that are message ids; Redis would refuse the whole command for one
    /// that is not, where the trait ignores unknown ids.
    fn valid_ids(ids: &[MessageId]) -> Vec<&str> {
        ids.iter()
            .filter(|id| id.parts().is_some())
            .map(MessageId::as_str)
            .collect()
    }
}

impl MessageQueue for RedisQueue {
    fn publish(&self, stream: &str, body: &[u8]) -> Result<MessageId, StoreError> {
        let key = self.key(stream);
        let id: String = self
            .pool
            .with_write("publish", Retry::AtLeastOnce, |conn| {
                redis::cmd("XADD")
                    .arg(&key)
                    .arg("*")
                    .arg(BODY_FIELD)
                    .arg(body)
                    .query(conn)
            })?;
        Ok(MessageId(id))
    }

    fn publish_many(&self, stream: &str, bodies: &[&[u8]]) -> Result<Vec<MessageId>, StoreError> {
        if bodies.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.key(stream);
        let mut pipe = redis::pipe();
        for body in bodies {
            pipe.cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg(BODY_FIELD)
                .arg(*body);
        }
        let timeout = commit_timeout(bodies.len());
        let ids: Vec<String> =
            self.pool
                .with_write("publish_many", Retry::AtLeastOnce, |conn| {
                    with_timeout(conn, timeout, |conn| pipe.query(conn))
                })?;
        Ok(ids.into_iter().map(MessageId).collect())
    }

    fn create_group(&self, stream: &str, group: &str) -> Result<(), StoreError> {
        let key = self.key(stream);
        self.pool.with_write(
            "create_group",
            Retry::Idempotent,
            |conn| match redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&key)
                .arg(group)
                .arg("0")
                .arg("MKSTREAM")
                .query::<()>(conn)
            {
                Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
                other => other,
            },
        )
    }

    fn reset(&self, stream: &str) -> Result<bool, StoreError> {
        let key = self.key(stream);
        let deleted: i64 = self.pool.with_write("reset", Retry::Idempotent, |conn| {
            redis::cmd("DEL").arg(&key).query(conn)
        })?;
        Ok(deleted > 0)
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
        let block = block_millis(block);
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count);
        if let Some(ms) = block {
            cmd.arg("BLOCK").arg(ms);
        }
        cmd.arg("STREAMS").arg(&key).arg(">");
        let reply =
            self.pool.with_conn(
                "read_group",
                Retry::AtLeastOnce,
                |conn| match query_blocking(&cmd, conn, block) {
                    Err(err) if is_no_group(&err) => Ok(Value::Nil),
                    other => other,
                },
            )?;
        let entries = read_reply(reply).map_err(|reason| self.corrupt(&key, reason))?;
        Ok(entries
            .into_iter()
            .map(|(id, body)| Delivery {
                id,
                body,
                deliveries: 1,
                previous_consumer: None,
            })
            .collect())
    }

    fn ack(&self, stream: &str, group: &str, ids: &[MessageId]) -> Result<(), StoreError> {
        let ids = Self::valid_ids(ids);
        if ids.is_empty() {
            return Ok(());
        }
        let key = self.key(stream);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XACK")
            .arg(&key)
            .arg(group)
            .arg(&ids)
            .ignore()
            .cmd("XDEL")
            .arg(&key)
            .arg(&ids)
            .ignore();
        self.pool
            .with_write("ack", Retry::Idempotent, |conn| pipe.query::<()>(conn))
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
        let key = self.key(stream);
        let mut invocation = self.claim_script.prepare_invoke();
        invocation
            .key(&key)
            .arg(group)
            .arg(consumer)
            .arg(idle_millis(min_idle))
            .arg(count.min(MAX_SCRIPT_COUNT))
            .arg(CLAIM_CHUNK);
        let reply: Vec<Value> = self
            .pool
            .with_write("claim_idle", Retry::AtLeastOnce, |conn| {
                invocation.invoke(conn)
            })?;
        claim_reply(reply).map_err(|reason| self.corrupt(&key, reason))
    }

    fn renew(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        ids: &[MessageId],
    ) -> Result<Vec<MessageId>, StoreError> {
        let valid = Self::valid_ids(ids);
        if valid.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.key(stream);
        let mut invocation = self.renew_script.prepare_invoke();
        invocation.key(&key).arg(group).arg(consumer).arg(&valid);
        let renewed: Vec<String> = self
            .pool
            .with_conn("renew", Retry::Idempotent, |conn| invocation.invoke(conn))?;
        Ok(renewed.into_iter().map(MessageId).collect())
    }

    fn pending(&self, stream: &str, group: &str) -> Result<Vec<PendingCount>, StoreError> {
        let key = self.key(stream);
        let reply =
            self.pool.with_conn("pending", Retry::Idempotent, |conn| {
                match redis::cmd("XPENDING").arg(&key).arg(group).query(conn) {
                    Err(err) if is_no_group(&err) => Ok(Value::Nil),
                    other => other,
                }
            })?;
        if reply == Value::Nil {
            return Ok(Vec::new());
        }
        pending_reply(reply).map_err(|reason| self.corrupt(&key, reason))
    }

    fn read(
        &self,
        stream: &str,
        after: &MessageId,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Message>, StoreError> {
        check_count("read", stream, count)?;
        check_id("read", after)?;
        let key = self.key(stream);
        let block = block_millis(block);
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(count);
        if let Some(ms) = block {
            cmd.arg("BLOCK").arg(ms);
        }
        cmd.arg("STREAMS").arg(&key).arg(after.as_str());
        let reply = self.pool.with_conn("read", Retry::Idempotent, |conn| {
            query_blocking(&cmd, conn, block)
        })?;
        let entries = read_reply(reply).map_err(|reason| self.corrupt(&key, reason))?;
        Ok(entries
            .into_iter()
            .map(|(id, body)| Message { id, body })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_zero_sends_no_block_and_long_blocks_are_capped() {
        assert_eq!(block_millis(Duration::ZERO), None);
        assert_eq!(block_millis(Duration::from_micros(1)), Some(1));
        assert_eq!(block_millis(Duration::from_millis(250)), Some(250));
        assert_eq!(block_millis(Duration::from_secs(3600)), Some(1000));
        assert!(IO_TIMEOUT > MAX_BLOCK, "a blocked read must not time out");
    }

    #[test]
    fn idle_rounds_up() {
        assert_eq!(idle_millis(Duration::ZERO), 0);
        assert_eq!(idle_millis(Duration::from_micros(1)), 1);
        assert_eq!(idle_millis(Duration::from_millis(500)), 500);
    }

    #[test]
    fn replies_of_the_wrong_shape_are_reasons_not_panics() {
        assert_eq!(read_reply(Value::Nil), Ok(Vec::new()));
        assert!(read_reply(Value::Int(1)).is_err());
        assert!(read_reply(Value::Array(vec![Value::Array(vec![Value::Nil])])).is_err());
        let no_body = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"k".to_vec()),
            Value::Array(vec![Value::Array(vec![
                Value::BulkString(b"1-0".to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"x".to_vec()),
                    Value::BulkString(b"y".to_vec()),
                ]),
            ])]),
        ])]);
        assert_eq!(
            read_reply(no_body),
            Err("entry has no `b` field".to_owned())
        );
        assert_eq!(
            pending_reply(Value::Array(vec![
                Value::Int(0),
                Value::Nil,
                Value::Nil,
                Value::Nil
            ])),
            Ok(Vec::new())
        );
        assert!(claim_reply(vec![Value::Nil; 3]).is_err());
        assert!(claim_reply(vec![Value::Nil; 4]).is_err());
    }
}
