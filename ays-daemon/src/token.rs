//! The bearer token of the daemon: one per user, since one daemon serves many repositories.
//!
//! It lives in `$AYS_CONFIG_DIR/token`, else `$XDG_CONFIG_HOME/ays/token`, else
//! `~/.config/ays/token`: 32 random bytes as 64 lower-case hex digits and a newline. The file is
//! created with mode 0600 (never readable by others, not even while it is written) in a
//! directory created with mode 0700, and it is replaced atomically: a new token is written to a
//! temporary file beside it, then renamed over it.

use std::ffi::OsString;
use std::fmt;
use std::fs::{DirBuilder, File, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;

/// The name of the token file in the configuration directory.
pub const TOKEN_FILE: &str = "token";

/// How many random bytes a token holds.
const TOKEN_BYTES: usize = 32;

/// A token file is a few dozen bytes; reading stops past this, so that a wrong path cannot make
/// the daemon read a huge file.
const READ_AT_MOST: u64 = 1024;

/// Why the token cannot be found, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// None of `AYS_CONFIG_DIR`, `XDG_CONFIG_HOME` and `HOME` is set.
    #[error(
        "cannot tell where the API token lives: set AYS_CONFIG_DIR (or XDG_CONFIG_HOME, or HOME)"
    )]
    NoConfigDir,
    /// There is no token file yet.
    #[error("no API token at {}: `ays token rotate` or `ays init` creates it", path.display())]
    Missing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The token file may be read by other users.
    #[error(
        "the API token at {} is readable by other users (mode {mode:03o}): `chmod 600 {}`, or \
         `ays token rotate` to replace it",
        path.display(),
        path.display()
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold a token as `ays` writes them.
    #[error(
        "{} does not hold an API token (64 hex digits): `ays token rotate` writes a new one",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done (`read`, `create`, `replace`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The operating system gave no random bytes.
    #[error("the system's random number generator failed")]
    Random {
        /// The cause.
        #[source]
        source: getrandom::Error,
    },
}

impl TokenError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> TokenError {
        let path = path.to_path_buf();
        move |source| TokenError::Io {
            action,
            path,
            source,
        }
    }
}

/// A bearer token. Its `Debug` form does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A new token: 32 bytes from the operating system's random source, as hex.
    ///
    /// # Errors
    ///
    /// [`TokenError::Random`] when the system gives no random bytes.
    pub fn generate() -> Result<Token, TokenError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|source| TokenError::Random { source })?;
        let mut text = String::with_capacity(2 * TOKEN_BYTES);
        for b in bytes {
            text.push(hex_digit(b >> 4));
            text.push(hex_digit(b & 0x0f));
        }
        Ok(Token(text))
    }

    /// The token as text (64 hex digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this token, compared in constant time: how long the comparison
    /// takes tells nothing of how much of the candidate matched.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }

    /// The token in `text` (as a token file holds it: hex digits, then an optional newline).
    fn parse(text: &str) -> Option<Token> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let valid = text.len() == 2 * TOKEN_BYTES
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Token(text.to_owned()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// The token file of this user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFile {
    path: PathBuf,
}

impl TokenFile {
    /// The token file the environment names: `$AYS_CONFIG_DIR/token`, else
    /// `$XDG_CONFIG_HOME/ays/token`, else `$HOME/.config/ays/token`. Empty variables count as
    /// unset, and so does a relative `XDG_CONFIG_HOME` (as the XDG specification says).
    ///
    /// # Errors
    ///
    /// [`TokenError::NoConfigDir`] when none of the three is set.
    pub fn locate() -> Result<TokenFile, TokenError> {
        let dir = config_dir(|name| std::env::var_os(name)).ok_or(TokenError::NoConfigDir)?;
        Ok(TokenFile::at(dir.join(TOKEN_FILE)))
    }

