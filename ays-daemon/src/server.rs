//! [`Server`]: binds the address, serves the router, and shuts down gracefully.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ays_core::OpenOptions;
use tokio::net::TcpListener;

use crate::api::{ApiState, DEFAULT_BODY_LIMIT, router};
use crate::error::DaemonError;
use crate::repositories::Repositories;
use crate::token::Token;

/// The port the daemon listens on by default (AYS 8.2's).
pub const DEFAULT_PORT: u16 = 5000;

/// How long open connections may take to finish after a shutdown signal, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// What a daemon serves and where.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DaemonConfig {
    /// The address to listen on (default `127.0.0.1:5000`; port 0 picks a free one).
    pub addr: SocketAddr,
    /// Whether an address other than a loopback one may be used, making the API reachable
    /// from other machines (default: no).
    pub allow_remote: bool,
    /// The roots of the repositories to serve.
    pub repositories: Vec<PathBuf>,
    /// The directory where `POST /ays/repository` creates repositories, and whose
    /// repositories `DELETE /ays/repository/{repository}` may delete (`--repos-dir`). With it,
    /// `repositories` may be empty. Default: none, and the API creates and deletes no
    /// repository.
    pub repos_dir: Option<PathBuf>,
    /// How to open them (a store URL that replaces each one's own).
    pub open: OpenOptions,
    /// The bearer token requests must carry.
    pub token: Token,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long open connections may take to finish after the shutdown signal.
    pub grace: Duration,
}

impl DaemonConfig {
    /// Serves `repositories` with `token` on `127.0.0.1:5000`, with the default limits.
    pub fn new(repositories: Vec<PathBuf>, token: Token) -> DaemonConfig {
        DaemonConfig {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            allow_remote: false,
            repositories,
            repos_dir: None,
            open: OpenOptions::default(),
            token,
            body_limit: DEFAULT_BODY_LIMIT,
            grace: DEFAULT_GRACE,
        }
    }
}

/// Whether `ip` can be reached from this machine only (`127.0.0.0/8`, `::1`, and `::1` or
/// `127.x` written as an IPv4-mapped IPv6 address).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// A daemon with its address bound and its repositories open, ready to serve.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    state: ApiState,
    names: Vec<String>,
    grace: Duration,
}

impl Server {
    /// Opens the repositories and binds the address of `config`.
    ///
    /// # Errors
    ///
    /// [`DaemonError::RemoteNotAllowed`] for an address other than a loopback one without
    /// [`DaemonConfig::allow_remote`], the errors of [`Repositories::open`] (or of
    /// [`Repositories::open_under`] with [`DaemonConfig::repos_dir`]), and
    /// [`DaemonError::Bind`].
    pub async fn bind(config: DaemonConfig) -> Result<Server, DaemonError> {
        if !config.allow_remote && !is_loopback(config.addr.ip()) {
            return Err(DaemonError::RemoteNotAllowed {
                addr: config.addr.ip(),
            });
        }
        let (dirs, options, token) = (config.repositories, config.open, config.token);
        let repos_dir = config.repos_dir;
        let state = tokio::task::spawn_blocking(move || {
            let repositories = match &repos_dir {
                Some(dir) => Repositories::open_under(dir, &dirs, &options)?,
                None => Repositories::open(&dirs, &options)?,
            };
            let state = ApiState::new(repositories, token);
            let pending =
                state
                    .queues()
                    .recover()
                    .map_err(|(repository, err)| DaemonError::Queue {
                        repository,
                        message: err.to_string(),
                    })?;
            if pending > 0 {
                tracing::info!(runs = pending, "queued runs go on");
            }
            Ok::<_, DaemonError>(state)
        })
        .await
        .map_err(|source| DaemonError::Task {
            doing: "opened the repositories",
            source,
        })??;
        let bind = |source| DaemonError::Bind {
            addr: config.addr,
            source,
        };
        let listener = TcpListener::bind(config.addr).await.map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let names = state.repositories().names().map(str::to_owned).collect();
        Ok(Server {
            listener,
            addr,
            state: state.with_body_limit(config.body_limit),
            names,
            grace: config.grace,
        })
    }

