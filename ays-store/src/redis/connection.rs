//! Connections to the Redis server (or cluster master) behind a store or a queue: the node,
//! how it is located, a small pool, timeouts, and the retry-once rule.
//!
//! Both the key value store (`redis` module) and the message queue (`redis_queue` module) run
//! every call through [`Pool::with_conn`] or [`Pool::with_write`], so they fail, reconnect and
//! follow a moved cluster slot the same way.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::{Client, Connection, ConnectionLike, RedisError, RedisResult};

use crate::{BackendError, StoreError};

/// How long opening a connection may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one read or write on a connection may take.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(3);

/// Idle connections kept per store; more threads still work, they just connect anew.
const POOL_SIZE: usize = 16;

/// Runs `query` on `conn` with `timeout` for its reads and writes, then restores the usual one
/// (the connection goes back to the pool).
pub(crate) fn with_timeout<T>(
    conn: &mut Connection,
    timeout: Duration,
    query: impl FnOnce(&mut Connection) -> RedisResult<T>,
) -> RedisResult<T> {
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(timeout))?;
    let result = query(conn);
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    result
}

/// The Redis server a store talks to: one `redis://` server, or the master that owns the
/// namespace's slot in a cluster (swapped when the cluster moves it, see [`crate::cluster`]).
pub(crate) struct Node {
    client: Client,
    /// `host:port`, named in every error.
    server: String,
}

impl Node {
    /// A node from a `redis://` URL.
    pub(crate) fn from_url(url: &str) -> RedisResult<Arc<Node>> {
        let client = Client::open(url)?;
        let server = client.get_connection_info().addr().to_string();
        Ok(Arc::new(Node { client, server }))
    }

