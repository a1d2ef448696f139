//! Typed configuration: a TOML file (`--config` or `LATCHKEY_CONFIG`) overridden by `LATCHKEY_*`
//! environment variables, parsed once at start-up. Nothing else in the crate reads the
//! environment; the loader takes the variables as an argument so tests can build configs freely.
//!
//! Every invalid setting stops start-up with a [`ConfigError`] naming the key and the problem.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The fully validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: PublicUrl,
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub master_key: MasterKeySource,
    pub log_format: LogFormat,
    /// Trust `X-Forwarded-For` / `X-Forwarded-Host` / `X-Forwarded-Proto` from a reverse proxy.
    pub trust_proxy: bool,
    pub tls: Option<TlsFiles>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Outgoing mail: SMTP when set (`smtp://host:587`, `smtps://user:pass@host`), else the
    /// outbox folder `{data_dir}/outbox` (one `.eml` file per message).
    pub smtp_url: Option<String>,
    /// The From address of mail we send.
    pub mail_from: lettre::message::Mailbox,
}

/// Where tenants live: `http://localhost:8080` means tenant `acme` is `http://acme.localhost:8080`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    pub scheme: Scheme,
    /// Lower-case base domain without trailing dot, e.g. `id.example.com`.
    pub base_domain: String,
    /// Explicit port, `None` when it is the scheme's default.
    pub port: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `LATCHKEY_MASTER_KEY`: base64 of 32 bytes, given directly.
    Value(String),
    /// `LATCHKEY_MASTER_KEY_FILE`: a file the operator named; never created for them.
    File(PathBuf),
    /// Nothing configured: `{data_dir}/master.key`, created on the first start of a fresh database.
    DefaultFile(PathBuf),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {key}: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

/// The file form: every key optional, names mirror the `LATCHKEY_*` variables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    master_key: Option<String>,
    master_key_file: Option<String>,
    log_format: Option<String>,
    trust_proxy: Option<bool>,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    max_body_bytes: Option<usize>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
}

/// One setting: its TOML key and the text to parse (the `LATCHKEY_*` variable wins over the file).
struct Setting {
    key: &'static str,
    value: Option<String>,
}

