//! Settings, from the command line, the environment and a configuration file, in that order of
//! precedence, with defaults that need none of them: the service on 127.0.0.1:8080 from a SQLite
//! file in the working directory, logs as text.
//!
//! The file is TOML (`--config FILE` or `NIC_LEDGER_CONFIG`):
//!
//! ```toml
//! listen = "0.0.0.0:8080"
//! database_url = "postgres://nic@db/nic_ledger"
//! log_format = "json"    # or "text"
//! trusted_proxies = ["10.0.0.2"]    # their X-Forwarded-For names the client
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// The embedded default: a SQLite file in the working directory, created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://nic-ledger.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The configuration file's keys; every one is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub trusted_proxies: Option<Vec<IpAddr>>,
}

impl File {
    /// Reads the file, or nothing when no file is named.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("the configuration file {} is invalid", path.display()))
    }

    /// The database URL: the flag or environment first, then the file, then the default.
    pub fn database_url(&self, given: Option<String>) -> String {
        given
            .or_else(|| self.database_url.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string())
    }

    pub fn listen(&self, given: Option<SocketAddr>) -> SocketAddr {
        given
            .or(self.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid default"))
    }

    pub fn trusted_proxies(&self, given: Vec<IpAddr>) -> Vec<IpAddr> {
        if given.is_empty() {
            self.trusted_proxies.clone().unwrap_or_default()
        } else {
            given
        }
    }

    pub fn log_format(&self, given: Option<LogFormat>) -> LogFormat {
        given.or(self.log_format).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_which_beats_the_defaults() {
        let dir = std::env::temp_dir().join(format!("nic-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nic-ledger.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\ndatabase_url = \"sqlite://x.db\"\nlog_format = \"json\"\n\
             trusted_proxies = [\"10.0.0.2\"]\n",
        )
        .unwrap();
        let f = File::load(Some(&path)).unwrap();
        assert_eq!(f.listen(None), "0.0.0.0:9000".parse().unwrap());
        assert_eq!(f.database_url(None), "sqlite://x.db");
        assert_eq!(
            f.database_url(Some("postgres://h/d".into())),
            "postgres://h/d"
        );
        assert_eq!(f.log_format(None), LogFormat::Json);
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(f.trusted_proxies(Vec::new()), vec![proxy]);
        let other: IpAddr = "10.0.0.3".parse().unwrap();
        assert_eq!(f.trusted_proxies(vec![other]), vec![other]);
        let none = File::load(None).unwrap();
        assert_eq!(none.database_url(None), DEFAULT_DATABASE_URL);
        assert_eq!(none.listen(None), DEFAULT_LISTEN.parse().unwrap());
        std::fs::write(&path, "listn = 1\n").unwrap();
        let err = format!("{:#}", File::load(Some(&path)).unwrap_err());
        assert!(err.contains("unknown field"), "{err}");
    }
}
