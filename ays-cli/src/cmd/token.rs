//! `ays token show|rotate`: the daemon's API token of this user.

use ays_daemon::token::TokenFile;

use super::Env;
use crate::cli::TokenCommand;
use crate::output;

pub fn run(env: &Env, command: TokenCommand) -> anyhow::Result<()> {
    let file = TokenFile::locate()?;
    let token = match command {
        TokenCommand::Show => file.read()?,
        TokenCommand::Rotate => file.rotate()?,
    };
    if env.json {
        return output::json(&serde_json::json!({
            "token": token.as_str(),
            "path": file.path(),
        }));
    }
    output::line(token.as_str())
}
