//! Prefix scans of the Redis store: one Lua script per page, and the slower path a cluster
//! store takes while its namespace's slot migrates.
//!
//! The script (`SCAN_SCRIPT`) reads value keys it does not declare. While the slot migrates,
//! the old master refuses a script access to a key that has moved there ("non local key"),
//! before the script has removed anything; and a script that followed an `ASK` to the new
//! master would read the keys not yet moved as gone and remove their index entries. So a
//! refused script is never followed: the page is read again with commands that name their
//! keys ([`RedisStore::scan_declared`]), each following its own `ASK`.

use redis::{Connection, RedisError, RedisResult, Value};

use super::connection::{Pool, Refusal, refusal};
use super::{RedisStore, Retry};
use crate::{Key, StoreError};

/// The largest page the scan script is asked for: Lua numbers are doubles, exact to 2^53, and
/// a page this large would not fit in memory anyway.
const MAX_SCRIPT_LIMIT: usize = 1 << 31;

/// How many index members the migration path reads, and values it fetches, per round trip.
const DECLARED_CHUNK: usize = 1000;

/// Returns up to `limit` live `key, value` pairs (flattened) from the index range `[min, max]`,
/// removing members whose value has expired. `KEYS[1]`: the index. `ARGV`: the value-key prefix,
/// `min`, `max` (ZRANGEBYLEX syntax) and `limit`.
pub(super) const SCAN_SCRIPT: &str = r"
local index = KEYS[1]
local data_prefix = ARGV[1]
local min = ARGV[2]
local max = ARGV[3]
local limit = tonumber(ARGV[4])
local out = {}
local found = 0
while found < limit do
  local want = limit - found
  local members = redis.call('ZRANGEBYLEX', index, min, max, 'LIMIT', 0, want)
  for _, member in ipairs(members) do
    local value = redis.call('GET', data_prefix .. member)
    if value then
      out[#out + 1] = member
      out[#out + 1] = value
      found = found + 1
    else
      redis.call('ZREM', index, member)
    end
  end
  if #members < want then break end
  min = '(' .. members[#members]
end
return out
";

/// A page's `key, value` pairs, in key order.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// What the scan script answered.
enum ScriptReply {
    /// `key, value` pairs, flattened.
    Flat(Vec<Vec<u8>>),
    /// Refused because the slot is migrating (see the module docs).
    Migrating(RedisError),
}

/// Whether the scan script was refused because the namespace's slot is migrating: an `ASK`
/// for the index (it has moved; the script must not follow it), a `TRYAGAIN`, or an access to
/// a value key that has moved, which Redis reports only in its message.
fn refused_mid_migration(err: &RedisError) -> bool {
    matches!(refusal(err), Some(Refusal::Ask(_) | Refusal::Split))
        || (err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError)
            && err
                .detail()
                .is_some_and(|detail| detail.contains("non local key")))
}

/// One value read by [`RedisStore::read_values`] from the old master.
enum Read {
    Value(Option<Vec<u8>>),
    /// It has moved to this node (`ASK`).
    Moved(String),
}

impl RedisStore {
    /// Up to `limit` live entries of the index range `[min, max]` (`ZRANGEBYLEX` syntax).
    pub(super) fn scan_range(
        &self,
        prefix: &[u8],
        min: &[u8],
        max: &[u8],
        limit: usize,
    ) -> Result<Entries, StoreError> {
        let mut invocation = self.scan_script.prepare_invoke();
        invocation
            .key(&self.index_key)
            .arg(&self.data_prefix)
            .arg(min)
            .arg(max)
            .arg(limit.min(MAX_SCRIPT_LIMIT));
        let reply =
            self.pool
                .with_conn("scan_prefix", Retry::Idempotent, |conn| {
                    match invocation.invoke::<Vec<Vec<u8>>>(conn) {
                        Ok(flat) => Ok(ScriptReply::Flat(flat)),
                        Err(err) if refused_mid_migration(&err) => Ok(ScriptReply::Migrating(err)),
                        Err(err) => Err(err),
                    }
                })?;
        let flat = match reply {
            ScriptReply::Flat(flat) => flat,
            ScriptReply::Migrating(err) => {
                tracing::debug!(
                    store = %self.pool.name(),
                    error = %err,
                    "the slot is migrating: scanning with commands that declare their keys"
                );
                return self.scan_declared(min, max, limit);
            }
        };
        let pairs = flat.chunks_exact(2);
        if !pairs.remainder().is_empty() {
            return Err(StoreError::Corrupt {
                store: self.pool.name(),
                key: Key::from(prefix),
                reason: format!("scan script returned {} items, not pairs", flat.len()),
            });
        }
        Ok(pairs
            .filter_map(|pair| match pair {
                [key, value] => Some((key.clone(), value.clone())),
                _ => None,
            })
            .collect())
    }

    /// The scan script's page read with commands that declare their keys, so that each may
    /// follow its own `ASK`: `ZRANGEBYLEX` on the index, then one `GET` per member. It removes
    /// no index member: one whose value is gone is skipped, and the next scan by script
    /// removes it.
    fn scan_declared(&self, min: &[u8], max: &[u8], limit: usize) -> Result<Entries, StoreError> {
        let mut entries = Vec::new();
        let mut min = min.to_vec();
        while entries.len() < limit {
            let want = (limit - entries.len()).min(DECLARED_CHUNK);
            let members: Vec<Vec<u8>> =
                self.pool
                    .with_conn("scan_prefix", Retry::Idempotent, |conn| {
                        redis::cmd("ZRANGEBYLEX")
                            .arg(&self.index_key)
                            .arg(&min)
                            .arg(max)
                            .arg("LIMIT")
                            .arg(0)
                            .arg(want)
                            .query(conn)
                    })?;
            let values = self.read_values(&members)?;
            let Some(last) = members.last() else {
                break;
            };
            min.clear();
            min.push(b'(');
            min.extend_from_slice(last);
            let complete = members.len() < want;
            entries.extend(
                members
                    .into_iter()
                    .zip(values)
                    .filter_map(|(member, value)| Some((member, value?))),
            );
            if complete {
                break;
            }
        }
        Ok(entries)
    }

    /// The values of `members`, `None` for those that are gone: one pipeline of `GET`s on the
    /// master, then one on the node an `ASK` named for those that have moved there.
    fn read_values(&self, members: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let data_keys: Vec<Vec<u8>> = members.iter().map(|m| self.data_key(m)).collect();
        let reads = self
            .pool
            .with_conn("scan_prefix", Retry::Idempotent, |conn| {
                get_all(conn, &data_keys, false)
            })?;
        let mut values = Vec::with_capacity(reads.len());
        let mut moved: Vec<(usize, String)> = Vec::new();
        for (i, read) in reads.into_iter().enumerate() {
            match read {
                Read::Value(value) => values.push(value),
                Read::Moved(target) => {
                    values.push(None);
                    moved.push((i, target));
                }
            }
        }
        let Some((_, target)) = moved.first() else {
            return Ok(values);
        };
        // One slot migrates to one node at a time, so every `ASK` names the same one.
        let target = target.clone();
        let asked: Vec<&Vec<u8>> = moved
            .iter()
            .filter_map(|(i, _)| data_keys.get(*i))
            .collect();
        tracing::debug!(
            server = target,
            keys = asked.len(),
            "reading moved keys after ASKING"
        );
        let reads = Pool::ask(&target, &|conn: &mut Connection| {
            get_all(conn, &asked, true)
        })
        .map_err(|err| Pool::error_for(&target, "scan_prefix", err))?;
        for ((i, _), read) in moved.iter().zip(reads) {
            let (Some(slot), Read::Value(value)) = (values.get_mut(*i), read) else {
                return Err(StoreError::Corrupt {
                    store: target,
                    key: Key::from(members.get(*i).map_or(&[][..], Vec::as_slice)),
                    reason: "answered `ASK` after `ASKING`".to_owned(),
                });
            };
            *slot = value;
        }
        Ok(values)
    }
}

/// `GET`s every key of `keys` in one pipeline (each after `ASKING` when `asking`), reading every
/// reply before returning. An `ASK` reply becomes [`Read::Moved`]; any other error reply fails
/// the whole read (a `MOVED` makes the pool re-read the slot map and try again).
fn get_all<K: redis::ToRedisArgs>(
    conn: &mut Connection,
    keys: &[K],
    asking: bool,
) -> RedisResult<Vec<Read>> {
    let mut packed = Vec::new();
    for key in keys {
        if asking {
            redis::cmd("ASKING").write_packed_command(&mut packed);
        }
        redis::cmd("GET").arg(key).write_packed_command(&mut packed);
    }
    conn.send_packed_command(&packed)?;
    let mut reads = Vec::with_capacity(keys.len());
    let mut first_error = None;
    for _ in keys {
        if asking && let Err(err) = conn.recv_response().and_then(Value::extract_error) {
            first_error.get_or_insert(err);
        }
        match conn.recv_response().and_then(Value::extract_error) {
            Ok(value) => match redis::from_redis_value::<Option<Vec<u8>>>(value) {
                Ok(value) => reads.push(Read::Value(value)),
                Err(err) => {
                    first_error.get_or_insert(err.into());
                }
            },
            Err(err) => match refusal(&err) {
                Some(Refusal::Ask(target)) => reads.push(Read::Moved(target)),
                _ => {
                    first_error.get_or_insert(err);
                }
            },
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(reads),
    }
}
