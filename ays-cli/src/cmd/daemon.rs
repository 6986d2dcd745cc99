//! `ays daemon` (alias `ays start`): serves repositories over the REST API of ays-daemon.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use ays_core::{OpenOptions, Repository};
use ays_daemon::token::TokenFile;
use ays_daemon::{DaemonConfig, Server};

use super::Env;
use crate::cli::DaemonArgs;
use crate::exit::BadInput;
use crate::output;

pub fn run(env: &Env, args: DaemonArgs) -> anyhow::Result<()> {
    let addr = SocketAddr::new(args.bind, args.port);
    let remote = !ays_daemon::is_loopback(args.bind);
    if remote && !args.allow_remote {
        return Err(BadInput(format!(
            "refusing to listen on {}: other machines could reach the API there; pass \
             --allow-remote to allow it",
            args.bind
        ))
        .into());
    }
    let repositories = repositories(env, &args)?;
    let file = TokenFile::locate()?;
    let (token, created) = file
        .read_or_create()
        .context("the daemon needs its API token")?;
    if created {
        output::note(&format!(
            "created the API token in {} (`ays token show` prints it)",
            file.path().display()
        ));
    }
    let mut config = DaemonConfig::new(repositories, token);
    config.repos_dir = args.repos_dir.as_ref().map(|dir| env.dir.join(dir));
    config.addr = addr;
    config.allow_remote = args.allow_remote;
    config.open = OpenOptions {
        store_url: env.store.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Installed before the address is printed: a client that reads it may signal at once.
        let shutdown = ays_daemon::shutdown_signal()?;
        let server = Server::bind(config).await?;
        let url = format!("http://{}", server.local_addr());
        if remote {
            output::warn(&format!(
                "listening on {url}, which other machines can reach: anyone who has the token \
                 controls the served repositories"
            ));
        }
        if env.json {
            output::line(&serde_json::json!({ "listening": url }).to_string())?;
        } else {
            output::line(&format!("listening on {url}"))?;
        }
        server.run(shutdown).await?;
        anyhow::Ok(())
    })
}

/// The roots of the repositories to serve: `--repo`, else those under `--repos-dir` (maybe
/// none: the API creates repositories there), else the one holding the current directory.
fn repositories(env: &Env, args: &DaemonArgs) -> anyhow::Result<Vec<PathBuf>> {
    if let Some(dir) = &args.repos_dir {
        return match ays_daemon::repositories_under(&env.dir.join(dir)) {
            Err(ays_daemon::DaemonError::NoneUnder { .. }) => Ok(Vec::new()),
            found => Ok(found?),
        };
    }
    if args.repos.is_empty() {
        return Ok(vec![Repository::discover(&env.dir)?]);
    }
    Ok(args.repos.iter().map(|dir| env.dir.join(dir)).collect())
}
