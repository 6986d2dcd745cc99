//! Test support (feature `conformance`): a throw-away `redis-server` on a free loopback port, and
//! a store wrapper that injects write failures.
//!
//! ```no_run
//! use ays_store::testing::RedisServer;
//!
//! let server = RedisServer::start()?;
//! let store = ays_store::open_namespaced(&server.url(), "my-test")?;
//! store.put(b"k", b"v")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A missing `redis-server` binary is an error saying to install it: tests `expect` it, so it
//! fails the test rather than skipping it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

/// The server that [`RedisServer::shared`] hands out while someone holds it.
static SHARED: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());

/// How long `start` and `restart` wait for the server to answer `PING`.
pub const START_DEADLINE: Duration = Duration::from_secs(10);

/// What can go wrong starting a test server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The `redis-server` binary is not on `PATH`.
    #[error(
        "`redis-server` not found on PATH: install redis-server (e.g. `apt-get install redis-server`)"
    )]
    NotInstalled {
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
    /// Spawning, picking a port or killing the process failed.
    #[error("redis-server on port {port}: {action} failed")]
    Io {
        /// The port of the server.
        port: u16,
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server did not answer `PING` before the deadline.
    #[error("redis-server on port {port} did not answer PING within {deadline:?} ({detail})")]
    NotReady {
        /// The port of the server.
        port: u16,
        /// How long we waited.
        deadline: Duration,
        /// The last thing seen: an exit status or a connection error.
        detail: String,
    },
}

/// A `redis-server` child process on `127.0.0.1`, without persistence, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// Arguments added to every spawn (cluster mode).
    extra: Vec<std::ffi::OsString>,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers `PING`.
    ///
    /// # Errors
    /// [`HarnessError::NotInstalled`] when `redis-server` is missing, else [`HarnessError::Io`]
    /// or [`HarnessError::NotReady`].
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with(&[])
    }

    /// Starts a server like [`start`](Self::start) with `extra` arguments; `{port}` in an
    /// argument becomes the server's port.
    fn start_with(extra: &[std::ffi::OsString]) -> Result<Self, HarnessError> {
        // Another process may grab the port between our probe and the server's bind: try again.
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let mut server = RedisServer {
                port,
                child: None,
                extra: extra
                    .iter()
                    .map(|arg| {
                        std::ffi::OsString::from(
                            arg.to_string_lossy().replace("{port}", &port.to_string()),
                        )
                    })
                    .collect(),
            };
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(err @ HarnessError::NotInstalled { .. }) => return Err(err),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or(HarnessError::NotReady {
            port: 0,
            deadline: START_DEADLINE,
            detail: "no attempt made".to_owned(),
        }))
    }

    /// A server shared by the tests of one binary that run at the same time: the first caller
    /// starts it, later callers get the same one, and it stops when the last holder drops it
    /// (the next caller then starts a new one). A server kept in a `static` instead would never
    /// be dropped and would outlive the test binary. Give each test its own namespace.
    ///
    /// # Errors
    /// As [`RedisServer::start`].
    pub fn shared() -> Result<Arc<RedisServer>, HarnessError> {
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(server) = slot.upgrade() {
            return Ok(server);
        }
        let server = Arc::new(RedisServer::start()?);
        *slot = Arc::downgrade(&server);
        Ok(server)
    }

    /// The URL of the server, `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The port the server listens on (kept across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server address as errors name it, `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The process id of the running server, `None` after [`stop`](Self::stop). Fault tests
    /// use it to pause the server (`kill -STOP`) and see calls time out instead of hang.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server and waits for it to exit. Its data is lost (there is no persistence).
    ///
    /// # Errors
    /// [`HarnessError::Io`] when the process cannot be killed or reaped.
    pub fn stop(&mut self) -> Result<(), HarnessError> {
        let port = self.port;
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(|source| HarnessError::Io {
                port,
                action: "kill",
                source,
            })?;
            child.wait().map_err(|source| HarnessError::Io {
                port,
                action: "wait",
                source,
            })?;
        }
        Ok(())
    }

    /// Stops the server if it runs, then starts a new, empty one on the same port.
    ///
    /// # Errors
    /// As [`stop`](Self::stop) and [`start`](Self::start).
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.stop()?;
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), HarnessError> {
        let port = self.port;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            // Not the default `dump.rdb`: one left in the temp dir would be loaded at start.
            .args(["--dbfilename", &format!("ays-test-{port}.rdb")])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => HarnessError::NotInstalled { source },
                _ => HarnessError::Io {
                    port,
                    action: "spawn",
                    source,
                },
            })?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Whether the server answering on the port is our child, by its `process_id`.
    fn answers_as_ours(&self) -> bool {
        let Some(pid) = self.pid() else {
            return false;
        };
        command(self.port, "INFO server").is_ok_and(|info| {
            info.lines()
                .any(|l| l.trim() == format!("process_id:{pid}"))
        })
    }

    /// Polls `PING` until `+PONG`, the process exits, or [`START_DEADLINE`] passes.
    fn wait_ready(&mut self) -> Result<(), HarnessError> {
        let port = self.port;
        let deadline = Instant::now() + START_DEADLINE;
        let mut detail = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(HarnessError::NotReady {
                    port,
                    deadline: START_DEADLINE,
                    detail: format!("redis-server exited with {status}"),
                });
            }
            match ping(port) {
                // Another test's server may hold the port (ours then fails to bind and exits):
                // only a server with our process id counts.
                Ok(true) if self.answers_as_ours() => return Ok(()),
                Ok(true) => detail = "another process answers on the port".to_owned(),
                Ok(false) => detail = "unexpected reply to PING".to_owned(),
                Err(err) => detail = err.to_string(),
            }
            // Polling with a deadline, not a blind sleep: the loop ends as soon as PING answers.
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(HarnessError::NotReady {
            port,
            deadline: START_DEADLINE,
            detail,
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::warn!(port = self.port, error = %err, "could not stop test redis-server");
        }
    }
}