    /// The token file at `path`.
    pub fn at(path: PathBuf) -> TokenFile {
        TokenFile { path }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the token.
    ///
    /// # Errors
    ///
    /// [`TokenError::Missing`] when there is no file, [`TokenError::Exposed`] when other users
    /// may read it, [`TokenError::Malformed`] when it does not hold a token,
    /// [`TokenError::Io`].
    pub fn read(&self) -> Result<Token, TokenError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(TokenError::Missing {
                    path: self.path.clone(),
                });
            }
            Err(err) => return Err(TokenError::io("read", &self.path)(err)),
        };
        let mode = file
            .metadata()
            .map_err(TokenError::io("read", &self.path))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(TokenError::Exposed {
                path: self.path.clone(),
                mode,
            });
        }
        let mut text = String::new();
        match file.take(READ_AT_MOST).read_to_string(&mut text) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::InvalidData => {
                return Err(TokenError::Malformed {
                    path: self.path.clone(),
                });
            }
            Err(err) => return Err(TokenError::io("read", &self.path)(err)),
        }
        Token::parse(&text).ok_or_else(|| TokenError::Malformed {
            path: self.path.clone(),
        })
    }

    /// Reads the token, creating the file with a new one if there is none. Returns the token
    /// and whether it was created now.
    ///
    /// # Errors
    ///
    /// As [`TokenFile::read`] (but for a missing file), and [`TokenError::Io`] or
    /// [`TokenError::Random`] when it cannot be created.
    pub fn read_or_create(&self) -> Result<(Token, bool), TokenError> {
        match self.read() {
            Err(TokenError::Missing { .. }) => {}
            other => return other.map(|token| (token, false)),
        }
        let token = Token::generate()?;
        let written = self.write_temporary(&token)?;
        match written.persist_noclobber(&self.path) {
            Ok(_) => {
                self.sync_dir()?;
                tracing::info!(path = %self.path.display(), "created the API token");
                Ok((token, true))
            }
            // Another process created it meanwhile: that one is the token.
            Err(err) if err.error.kind() == io::ErrorKind::AlreadyExists => {
                self.read().map(|token| (token, false))
            }
            Err(err) => Err(TokenError::io("create", &self.path)(err.error)),
        }
    }

    /// Replaces the token with a new one (or creates it), atomically: a reader sees the old
    /// token or the new one, never a part of either.
    ///
    /// # Errors
    ///
    /// [`TokenError::Io`] or [`TokenError::Random`].
    pub fn rotate(&self) -> Result<Token, TokenError> {
        let token = Token::generate()?;
        let written = self.write_temporary(&token)?;
        written
            .persist(&self.path)
            .map_err(|err| TokenError::io("replace", &self.path)(err.error))?;
        self.sync_dir()?;
        tracing::info!(path = %self.path.display(), "rotated the API token");
        Ok(token)
    }

    /// The directory of the file (`.` for a bare file name).
    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    /// `token` in a new file beside the token file, made with mode 0600, written and synced.
    /// The directory is created (mode 0700) if it does not exist; an existing one is left as
    /// it is.
    fn write_temporary(&self, token: &Token) -> Result<tempfile::NamedTempFile, TokenError> {
        let dir = self.dir();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(TokenError::io("create", dir))?;
        let mut file = tempfile::Builder::new()
            .prefix(".token.")
            .permissions(Permissions::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(TokenError::io("create a file in", dir))?;
        let path = file.path().to_path_buf();
        file.write_all(format!("{}\n", token.as_str()).as_bytes())
            .and_then(|()| file.as_file().sync_all())
            .map_err(TokenError::io("write", &path))?;
        Ok(file)
    }

    /// Makes the rename that put the file in place durable.
    fn sync_dir(&self) -> Result<(), TokenError> {
        let dir = self.dir();
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(TokenError::io("sync", dir))
    }
}

