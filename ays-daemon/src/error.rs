//! [`DaemonError`]: why the daemon cannot start or stopped serving. Errors of single requests are
//! HTTP responses (see `api/error.rs`), not this type.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Why the daemon cannot start, or why it stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// No repository was given.
    #[error("no repository to serve")]
    NoRepositories,
    /// A directory given as a repository is not one.
    #[error("{} is not an AYS repository (no .ays/config.yaml)", path.display())]
    NotARepository {
        /// The directory.
        path: PathBuf,
    },
    /// A directory of repositories holds none.
    #[error("no AYS repository directly under {}", dir.display())]
    NoneUnder {
        /// The directory.
        dir: PathBuf,
    },
    /// A directory could not be read.
    #[error("cannot read {}", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A repository's directory name cannot name it in the API.
    #[error("cannot serve {}: its directory name {reason}", path.display())]
    BadName {
        /// The repository's directory.
        path: PathBuf,
        /// What is wrong with the name.
        reason: &'static str,
    },
    /// Two repositories have the same directory name, which names them in the API.
    #[error(
        "two repositories are named `{name}` ({} and {}): the API names a repository by its \
         directory name",
        first.display(),
        second.display()
    )]
    DuplicateName {
        /// The name.
        name: String,
        /// The first repository with it.
        first: PathBuf,
        /// The second.
        second: PathBuf,
    },
    /// A repository could not be opened.
    #[error("cannot open the repository {}", path.display())]
    Open {
        /// The repository.
        path: PathBuf,
        /// The cause (boxed: a `CoreError` is large).
        #[source]
        source: Box<ays_core::CoreError>,
    },
    /// The address is not a loopback one and remote access was not allowed.
    #[error(
        "{addr} is not a loopback address: other machines could reach the API there, which must \
         be allowed explicitly"
    )]
    RemoteNotAllowed {
        /// The address asked for.
        addr: IpAddr,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The handlers of SIGTERM and SIGINT could not be installed.
    #[error("cannot install the handler of {signal}")]
    Signal {
        /// The signal.
        signal: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped on an I/O error.
    #[error("the server failed")]
    Serve {
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A task the daemon waited for did not finish (it panicked or was cancelled).
    #[error("an internal task of the daemon failed while it {doing}")]
    Task {
        /// What the daemon was doing.
        doing: &'static str,
        /// The cause.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The run queue of a repository cannot be read.
    #[error("cannot read the run queue of repository `{repository}`: {message}")]
    Queue {
        /// The repository.
        repository: String,
        /// What went wrong.
        message: String,
    },
}