    /// The address it listens on (with the port chosen when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The names of the repositories it serves, sorted.
    pub fn repositories(&self) -> &[String] {
        &self.names
    }

    /// Serves until `shutdown` completes, then stops accepting connections and new runs, and
    /// lets open connections and running jobs finish for the grace period at most (then kills
    /// the jobs; their runs resume at the next start).
    ///
    /// # Errors
    ///
    /// [`DaemonError::Serve`] when accepting connections fails for good.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), DaemonError> {
        let (stopping, mut stopped) = tokio::sync::watch::channel(false);
        let stopping_runs = stopping.subscribe();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connection is accepted");
            stopping.send_replace(true);
        };
        tracing::info!(addr = %self.addr, repositories = ?self.names, "listening");
        let queues = std::sync::Arc::clone(self.state.queues());
        queues.start();
        let recurring = std::sync::Arc::clone(self.state.recurring());
        let scheduler = tokio::spawn(std::sync::Arc::clone(&recurring).run());
        let serving = axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(signal)
            .into_future();
        let grace = self.grace;
        let deadline = async move {
            // The sender lives as long as `serving`, which this future races.
            while !*stopped.borrow_and_update() {
                if stopped.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            tokio::time::sleep(grace).await;
        };
        let serving = async move {
            tokio::select! {
                served = serving => served.map_err(|source| DaemonError::Serve { source }),
                () = deadline => {
                    tracing::warn!(grace = ?grace, "connections still open after the grace period: closed");
                    Ok(())
                }
            }
        };
        // The runs stop when the signal comes, as the connections do.
        let mut stopping = stopping_runs;
        let runs = async move {
            while !*stopping.borrow_and_update() {
                if stopping.changed().await.is_err() {
                    break;
                }
            }
            tokio::join!(queues.shutdown(grace), recurring.shutdown(grace));
            if let Err(err) = scheduler.await {
                tracing::error!(error = %err, "the scheduler of recurring actions failed");
            }
        };
        let (served, ()) = tokio::join!(serving, runs);
        served
    }
}

/// Binds and serves `config` until `shutdown` completes (see [`Server::bind`] and
/// [`Server::run`]).
///
/// # Errors
///
/// As [`Server::bind`] and [`Server::run`].
pub async fn serve(
    config: DaemonConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    Server::bind(config).await?.run(shutdown).await
}

/// A future that completes on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this
/// is called, not when the future is first polled, so that a signal that arrives in between
/// is not lost (nor kills the process). Call it within a tokio runtime.
///
/// # Errors
///
/// [`DaemonError::Signal`] when a handler cannot be installed.
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static, DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind, name| {
        signal(kind).map_err(|source| DaemonError::Signal {
            signal: name,
            source,
        })
    };
    let mut term = install(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = install(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_local() {
        for local in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(local.parse().unwrap()), "{local}");
        }
        for remote in ["0.0.0.0", "::", "192.168.1.2", "::ffff:10.0.0.1"] {
            assert!(!is_loopback(remote.parse().unwrap()), "{remote}");
        }
    }

    #[tokio::test]
    async fn a_remote_address_needs_allowing() {
        let mut config = DaemonConfig::new(vec![], Token::generate().unwrap());
        config.addr = "0.0.0.0:0".parse().unwrap();
        assert!(matches!(
            Server::bind(config.clone()).await,
            Err(DaemonError::RemoteNotAllowed { addr }) if addr.to_string() == "0.0.0.0"
        ));
        config.allow_remote = true;
        // Allowed, it gets as far as the repositories.
        assert!(matches!(
            Server::bind(config).await,
            Err(DaemonError::NoRepositories)
        ));
    }
}