impl Config {
    /// Loads configuration from an optional TOML file and the given environment variables.
    /// `file` (from `--config`) wins over `LATCHKEY_CONFIG`.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("LATCHKEY_CONFIG").map(PathBuf::from));
        let raw = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    invalid("config", format!("cannot read {}: {e}", path.display()))
                })?;
                toml::from_str::<RawConfig>(&text).map_err(|e| {
                    invalid("config", format!("{}: {}", path.display(), e.message()))
                })?
            }
            None => RawConfig::default(),
        };
        Self::from_raw(raw, env)
    }

    /// [`Config::load`] with this process's environment: the only place that reads it.
    pub fn from_process_env(file: Option<&Path>) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("LATCHKEY_"))
            .collect();
        Config::load(file, &env)
    }

    fn from_raw(raw: RawConfig, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let pick = |key: &'static str, file_value: Option<String>| Setting {
            key,
            value: env
                .get(&format!("LATCHKEY_{}", key.to_ascii_uppercase()))
                .cloned()
                .or(file_value),
        };

        let listen = pick("listen", raw.listen);
        let listen: SocketAddr = match listen.value.as_deref() {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v.trim().parse().map_err(|_| {
                invalid(
                    listen.key,
                    format!("`{v}` is not an address like 127.0.0.1:8080"),
                )
            })?,
        };

        let public = pick("public_url", raw.public_url);
        let public_url =
            PublicUrl::parse(public.value.as_deref().unwrap_or("http://localhost:8080"))
                .map_err(|p| invalid(public.key, p))?;

        let data_dir = PathBuf::from(
            pick("data_dir", raw.data_dir)
                .value
                .unwrap_or_else(|| "./data".into()),
        );
        if data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }

        let db = pick("database_url", raw.database_url);
        let database = match db.value.as_deref().map(str::trim) {
            None | Some("") => DatabaseUrl::Sqlite(data_dir.join("latchkey.db")),
            Some(url) => DatabaseUrl::parse(url).map_err(|p| invalid(db.key, p))?,
        };

        let key_value = pick("master_key", raw.master_key).value;
        let key_file = pick("master_key_file", raw.master_key_file).value;
        let master_key = match (key_value, key_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "master_key",
                    "set either master_key or master_key_file, not both",
                ));
            }
            (Some(v), None) => MasterKeySource::Value(v),
            (None, Some(f)) if f.trim().is_empty() => {
                return Err(invalid("master_key_file", "must not be empty"));
            }
            (None, Some(f)) => MasterKeySource::File(PathBuf::from(f)),
            (None, None) => MasterKeySource::DefaultFile(data_dir.join("master.key")),
        };

        let log = pick("log_format", raw.log_format);
        let log_format = match log.value.as_deref().map(str::trim) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(v) => {
                return Err(invalid(
                    log.key,
                    format!("`{v}` is not one of: pretty, json"),
                ));
            }
        };

        let trust_proxy = match env.get("LATCHKEY_TRUST_PROXY") {
            Some(v) => parse_bool(v).ok_or_else(|| {
                invalid("trust_proxy", format!("`{v}` is not one of: true, false"))
            })?,
            None => raw.trust_proxy.unwrap_or(false),
        };

        let cert = pick("tls_cert", raw.tls_cert).value;
        let key = pick("tls_key", raw.tls_key).value;
        let tls = match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.into(),
                key: key.into(),
            }),
            (Some(_), None) => {
                return Err(invalid("tls_key", "tls_cert is set but tls_key is not"));
            }
            (None, Some(_)) => {
                return Err(invalid("tls_cert", "tls_key is set but tls_cert is not"));
            }
        };
        if tls.is_some() && public_url.scheme == Scheme::Http {
            return Err(invalid(
                "public_url",
                "TLS is configured, so the public URL must start with https://",
            ));
        }

        let max_body_bytes = match env.get("LATCHKEY_MAX_BODY_BYTES") {
            Some(v) => v.trim().parse().map_err(|_| {
                invalid("max_body_bytes", format!("`{v}` is not a number of bytes"))
            })?,
            None => raw.max_body_bytes.unwrap_or(1024 * 1024),
        };
        if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(invalid(
                "max_body_bytes",
                "must be between 1024 and 67108864",
            ));
        }

        let smtp_url = pick("smtp_url", raw.smtp_url)
            .value
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(invalid(
                "smtp_url",
                "must start with smtp:// (STARTTLS with ?tls=required) or smtps://",
            ));
        }
        let from = pick("mail_from", raw.mail_from);
        let from_text = from
            .value
            .clone()
            .unwrap_or_else(|| format!("Latchkey <no-reply@{}>", public_url.base_domain));
        let mail_from: lettre::message::Mailbox = from_text.trim().parse().map_err(|_| {
            invalid(
                from.key,
                format!("`{from_text}` is not an address like `Acme IT <it@acme.example>`"),
            )
        })?;

        Ok(Config {
            listen,
            public_url,
            data_dir,
            database,
            master_key,
            log_format,
            trust_proxy,
            tls,
            max_body_bytes,
            smtp_url,
            mail_from,
        })
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl PublicUrl {
    /// Parses `scheme://domain[:port]` with nothing after it but an optional `/`.
    pub fn parse(text: &str) -> Result<PublicUrl, String> {
        let text = text.trim();
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(format!("`{text}` must start with http:// or https://"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "`{text}` must be only scheme, domain and port (no path, query or user)"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => {
                let port: u16 = p
                    .parse()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("`{p}` is not a valid port"))?;
                (h, Some(port))
            }
            None => (rest, None),
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let valid = !host.is_empty()
            && host.len() <= 200
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
            && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if !valid {
            return Err(format!(
                "`{host}` is not a domain name (IP addresses cannot carry tenant subdomains)"
            ));
        }
        let default_port = match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        Ok(PublicUrl {
            scheme,
            base_domain: host,
            port: port.filter(|p| *p != default_port),
        })
    }

    fn scheme_str(&self) -> &'static str {
        match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn port_suffix(&self) -> String {
        self.port.map(|p| format!(":{p}")).unwrap_or_default()
    }

    /// The operator's origin, e.g. `http://localhost:8080`.
    pub fn base_origin(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme_str(),
            self.base_domain,
            self.port_suffix()
        )
    }

    /// A tenant's origin (its issuer), e.g. `http://acme.localhost:8080`.
    pub fn tenant_origin(&self, slug: &str) -> String {
        format!(
            "{}://{slug}.{}{}",
            self.scheme_str(),
            self.base_domain,
            self.port_suffix()
        )
    }

    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::Https
    }
}

impl DatabaseUrl {
    fn parse(url: &str) -> Result<DatabaseUrl, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err("sqlite:// URL has no file path".into());
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else {
            Err("must start with postgres://, postgresql:// or sqlite://".into())
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = Config::load(None, &env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.public_url.tenant_origin("acme"),
            "http://acme.localhost:8080"
        );
        assert_eq!(c.database, DatabaseUrl::Sqlite("./data/latchkey.db".into()));
        assert_eq!(
            c.master_key,
            MasterKeySource::DefaultFile("./data/master.key".into())
        );
        assert!(!c.trust_proxy);
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("latchkey.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &env(&[("LATCHKEY_LISTEN", "0.0.0.0:7000")])).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:7000");
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::load(None, &env(&[("LATCHKEY_LOG_FORMAT", "xml")])).unwrap_err();
        assert_eq!(e.key, "log_format");
        let e =
            Config::load(None, &env(&[("LATCHKEY_PUBLIC_URL", "http://10.0.0.1")])).unwrap_err();
        assert_eq!(e.key, "public_url");
        let e = Config::load(None, &env(&[("LATCHKEY_DATABASE_URL", "mysql://x")])).unwrap_err();
        assert_eq!(e.key, "database_url");
        let e = Config::load(None, &env(&[("LATCHKEY_TLS_CERT", "c.pem")])).unwrap_err();
        assert_eq!(e.key, "tls_key");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let e = Config::load(Some(&file), &env(&[])).unwrap_err();
        assert!(e.problem.contains("lisen"), "{e}");
    }

    #[test]
    fn public_url_normalises_default_ports() {
        let u = PublicUrl::parse("https://ID.Example.com:443/").unwrap();
        assert_eq!(u.tenant_origin("acme"), "https://acme.id.example.com");
        assert!(PublicUrl::parse("ftp://x").is_err());
        assert!(PublicUrl::parse("http://x/path").is_err());
    }
}
