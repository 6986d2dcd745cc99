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

/// Whether `err` says the namespace's slot is served elsewhere or not at all right now
/// (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`, or `READONLY` from a master demoted to replica).
/// The server refused the command before running it, so a retry is safe for any call.
pub(crate) fn is_redirect(err: &RedisError) -> bool {
    err.is_cluster_error()
        || matches!(
            err.kind(),
            redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
        )
}

/// The `host:port` an `ASK` redirect names.
fn ask_target(err: &RedisError) -> Option<&str> {
    match err.kind() {
        redis::ErrorKind::Server(redis::ServerErrorKind::Ask) => {
            err.redirect_node().map(|(addr, _slot)| addr)
        }
        _ => None,
    }
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
    /// retried only when `retry` allows a second run.
    pub(crate) fn with_conn<T>(
        &self,
        op: &'static str,
        retry: Retry,
        f: impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let node = self.locate.current(op)?;
        let (err, sent) = match self.attempt(&node, true, &f) {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        if let Some(target) = ask_target(&err) {
            return Self::ask(op, target, &f);
        }
        let redirect = is_redirect(&err);
        if !redirect && !is_connection_error(&err) {
            return Err(Self::error_for(&node.server, op, err));
        }
        // A broken connection usually means the server went away: every idle connection is as
        // stale as this one, so drop them all and let the next call reconnect.
        self.idle().clear();
        // A timeout means a slow or paused server, not a stale socket: retrying would only
        // double the wait (and, for a publish, could append the message twice).
        let may_retry = redirect || sent.is_none() || (retry != Retry::Once && !err.is_timeout());
        if !may_retry {
            return Err(Self::error_for(&node.server, op, err));
        }
        let retry_on = match self.locate.relocate(op, &node)? {
            Some(moved) => moved,
            // A single server: only a stale pooled socket is worth a second try.
            None if sent == Some(true) => node,
            None => return Err(Self::error_for(&node.server, op, err)),
        };
        tracing::debug!(server = %retry_on.server, op, error = %err, "retrying on a fresh redis connection");
        self.attempt(&retry_on, false, &f).map_err(|(err, _)| {
            if is_connection_error(&err) || is_redirect(&err) {
                self.idle().clear();
            }
            Self::error_for(&retry_on.server, op, err)
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
    fn ask<T>(
        op: &'static str,
        target: &str,
        f: &impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let run = || -> RedisResult<T> {
            let node = Node::from_url(&format!("redis://{target}/"))?;
            let mut conn = node.connect()?;
            let asked = |conn: &mut Connection| {
                redis::cmd("ASKING").query::<()>(conn)?;
                f(conn)
            };
            match asked(&mut conn) {
                Err(err) if ask_target(&err) == Some(target) => asked(&mut conn),
                result => result,
            }
        };
        tracing::debug!(server = target, op, "following an ASK redirect");
        run().map_err(|err| Self::error_for(target, op, err))
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