    /// `host:port`.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// A new connection with the usual timeouts.
    pub(crate) fn connect(&self) -> RedisResult<Connection> {
        let conn = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(conn)
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Where a store finds its node: fixed, or resolved (and re-resolved) from a cluster.
pub(crate) trait Locate: Send + Sync + std::fmt::Debug {
    /// The node to use now; resolves it on first use.
    fn current(&self, op: &'static str) -> Result<Arc<Node>, StoreError>;

    /// Called after `failed` gave a redirect or connection error: returns the node to retry on,
    /// or `None` when a retry on the same node is all there is (a single server).
    fn relocate(
        &self,
        op: &'static str,
        failed: &Arc<Node>,
    ) -> Result<Option<Arc<Node>>, StoreError>;

    /// Runs after every successful write, on the connection that wrote (a cluster waits for a
    /// replica there).
    fn after_write(&self, _conn: &mut Connection, _op: &'static str) {}

    /// The store as errors that are not about one call name it.
    fn name(&self) -> String;
}

/// A single server: the node never changes.
#[derive(Debug)]
pub(crate) struct Fixed(Arc<Node>);

impl Fixed {
    /// The server of a `redis://host:port/db` URL; connects lazily.
    pub(crate) fn from_url(url: &str) -> Result<Self, StoreError> {
        Node::from_url(url)
            .map(Fixed)
            .map_err(|e| StoreError::InvalidUrl {
                url: url.to_owned(),
                reason: e.to_string(),
            })
    }
}

impl Locate for Fixed {
    fn current(&self, _op: &'static str) -> Result<Arc<Node>, StoreError> {
        Ok(Arc::clone(&self.0))
    }

    fn relocate(
        &self,
        _op: &'static str,
        _failed: &Arc<Node>,
    ) -> Result<Option<Arc<Node>>, StoreError> {
        Ok(None)
    }

    fn name(&self) -> String {
        self.0.server.clone()
    }
}

/// Whether a call may run twice, and with what effect.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Retry {
    /// Running it twice has the effect of running it once.
    Idempotent,
    /// Running it twice may repeat its effect (a message published twice, messages delivered
    /// and left pending), which an at-least-once queue allows.
    AtLeastOnce,
    /// It must not run twice (a compare-and-swap, whose retry could misreport its own success).
    Once,
}

/// How a Redis Cluster refused a call. It refused before running any of it (a transaction
/// aborted by a refused command applied nothing), so any call may be sent again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `ASK`: the slot is being migrated to the node named (`host:port`), which serves the keys
    /// that have moved already, after `ASKING`.
    Ask(String),
    /// `TRYAGAIN`: the slot is being migrated and the call's keys are split between the two
    /// masters. It works once they are together again (the last of them moved, or the slot
    /// handed over with `CLUSTER SETSLOT … NODE`): wait, then retry.
    Split,
    /// `MOVED`, `CLUSTERDOWN`, or `READONLY` from a master demoted to replica: the slot is
    /// served elsewhere or not at all right now; re-read the slot map, then retry.
    Moved,
}

/// How the cluster refused the call that failed with `err`, if it did. A transaction
/// (`EXECABORT`) counts as refused the way its first refused command was.
pub(crate) fn refusal(err: &RedisError) -> Option<Refusal> {
    if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort) {
        // A plain `EXECABORT` reply holds itself as its one cause: look no deeper than once.
        let queued = err.clone().into_server_errors()?;
        let (_, first) = queued.first()?;
        let first = RedisError::from(first.clone());
        if first.kind() == err.kind() {
            return None;
        }
        return refusal(&first);
    }
    match err.kind() {
        redis::ErrorKind::Server(redis::ServerErrorKind::Ask) => err
            .redirect_node()
            .map(|(addr, _slot)| Refusal::Ask(addr.to_owned())),
        redis::ErrorKind::Server(redis::ServerErrorKind::TryAgain) => Some(Refusal::Split),
        redis::ErrorKind::Server(
            redis::ServerErrorKind::Moved
            | redis::ServerErrorKind::ClusterDown
            | redis::ServerErrorKind::ReadOnly,
        ) => Some(Refusal::Moved),
        _ => None,
    }
}

/// Whether `err` says the namespace's slot is served elsewhere, not at all, or only in part
/// right now (see [`Refusal`]). The server refused the command before running it, so a retry is
/// safe for any call.
pub(crate) fn is_redirect(err: &RedisError) -> bool {
    refusal(err).is_some()
}

/// The first pause before retrying a call refused with [`Refusal::Split`]; each next pause
/// doubles, up to [`SPLIT_PAUSE_MAX`].
const SPLIT_PAUSE_FIRST: Duration = Duration::from_millis(50);

/// The longest pause between two retries of a call refused with [`Refusal::Split`].
const SPLIT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// How long a call refused with [`Refusal::Split`] keeps being retried before it fails with
/// [`StoreError::Connection`]: a batch of `MIGRATE` moves in milliseconds, but a put of a new
/// key waits for the whole slot to be handed over.
pub(crate) const SPLIT_RETRY_FOR: Duration = Duration::from_secs(5);

/// Why one try of a call failed (see [`Pool::call`]).
enum Failure {
    /// Refused with [`Refusal::Split`] by `server`: worth another try after a pause.
    Split { server: String, err: RedisError },
    /// Failed for good.
    Failed(StoreError),
}

/// Whether `err` means the connection is unusable (refused, dropped, timed out, broken).
fn is_connection_error(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_unrecoverable_error()
}

/// The node of a store or queue, and its idle connections.
///
/// Idle connections are kept in a `Mutex<Vec<_>>` locked only to pop or push one, never across
/// I/O, so many threads work at once: a thread that finds no idle connection opens a new one.
/// A blocking queue read therefore never holds a connection another thread waits for.
pub(crate) struct Pool {
    locate: Box<dyn Locate>,
    /// Idle connections, each with the node it is connected to.
    idle: Mutex<Vec<(Arc<Node>, Connection)>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("locate", &self.locate)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool on whatever node `locate` gives; connects lazily, on the first call.
    pub(crate) fn new(locate: Box<dyn Locate>) -> Self {
        Pool {
            locate,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The store as errors that are not about one call name it: the server, or the cluster
    /// seeds before its master is known.
    pub(crate) fn name(&self) -> String {
        self.locate.name()
    }

    fn idle(&self) -> MutexGuard<'_, Vec<(Arc<Node>, Connection)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection to `node`, if any; idle connections to other nodes (left from
    /// before the cluster moved the slot) are dropped.
    fn pop_idle(&self, node: &Arc<Node>) -> Option<Connection> {
        let mut idle = self.idle();
        idle.retain(|(n, _)| Arc::ptr_eq(n, node));
        idle.pop().map(|(_, conn)| conn)
    }

    fn release(&self, node: &Arc<Node>, conn: Connection) {
        if !conn.is_open() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() < POOL_SIZE {
            idle.push((Arc::clone(node), conn));
        }
    }

    /// The error for `err` on `server`: [`StoreError::Connection`] when the server could not
    /// be used, else [`StoreError::Backend`].
    pub(crate) fn error_for(server: &str, op: &'static str, err: RedisError) -> StoreError {
        if is_connection_error(&err) || is_redirect(&err) {
            StoreError::Connection {
                server: server.to_owned(),
                op,
                source: BackendError::redis(err),
            }
        } else {
            StoreError::Backend {
                store: server.to_owned(),
                op,
                source: BackendError::redis(err),
            }
        }
    }

    /// One try of `f` on `node`: on a pooled connection when `pooled` and one is idle, else on
    /// a new one. Returns the error and whether the call was sent: `None` when connecting
    /// failed, else whether on a reused connection.
    fn attempt<T>(
        &self,
        node: &Arc<Node>,
        pooled: bool,
        f: &impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, (RedisError, Option<bool>)> {
        let idle = if pooled { self.pop_idle(node) } else { None };
        let reused = idle.is_some();
        let mut conn = match idle {
            Some(conn) => conn,
            None => node.connect().map_err(|e| (e, None))?,
        };
        match f(&mut conn) {
            Ok(value) => {
                self.release(node, conn);
                Ok(value)
            }
            Err(err) => {
                if !is_connection_error(&err) {
                    self.release(node, conn);
                }
                Err((err, Some(reused)))
            }
        }
    }

    /// Runs `f` on a pooled (or new) connection, turning failures into errors naming the server.
    ///
    /// A call that failed on a reused idle connection (other than by timing out), after a
    /// redirect, or while connecting is retried once: a redirect was refused before it ran and
    /// a failed connect sent nothing, so any call may retry then; a stale pooled socket is
    /// retried only when `retry` allows a second run. An `ASK` is followed (see
    /// [`ask`](Self::ask)). A call refused because the slot is being migrated and its keys are
    /// split between two masters ([`Refusal::Split`]) is retried after a pause of 50 ms,
    /// doubling up to 1 s, for up to [`SPLIT_RETRY_FOR`]: it ran nothing, so any call may.
    pub(crate) fn with_conn<T>(
        &self,
        op: &'static str,
        retry: Retry,
        f: impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let mut pause = SPLIT_PAUSE_FIRST;
        loop {
            let (server, err) = match self.call(op, retry, &f) {
                Ok(value) => return Ok(value),
                Err(Failure::Split { server, err }) => (server, err),
                Err(Failure::Failed(err)) => return Err(err),
            };
            let left = SPLIT_RETRY_FOR.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(Self::error_for(&server, op, err));
            }
            let wait = pause.min(left);
            tracing::debug!(
                server,
                op,
                error = %err,
                wait_ms = wait.as_millis(),
                "the slot is migrating and the call's keys are split between two masters; \
                 retrying after a pause"
            );
            std::thread::sleep(wait);
            pause = pause.saturating_mul(2).min(SPLIT_PAUSE_MAX);
        }
    }

    /// One try of `f` as [`with_conn`](Self::with_conn) describes it, with its one retry
    /// after a redirect or a stale connection, but without waiting out a split slot.
    fn call<T>(
        &self,
        op: &'static str,
        retry: Retry,
        f: &impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, Failure> {
        let node = self.locate.current(op).map_err(Failure::Failed)?;
        let (err, sent) = match self.attempt(&node, true, f) {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        let refused = refusal(&err);
        match refused {
            Some(Refusal::Ask(target)) => return Self::follow_ask(op, &target, f),
            Some(Refusal::Split) => {
                return Err(Failure::Split {
                    server: node.server.clone(),
                    err,
                });
            }
            Some(Refusal::Moved) => {}
            None if is_connection_error(&err) => {}
            None => return Err(Failure::Failed(Self::error_for(&node.server, op, err))),
        }
        let redirect = refused.is_some();
        // A broken connection usually means the server went away: every idle connection is as
        // stale as this one, so drop them all and let the next call reconnect.
        self.idle().clear();
        // A timeout means a slow or paused server, not a stale socket: retrying would only
        // double the wait (and, for a publish, could append the message twice).
        let may_retry = redirect || sent.is_none() || (retry != Retry::Once && !err.is_timeout());
        if !may_retry {
            return Err(Failure::Failed(Self::error_for(&node.server, op, err)));
        }
        let retry_on = match self.locate.relocate(op, &node).map_err(Failure::Failed)? {
            Some(moved) => moved,
            // A single server: only a stale pooled socket is worth a second try.
            None if sent == Some(true) => node,
            None => return Err(Failure::Failed(Self::error_for(&node.server, op, err))),
        };
        tracing::debug!(server = %retry_on.server, op, error = %err, "retrying on a fresh redis connection");
        let err = match self.attempt(&retry_on, false, f) {
            Ok(value) => return Ok(value),
            Err((err, _)) => err,
        };
        match refusal(&err) {
            // The slot began migrating since the map was read.
            Some(Refusal::Ask(target)) => Self::follow_ask(op, &target, f),
            Some(Refusal::Split) => Err(Failure::Split {
                server: retry_on.server.clone(),
                err,
            }),
            refused => {
                if refused.is_some() || is_connection_error(&err) {
                    self.idle().clear();
                }
                Err(Failure::Failed(Self::error_for(&retry_on.server, op, err)))
            }
        }
    }

    /// [`ask`](Self::ask), its failure sorted as [`call`](Self::call) returns it.
    fn follow_ask<T>(
        op: &'static str,
        target: &str,
        f: &impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, Failure> {
        tracing::debug!(server = target, op, "following an ASK redirect");
        Self::ask(target, f).map_err(|err| match refusal(&err) {
            Some(Refusal::Split) => Failure::Split {
                server: target.to_owned(),
                err,
            },
            _ => Failure::Failed(Self::error_for(target, op, err)),
        })
    }

    /// Runs `f` on `target`, the node an `ASK` redirect named (the slot is being migrated
    /// there and the key has moved already), on a new connection after `ASKING`, as Redis
    /// Cluster asks. The slot map is left alone: the old master owns the slot until the
    /// migration ends, and keys not yet moved are still served there.
    ///
    /// `ASKING` covers only the next command (or one `MULTI … EXEC`), so a call that first
    /// loads a script (`NOSCRIPT`, `SCRIPT LOAD`, `EVALSHA`) is asked again; it then runs once
    /// more, the script loaded. Both `ASK` replies refused the call before running it.
    ///
    /// A transaction is safe to follow even when only some of its keys have moved: the
    /// importing node refuses an `EXEC` over keys it lacks in part with `TRYAGAIN`
    /// ([`Refusal::Split`]), so a value and its index entry never land on different masters.
    pub(crate) fn ask<T>(
        target: &str,
        f: &impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let node = Node::from_url(&format!("redis://{target}/"))?;
        let mut conn = node.connect()?;
        let asked = |conn: &mut Connection| {
            redis::cmd("ASKING").query::<()>(conn)?;
            f(conn)
        };
        match asked(&mut conn) {
            Err(err) if refusal(&err) == Some(Refusal::Ask(target.to_owned())) => asked(&mut conn),
            result => result,
        }
    }

    /// [`with_conn`](Self::with_conn) for a write: after it succeeds, on the same connection,
    /// [`Locate::after_write`] runs (a cluster waits for a replica there).
    pub(crate) fn with_write<T>(
        &self,
        op: &'static str,
        retry: Retry,
        f: impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        self.with_conn(op, retry, |conn| {
            let value = f(conn)?;
            self.locate.after_write(conn, op);
            Ok(value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_error(line: &str) -> RedisError {
        redis::parse_redis_value(format!("-{line}\r\n").as_bytes())
            .and_then(redis::Value::extract_error)
            .unwrap_err()
    }

    #[test]
    fn refusals_are_told_apart() {
        assert_eq!(
            refusal(&reply_error("ASK 3999 127.0.0.1:6381")),
            Some(Refusal::Ask("127.0.0.1:6381".to_owned()))
        );
        assert_eq!(
            refusal(&reply_error(
                "TRYAGAIN Multiple keys request during rehashing of slot"
            )),
            Some(Refusal::Split)
        );
        for moved in [
            "MOVED 3999 127.0.0.1:6381",
            "CLUSTERDOWN The cluster is down",
            "READONLY You can't write against a read only replica.",
        ] {
            assert_eq!(
                refusal(&reply_error(moved)),
                Some(Refusal::Moved),
                "{moved}"
            );
        }
        assert_eq!(refusal(&reply_error("ERR unknown command")), None);
        assert_eq!(
            refusal(&reply_error(
                "EXECABORT Transaction discarded because of previous errors."
            )),
            None,
            "an abort without its causes is no refusal"
        );
    }
}