/// The cluster that [`RedisCluster::shared`] hands out while someone holds it.
static SHARED_CLUSTER: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());

/// How long [`RedisCluster::start`] waits for `cluster_state:ok` on every node.
pub const CLUSTER_DEADLINE: Duration = Duration::from_secs(30);

/// A Redis Cluster of 3 masters with one replica each: 6 `redis-server` children on free
/// loopback ports, without persistence, killed on drop (with their config directory).
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts 6 cluster-enabled servers, joins them with `redis-cli --cluster create …
    /// --cluster-replicas 1`, and waits until every node reports `cluster_state:ok`.
    ///
    /// # Errors
    /// [`HarnessError::NotInstalled`] when `redis-server` or `redis-cli` is missing, else
    /// [`HarnessError::Io`] or [`HarnessError::NotReady`].
    pub fn start() -> Result<Self, HarnessError> {
        let dir = tempfile::tempdir().map_err(|source| HarnessError::Io {
            port: 0,
            action: "create the cluster config directory",
            source,
        })?;
        let mut nodes = Vec::with_capacity(6);
        for _ in 0..6 {
            nodes.push(RedisServer::start_with(&[
                "--cluster-enabled".into(),
                "yes".into(),
                // Its own directory: a `dump.rdb` left in the shared temp dir would load keys
                // and make `--cluster create` refuse the node as not empty.
                "--dir".into(),
                dir.path().as_os_str().to_owned(),
                "--cluster-config-file".into(),
                dir.path().join("nodes-{port}.conf").into_os_string(),
                "--cluster-node-timeout".into(),
                "2000".into(),
            ])?);
        }
        let first = nodes.first().map_or(0, RedisServer::port);
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(RedisServer::addr))
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => HarnessError::NotInstalled { source },
                _ => HarnessError::Io {
                    port: first,
                    action: "run redis-cli --cluster create",
                    source,
                },
            })?;
        if !output.status.success() {
            return Err(HarnessError::NotReady {
                port: first,
                deadline: CLUSTER_DEADLINE,
                detail: format!(
                    "redis-cli --cluster create failed with {}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stdout)
                ),
            });
        }
        let cluster = RedisCluster { nodes, _dir: dir };
        cluster.wait_ok()?;
        cluster.wait_replicated()?;
        Ok(cluster)
    }

    /// A cluster shared by the tests of one binary that run at the same time, like
    /// [`RedisServer::shared`]. Give each test its own namespace.
    ///
    /// # Errors
    /// As [`RedisCluster::start`].
    pub fn shared() -> Result<Arc<RedisCluster>, HarnessError> {
        let mut slot = SHARED_CLUSTER
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(cluster) = slot.upgrade() {
            return Ok(cluster);
        }
        let cluster = Arc::new(RedisCluster::start()?);
        *slot = Arc::downgrade(&cluster);
        Ok(cluster)
    }

    /// The URL of the cluster, `redis+cluster://127.0.0.1:P1,…` naming every node.
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self.nodes.iter().map(RedisServer::addr).collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// The nodes, masters and replicas alike.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Polls `INFO replication` on every node until each master has its replica online and
    /// each replica its link to its master up. Until then a write's `WAIT 1` waits its whole
    /// timeout, which a test with short TTLs cannot afford.
    fn wait_replicated(&self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + CLUSTER_DEADLINE;
        for node in &self.nodes {
            loop {
                let detail = match command(node.port(), "INFO replication") {
                    Ok(info) => {
                        let master_ready = info.contains("role:master")
                            && info.contains("connected_slaves:1")
                            && info.contains("state=online");
                        let replica_ready =
                            info.contains("role:slave") && info.contains("master_link_status:up");
                        if master_ready || replica_ready {
                            break;
                        }
                        info
                    }
                    Err(err) => err.to_string(),
                };
                if Instant::now() >= deadline {
                    return Err(HarnessError::NotReady {
                        port: node.port(),
                        deadline: CLUSTER_DEADLINE,
                        detail: format!("replication not ready: {detail}"),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// The `host:port` of the master serving `namespace`'s slot, as the first live node says
    /// (`CLUSTER NODES`; a master flagged `fail` does not count).
    ///
    /// # Errors
    /// [`HarnessError::NotReady`] when no live node answers or no master serves the slot.
    pub fn master_of(&self, namespace: &str) -> Result<String, HarnessError> {
        let mut detail = String::from("no live node");
        for node in self.nodes.iter().filter(|node| node.pid().is_some()) {
            match slot_master(node.port(), namespace) {
                Ok(Some(master)) => return Ok(master),
                Ok(None) => detail = format!("no master serves the slot of `{namespace}`"),
                Err(err) => detail = err.to_string(),
            }
        }
        Err(HarnessError::NotReady {
            port: self.nodes.first().map_or(0, RedisServer::port),
            deadline: Duration::ZERO,
            detail,
        })
    }

    /// Kills (`SIGKILL`) the master serving `namespace`'s slot and returns its `host:port`.
    /// Its replica takes over after the node timeout (2 s) and an election; see
    /// [`wait_failover`](Self::wait_failover).
    ///
    /// # Errors
    /// As [`master_of`](Self::master_of), or [`HarnessError::Io`] when the kill fails.
    pub fn kill_master_of(&mut self, namespace: &str) -> Result<String, HarnessError> {
        let master = self.master_of(namespace)?;
        match self.nodes.iter_mut().find(|node| node.addr() == master) {
            Some(node) => node.stop()?,
            None => {
                return Err(HarnessError::NotReady {
                    port: 0,
                    deadline: Duration::ZERO,
                    detail: format!("master {master} is not one of our nodes"),
                });
            }
        }
        Ok(master)
    }

    /// Waits until a master other than `old` serves `namespace`'s slot and every live node
    /// reports `cluster_state:ok`; returns the new master's `host:port`.
    ///
    /// # Errors
    /// [`HarnessError::NotReady`] when that does not happen within `deadline`.
    pub fn wait_failover(
        &self,
        namespace: &str,
        old: &str,
        deadline: Duration,
    ) -> Result<String, HarnessError> {
        let until = Instant::now() + deadline;
        let mut detail: String;
        loop {
            match self.master_of(namespace) {
                Ok(master) if master != old => {
                    let down = self.nodes.iter().filter(|n| n.pid().is_some()).find(|n| {
                        !command(n.port(), "CLUSTER INFO")
                            .is_ok_and(|info| info.contains("cluster_state:ok"))
                    });
                    match down {
                        None => return Ok(master),
                        Some(node) => detail = format!("{} is not cluster_state:ok", node.addr()),
                    }
                }
                Ok(master) => detail = format!("{master} still serves the slot"),
                Err(err) => detail = err.to_string(),
            }
            if Instant::now() >= until {
                return Err(HarnessError::NotReady {
                    port: 0,
                    deadline,
                    detail,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills (`SIGKILL`) the replica of the master serving `namespace`'s slot and returns its
    /// `host:port`. The master keeps serving; its writes' `WAIT 1` now times out.
    ///
    /// # Errors
    /// As [`master_of`](Self::master_of), [`HarnessError::NotReady`] when the master has no
    /// live replica, or [`HarnessError::Io`] when the kill fails.
    pub fn kill_replica_of(&mut self, namespace: &str) -> Result<String, HarnessError> {
        let master = self.master_of(namespace)?;
        let port = master_port(&master)?;
        let nodes = command(port, "CLUSTER NODES").map_err(|source| HarnessError::Io {
            port,
            action: "CLUSTER NODES",
            source,
        })?;
        let id = node_id(port)?;
        // A replica's line reads `<id> <ip:port@cport> slave <master id> ...`.
        let replica = nodes.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let is_ours = fields.get(2).is_some_and(|f| f.contains("slave"))
                && fields.get(3) == Some(&id.as_str());
            is_ours
                .then(|| fields.get(1).and_then(|a| a.split('@').next()))
                .flatten()
                .map(str::to_owned)
        });
        let node = replica.and_then(|addr| {
            self.nodes
                .iter_mut()
                .find(|node| node.addr() == addr && node.pid().is_some())
        });
        let Some(node) = node else {
            return Err(HarnessError::NotReady {
                port,
                deadline: Duration::ZERO,
                detail: format!("master {master} has no live replica of ours:\n{nodes}"),
            });
        };
        node.stop()?;
        Ok(node.addr())
    }

    /// Kills (`SIGKILL`) every node: the cluster is dead until
    /// [`restart_all`](Self::restart_all).
    ///
    /// # Errors
    /// [`HarnessError::Io`] when a kill fails.
    pub fn kill_all(&mut self) -> Result<(), HarnessError> {
        self.nodes.iter_mut().try_for_each(RedisServer::stop)
    }

    /// Restarts every stopped node on its port. Each reloads its cluster config (node id,
    /// role, slots) but no data; returns once the cluster is `ok` and replicated again.
    ///
    /// # Errors
    /// As [`RedisServer::restart`], or [`HarnessError::NotReady`] when the cluster does not
    /// come back within [`CLUSTER_DEADLINE`].
    pub fn restart_all(&mut self) -> Result<(), HarnessError> {
        for node in self.nodes.iter_mut().filter(|node| node.pid().is_none()) {
            node.spawn()?;
        }
        self.wait_ok()?;
        self.wait_replicated()
    }

    /// Starts moving `namespace`'s slot to the master `to` (`host:port`) the standard way:
    /// `CLUSTER SETSLOT <slot> IMPORTING` on `to`, then `MIGRATING` on the current master.
    /// Keys then move with [`SlotMigration::migrate`] and ownership with
    /// [`SlotMigration::finish`]; in between, the old master answers `ASK` for keys it no
    /// longer holds and `TRYAGAIN` for multi-key calls whose keys it holds only in part.
    ///
    /// # Errors
    /// As [`master_of`](Self::master_of), or [`HarnessError::NotReady`] when a command fails.
    pub fn begin_migration(
        &self,
        namespace: &str,
        to: &str,
    ) -> Result<SlotMigration, HarnessError> {
        let from = self.master_of(namespace)?;
        let (from_port, to_port) = (master_port(&from)?, master_port(to)?);
        let slot = cli(
            from_port,
            &["CLUSTER", "KEYSLOT", &format!("{{{namespace}}}")],
        )?;
        let migration = SlotMigration {
            slot,
            from_id: node_id(from_port)?,
            to_id: node_id(to_port)?,
            from_port,
            to_port,
            masters: self
                .nodes
                .iter()
                .filter(|node| node.pid().is_some())
                .filter(|node| {
                    command(node.port(), "ROLE").is_ok_and(|role| role.contains("master"))
                })
                .map(RedisServer::port)
                .collect(),
        };
        expect_ok(
            migration.to_port,
            &[
                "CLUSTER",
                "SETSLOT",
                &migration.slot,
                "IMPORTING",
                &migration.from_id,
            ],
        )?;
        expect_ok(
            migration.from_port,
            &[
                "CLUSTER",
                "SETSLOT",
                &migration.slot,
                "MIGRATING",
                &migration.to_id,
            ],
        )?;
        Ok(migration)
    }

    /// Moves `namespace`'s slot, with all its keys, to the master `to` (`host:port`), and
    /// waits until every live node names `to` as its master.
    ///
    /// # Errors
    /// As [`begin_migration`](Self::begin_migration) and [`SlotMigration::finish`].
    pub fn migrate_slot_of(&self, namespace: &str, to: &str) -> Result<(), HarnessError> {
        let migration = self.begin_migration(namespace, to)?;
        loop {
            let keys = migration.keys()?;
            if keys.is_empty() {
                break;
            }
            migration.migrate(&keys)?;
        }
        migration.finish()?;
        let deadline = Instant::now() + CLUSTER_DEADLINE;
        for node in self.nodes.iter().filter(|node| node.pid().is_some()) {
            loop {
                match slot_master(node.port(), namespace) {
                    Ok(Some(master)) if master == to => break,
                    other if Instant::now() >= deadline => {
                        return Err(HarnessError::NotReady {
                            port: node.port(),
                            deadline: CLUSTER_DEADLINE,
                            detail: format!("slot master still {other:?}, not {to}"),
                        });
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        Ok(())
    }

    /// Polls `CLUSTER INFO` on every node until each says `cluster_state:ok`.
    fn wait_ok(&self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + CLUSTER_DEADLINE;
        for node in &self.nodes {
            let mut detail: String;
            loop {
                match command(node.port(), "CLUSTER INFO") {
                    Ok(info) if info.contains("cluster_state:ok") => break,
                    Ok(info) => detail = info,
                    Err(err) => detail = err.to_string(),
                }
                if Instant::now() >= deadline {
                    return Err(HarnessError::NotReady {
                        port: node.port(),
                        deadline: CLUSTER_DEADLINE,
                        detail,
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

/// A slot being moved between two masters (see [`RedisCluster::begin_migration`]).
#[derive(Debug)]
pub struct SlotMigration {
    slot: String,
    from_id: String,
    to_id: String,
    from_port: u16,
    to_port: u16,
    /// Every live master, each told the new owner by [`finish`](Self::finish).
    masters: Vec<u16>,
}

impl SlotMigration {
    /// Up to 100 keys still on the old master (`CLUSTER GETKEYSINSLOT`).
    ///
    /// # Errors
    /// [`HarnessError::NotReady`] when the command fails.
    pub fn keys(&self) -> Result<Vec<String>, HarnessError> {
        let keys = cli(
            self.from_port,
            &["CLUSTER", "GETKEYSINSLOT", &self.slot, "100"],
        )?;
        Ok(keys
            .lines()
            .filter(|key| !key.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Moves `keys` from the old master to the new one (`MIGRATE … KEYS`).
    ///
    /// # Errors
    /// [`HarnessError::NotReady`] when `MIGRATE` fails.
    pub fn migrate(&self, keys: &[String]) -> Result<(), HarnessError> {
        let to_port = self.to_port.to_string();
        let mut args = vec!["MIGRATE", "127.0.0.1", &to_port, "", "0", "5000", "KEYS"];
        args.extend(keys.iter().map(String::as_str));
        let reply = cli(self.from_port, &args)?;
        if reply.trim() == "OK" || reply.trim() == "NOKEY" {
            Ok(())
        } else {
            Err(HarnessError::NotReady {
                port: self.from_port,
                deadline: Duration::ZERO,
                detail: format!("MIGRATE failed: {reply}"),
            })
        }
    }

    /// Gives the slot to the new master: `CLUSTER SETSLOT <slot> NODE <id>` on it, on the old
    /// master, then on every other master.
    ///
    /// # Errors
    /// [`HarnessError::NotReady`] when a command fails.
    pub fn finish(&self) -> Result<(), HarnessError> {
        let rest = self
            .masters
            .iter()
            .copied()
            .filter(|port| *port != self.from_port && *port != self.to_port);
        for port in [self.to_port, self.from_port].into_iter().chain(rest) {
            expect_ok(
                port,
                &["CLUSTER", "SETSLOT", &self.slot, "NODE", &self.to_id],
            )?;
        }
        Ok(())
    }
}

/// Runs `redis-cli -p <port> <args>` and returns its output (one line per array element).
fn cli(port: u16, args: &[&str]) -> Result<String, HarnessError> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => HarnessError::NotInstalled { source },
            _ => HarnessError::Io {
                port,
                action: "run redis-cli",
                source,
            },
        })?;
    let text = String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned();
    if !output.status.success() || text.starts_with("ERR") || text.starts_with("(error)") {
        return Err(HarnessError::NotReady {
            port,
            deadline: Duration::ZERO,
            detail: format!(
                "redis-cli {} failed: {text}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    Ok(text)
}

/// Runs `redis-cli` like [`cli`] and fails unless it replies `OK`.
fn expect_ok(port: u16, args: &[&str]) -> Result<(), HarnessError> {
    let reply = cli(port, args)?;
    if reply == "OK" {
        Ok(())
    } else {
        Err(HarnessError::NotReady {
            port,
            deadline: Duration::ZERO,
            detail: format!("redis-cli {} replied {reply}", args.join(" ")),
        })
    }
}

/// The cluster node id of the server on `port` (`CLUSTER MYID`).
fn node_id(port: u16) -> Result<String, HarnessError> {
    cli(port, &["CLUSTER", "MYID"])
}

/// The port of a `host:port` address.
fn master_port(addr: &str) -> Result<u16, HarnessError> {
    addr.rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .ok_or_else(|| HarnessError::NotReady {
            port: 0,
            deadline: Duration::ZERO,
            detail: format!("`{addr}` is not host:port"),
        })
}

/// Sends one inline command to the server on `port` and returns its reply as text (a bulk
/// string's body, or the raw line otherwise).
pub fn command(port: u16, line: &str) -> std::io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(2000)))?;
    stream.write_all(format!("{line}\r\n").as_bytes())?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some(body) = text.strip_prefix('$') {
            if let Some((len, rest)) = body.split_once("\r\n")
                && let Ok(len) = len.parse::<usize>()
                && rest.len() >= len
            {
                return Ok(rest[..len].to_owned());
            }
        } else if text.ends_with("\r\n") {
            return Ok(text.trim_end().to_owned());
        }
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// The master serving `namespace`'s slot according to the node on `port`, skipping masters
/// flagged `fail`. `CLUSTER NODES` lines read
/// `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <state> <slots...>`.
fn slot_master(port: u16, namespace: &str) -> std::io::Result<Option<String>> {
    let slot: u16 = command(port, &format!("CLUSTER KEYSLOT {{{namespace}}}:i"))?
        .trim_start_matches(':')
        .parse()
        .map_err(|err| std::io::Error::other(format!("CLUSTER KEYSLOT: {err}")))?;
    let nodes = command(port, "CLUSTER NODES")?;
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(flags) = fields.get(2) else {
            continue;
        };
        if !flags.contains("master") || flags.split(',').any(|f| f == "fail") {
            continue;
        }
        for range in fields.iter().skip(8) {
            let (start, end) = range.split_once('-').unwrap_or((range, range));
            if let (Ok(start), Ok(end)) = (start.parse::<u16>(), end.parse::<u16>())
                && (start..=end).contains(&slot)
            {
                return Ok(fields
                    .get(1)
                    .and_then(|addr| addr.split('@').next())
                    .map(str::to_owned));
            }
        }
    }
    Ok(None)
}

fn free_port() -> Result<u16, HarnessError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|source| HarnessError::Io {
            port: 0,
            action: "bind 127.0.0.1:0 to find a free port",
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| HarnessError::Io {
            port: 0,
            action: "read the probe's local address",
            source,
        })?
        .port();
    Ok(port)
}

fn ping(port: u16) -> std::io::Result<bool> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(b"PING\r\n")?;
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply)?;
    Ok(&reply == b"+PONG\r\n")
}

/// A store wrapper that lets the first `fail_after` writes through and fails every later one,
/// for crash tests: loop over `fail_after` = 0, 1, 2, … and check that whatever the code under
/// test left behind is consistent (no finished job lost, no blueprint half-applied).
///
/// Writes are `put`, `put_with_ttl`, `delete` and `commit` (so every compare-and-swap); reads
/// pass through. A failed write reaches the inner store not at all, like a crash just before
/// it; it fails with [`StoreError::Backend`](crate::StoreError::Backend) whose `store` is
/// `faulty` and whose source says "injected fault".
///
/// ```
/// use ays_store::testing::FaultyStore;
/// use ays_store::{KvStore, StoreError};
///
/// let store = FaultyStore::wrap(ays_store::open("mem://")?, 1);
/// store.put(b"a", b"1")?;
/// let failed = store.put(b"b", b"2");
/// assert!(matches!(failed, Err(StoreError::Backend { op: "put", .. })));
/// assert_eq!(store.get(b"a")?, Some(b"1".to_vec()));
/// assert_eq!(store.get(b"b")?, None);
/// assert_eq!(store.writes(), 2);
/// # Ok::<(), ays_store::StoreError>(())
/// ```
#[derive(Debug)]
pub struct FaultyStore {
    inner: std::sync::Arc<dyn crate::KvStore>,
    fail_after: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
}

impl FaultyStore {
    /// Wraps `inner`, letting `fail_after` writes through.
    pub fn wrap(
        inner: std::sync::Arc<dyn crate::KvStore>,
        fail_after: u64,
    ) -> std::sync::Arc<Self> {
        std::sync::Arc::new(FaultyStore {
            inner,
            fail_after: std::sync::atomic::AtomicU64::new(fail_after),
            writes: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many writes were attempted so far, failed ones included.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops failing: every later write goes through (the "restart" after a crash).
    pub fn heal(&self) {
        self.fail_after
            .store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
    }

    fn admit(&self, op: &'static str) -> Result<(), crate::StoreError> {
        let n = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let fail_after = self.fail_after.load(std::sync::atomic::Ordering::SeqCst);
        if n < fail_after {
            return Ok(());
        }
        Err(crate::StoreError::Backend {
            store: "faulty".to_owned(),
            op,
            source: crate::BackendError::injected(format!(
                "injected fault: write {} after the first {fail_after}",
                n.saturating_add(1)
            )),
        })
    }
}

impl crate::KvStore for FaultyStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, crate::StoreError> {
        self.inner.get(key)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), crate::StoreError> {
        self.admit("put")?;
        self.inner.put(key, value)
    }

    fn put_with_ttl(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), crate::StoreError> {
        self.admit("put_with_ttl")?;
        self.inner.put_with_ttl(key, value, ttl)
    }

    fn delete(&self, key: &[u8]) -> Result<bool, crate::StoreError> {
        self.admit("delete")?;
        self.inner.delete(key)
    }

    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<crate::Page, crate::StoreError> {
        self.inner.scan_prefix(prefix, after, limit)
    }

    fn commit(&self, batch: &crate::Batch) -> Result<(), crate::StoreError> {
        self.admit("commit")?;
        self.inner.commit(batch)
    }
}