/// The configuration directory of `ays`, from the environment `lookup` reads.
fn config_dir(lookup: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| lookup(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set("AYS_CONFIG_DIR") {
        return Some(dir);
    }
    if let Some(dir) = set("XDG_CONFIG_HOME").filter(|d| d.is_absolute()) {
        return Some(dir.join("ays"));
    }
    set("HOME").map(|home| home.join(".config").join("ays"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn mode_of(path: &Path) -> io::Result<u32> {
        Ok(fs::metadata(path)?.permissions().mode() & 0o777)
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_config_dir_follows_ays_then_xdg_then_home() {
        let all = [
            ("AYS_CONFIG_DIR", "/etc/ays-me"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/home/me"),
        ];
        assert_eq!(config_dir(env(&all)), Some(PathBuf::from("/etc/ays-me")));
        assert_eq!(
            config_dir(env(&all[1..])),
            Some(PathBuf::from("/x/ays")),
            "without AYS_CONFIG_DIR"
        );
        assert_eq!(
            config_dir(env(&all[2..])),
            Some(PathBuf::from("/home/me/.config/ays"))
        );
        let empty_and_relative = [
            ("AYS_CONFIG_DIR", ""),
            ("XDG_CONFIG_HOME", "relative"),
            ("HOME", "/home/me"),
        ];
        assert_eq!(
            config_dir(env(&empty_and_relative)),
            Some(PathBuf::from("/home/me/.config/ays")),
            "an empty variable and a relative XDG_CONFIG_HOME count as unset"
        );
        assert_eq!(config_dir(env(&[])), None);
    }

    #[test]
    fn a_token_is_64_hex_digits_and_hidden_from_debug() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_eq!(a.as_str().len(), 64);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Token(<hidden>)");
        assert_eq!(Token::parse(&format!("{}\n", a.as_str())), Some(a.clone()));
        assert_eq!(Token::parse(&a.as_str().to_uppercase()), None);
        assert_eq!(Token::parse(&a.as_str()[1..]), None);
        assert_eq!(Token::parse(""), None);
    }

    #[test]
    fn matches_compares_the_whole_token() {
        let t = Token::generate().unwrap();
        assert!(t.matches(t.as_str().as_bytes()));
        assert!(!t.matches(&t.as_str().as_bytes()[..63]));
        assert!(!t.matches(b""));
        let mut other = t.as_str().as_bytes().to_vec();
        other[63] = if other[63] == b'0' { b'1' } else { b'0' };
        assert!(!t.matches(&other));
    }

    #[test]
    fn the_file_is_created_once_with_mode_0600_in_a_0700_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = TokenFile::at(tmp.path().join("cfg/ays/token"));
        assert!(matches!(file.read(), Err(TokenError::Missing { path }) if path == file.path()));
        let (token, created) = file.read_or_create().unwrap();
        assert!(created);
        assert_eq!(mode_of(file.path()).unwrap(), 0o600);
        assert_eq!(mode_of(&tmp.path().join("cfg/ays")).unwrap(), 0o700);
        assert_eq!(mode_of(&tmp.path().join("cfg")).unwrap(), 0o700);
        assert_eq!(
            fs::read_to_string(file.path()).unwrap(),
            format!("{}\n", token.as_str())
        );
        assert_eq!(file.read_or_create().unwrap(), (token.clone(), false));
        assert_eq!(file.read().unwrap(), token);
        let names: Vec<_> = fs::read_dir(tmp.path().join("cfg/ays"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["token"], "no temporary file is left behind");
    }

    #[test]
    fn rotate_replaces_the_token() {
        let tmp = tempfile::tempdir().unwrap();
        let file = TokenFile::at(tmp.path().join("token"));
        let first = file.rotate().unwrap();
        let second = file.rotate().unwrap();
        assert_ne!(first, second);
        assert_eq!(file.read().unwrap(), second);
        assert_eq!(mode_of(file.path()).unwrap(), 0o600);
    }

    #[test]
    fn an_exposed_or_malformed_file_is_refused_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let file = TokenFile::at(tmp.path().join("token"));
        let token = file.rotate().unwrap();
        fs::set_permissions(file.path(), Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            file.read_or_create(),
            Err(TokenError::Exposed { mode: 0o644, .. })
        ));
        fs::set_permissions(file.path(), Permissions::from_mode(0o600)).unwrap();
        assert_eq!(file.read().unwrap(), token);
        fs::write(file.path(), "hunter2\n").unwrap();
        assert!(matches!(
            file.read_or_create(),
            Err(TokenError::Malformed { .. })
        ));
        assert_eq!(fs::read_to_string(file.path()).unwrap(), "hunter2\n");
        fs::write(file.path(), [0xff, 0xfe]).unwrap();
        assert!(matches!(file.read(), Err(TokenError::Malformed { .. })));
    }
}
