//! The command line: `serve`, `migrate`, `tenant …`, `user …`, `keys …`, `audit …`. Every
//! command that creates or shows something accepts `--json` and then prints exactly one JSON
//! object on stdout; logs and errors go to stderr, errors with a non-zero exit.

mod group;
mod sp;

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};

use crate::audit::{self, By, Origin, Verdict};
use crate::config::Config;
use crate::directory::{
    self, AdminRole, NewTenantInput, NewUserInput, Tenant, User, UserStatus, username_key,
};
use crate::keys;
use crate::login::admin;
use crate::login::password::Password;
use crate::oidc::clients as oidc_clients;
use crate::services::Services;
use crate::store::{Store, tenants, users};

#[derive(Parser, Debug)]
#[command(
    name = "latchkey",
    version,
    about = "Multi-tenant single-sign-on identity provider"
)]
pub struct Cli {
    /// TOML configuration file (also LATCHKEY_CONFIG); LATCHKEY_* variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the identity provider.
    Serve {
        /// Create a `demo` tenant with an admin account if it does not exist yet.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate(JsonFlag),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users of a tenant.
    #[command(subcommand)]
    User(UserCommand),
    /// OpenID Connect clients of a tenant.
    #[command(subcommand)]
    Client(ClientCommand),
    /// SAML service providers of a tenant.
    #[command(subcommand)]
    Sp(sp::SpCommand),
    /// Directory groups of a tenant.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Key custody.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Measure this machine's password-hashing rate (argon2id with the parameters sign-in
    /// uses), to size a deployment: sign-ins per second cannot exceed it.
    HashRate {
        /// Parallel hashing threads (default: the number of CPUs).
        #[arg(long)]
        threads: Option<usize>,
        /// How long to measure.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Measure this machine's RS256 signing rate (OpenSSL, RSA-2048, as tokens are signed):
    /// token issuance per second cannot exceed it.
    SignRate {
        /// Parallel signing threads (default: the number of CPUs).
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Sign SAML responses (one enveloped RSA-SHA256 signature through libxmlsec1, on a
        /// response of the size SSO sends) instead of JWT-sized messages.
        #[arg(long)]
        saml: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Args, Debug)]
pub struct JsonFlag {
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant with its keys and first (owner) admin.
    Create {
        /// The subdomain: 2–63 of a-z, 0-9 and hyphen.
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_name = "EMAIL")]
        admin_email: String,
        #[arg(long, default_value = "admin")]
        admin_username: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    List(JsonFlag),
    Show {
        slug: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show the tenant's login policy, or change it with --set (all settings or none).
    Policy {
        slug: String,
        /// A setting `path=value`, e.g. `password.min_length=14`, `mfa=required`,
        /// `lockout.permanent=true`, `ip.allow=10.0.0.0/8,2001:db8::/32`. Repeatable.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; without --password-stdin a one-time password is generated and printed.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (first line). Like a generated one, it must
        /// be changed at first sign-in unless --no-change-required is given.
        #[arg(long)]
        password_stdin: bool,
        /// The password given on stdin is the person's own (e.g. they chose it, or it comes
        /// from the system being replaced): do not ask them to change it.
        #[arg(long, requires = "password_stdin")]
        no_change_required: bool,
        /// A custom attribute's value, `name=value` (repeatable). Required attributes must be
        /// given.
        #[arg(long = "attr", value_name = "NAME=VALUE")]
        attributes: Vec<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Set custom attribute values, `name=value` each; an empty value clears one.
    SetAttr {
        #[arg(long)]
        tenant: String,
        username: String,
        #[arg(required = true, value_name = "NAME=VALUE")]
        values: Vec<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[command(flatten)]
        out: JsonFlag,
    },
    Show {
        #[arg(long)]
        tenant: String,
        username: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Clear a user's failed-login counter and lock.
    Unlock {
        #[arg(long)]
        tenant: String,
        username: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Set a user's status (active, disabled, restricted); others end the user's sessions.
    SetStatus {
        #[arg(long)]
        tenant: String,
        username: String,
        status: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Give a user an admin console role (owner, admin, helpdesk, auditor), or `none`.
    SetRole {
        #[arg(long)]
        tenant: String,
        username: String,
        role: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Replace a user's password with a one-time one that must be changed at next sign-in.
    ResetPassword {
        #[arg(long)]
        tenant: String,
        username: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client; a confidential client's secret is printed once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// A public client (SPA, native app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// Exact redirect URI (repeatable).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Exact post-logout redirect URI (repeatable).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// Allowed grant types, comma-separated.
        #[arg(
            long,
            default_value = "authorization_code,refresh_token",
            value_delimiter = ','
        )]
        grant_types: Vec<String>,
        /// Allowed scopes, comma-separated.
        #[arg(
            long,
            default_value = "openid,profile,email,offline_access",
            value_delimiter = ','
        )]
        scopes: Vec<String>,
        /// A claim from a custom attribute, issued with the profile scope:
        /// `attr.<attribute name>=<claim name>` (repeatable).
        #[arg(long = "claim")]
        claims: Vec<String>,
        /// Ask the user for consent (off for first-party apps).
        #[arg(long)]
        consent: bool,
        /// Let a confidential client use the code flow without PKCE (legacy apps only; PKCE
        /// stays mandatory for public clients).
        #[arg(long)]
        no_pkce: bool,
        #[arg(long, default_value_t = 300)]
        access_token_seconds: u32,
        #[arg(long, default_value_t = 2_592_000)]
        refresh_token_seconds: u32,
        #[arg(long, default_value = "RS256")]
        id_token_alg: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    Show {
        #[arg(long)]
        tenant: String,
        client_id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// A new secret; the old one keeps working for the overlap.
    RotateSecret {
        #[arg(long)]
        tenant: String,
        client_id: String,
        #[arg(long, default_value_t = 86_400)]
        overlap_seconds: u32,
        #[command(flatten)]
        out: JsonFlag,
    },
    Delete {
        #[arg(long)]
        tenant: String,
        client_id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// One phase of signing-key rotation: publish a `next` key, or (when one is published)
    /// make it active and keep the old one published as `previous`.
    Rotate {
        #[arg(long)]
        tenant: String,
        /// Which key cycle: RS256 (OIDC default and SAML) or ES256 (clients that chose it).
        #[arg(long, default_value = "RS256")]
        alg: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Stop publishing `previous` keys (when no token they signed can still be live).
    RetirePrevious {
        #[arg(long)]
        tenant: String,
        /// Which key cycle: RS256 or ES256.
        #[arg(long, default_value = "RS256")]
        alg: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// The tenant's signing keys and their states.
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Re-wrap every tenant data key under a new master key, atomically.
    RotateMaster {
        /// The new key (base64, mode 0600); created when the file does not exist.
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check a tenant's audit chain; reports OK or the first broken entry (exit 1).
    Verify {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

/// A command's result: what to print, and whether it counts as success.
pub struct Outcome {
    pub json: bool,
    pub value: Value,
    pub text: String,
    pub ok: bool,
}

fn done(json: bool, value: Value, text: String) -> Outcome {
    Outcome {
        json,
        value,
        text,
        ok: true,
    }
}

fn tenant_json(t: &Tenant, url: &str) -> Value {
    json!({
        "id": t.id.to_string(),
        "slug": t.slug.as_str(),
        "name": t.name,
        "status": t.status.as_str(),
        "url": url,
        "created_at": t.created_at,
    })
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.to_string(),
        "username": u.username,
        "email": u.email,
        "display_name": u.display_name,
        "status": u.status.as_str(),
        "must_change_password": u.must_change_password,
        "admin_role": u.admin_role.map(|r| r.as_str()),
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

/// `name=value` arguments checked against the tenant's attribute schema (every problem
/// listed); with `complete`, attributes not given are empty and required ones must be given.
fn checked_attributes(
    schema: &[directory::attributes::Attribute],
    given: &[String],
    complete: bool,
) -> anyhow::Result<directory::attributes::Values> {
    let mut map = std::collections::HashMap::new();
    for arg in given {
        let Some((name, value)) = arg.split_once('=') else {
            anyhow::bail!("`{arg}`: give an attribute as name=value");
        };
        if map
            .insert(name.trim().to_owned(), value.to_owned())
            .is_some()
        {
            anyhow::bail!("attribute `{}` is given twice", name.trim());
        }
    }
    directory::attributes::check(schema, &map, complete)
        .map_err(|problems| anyhow::anyhow!("{}", problems.join("; ")))
}

/// A user's custom attribute values by name, typed.
async fn attributes_json(
    svc: &Services,
    tenant: &Tenant,
    user: &User,
) -> anyhow::Result<serde_json::Map<String, Value>> {
    let schema = directory::attributes::list(&svc.store, tenant).await?;
    let stored = directory::attributes::values_of(&svc.store, tenant, user.id).await?;
    Ok(schema
        .iter()
        .filter_map(|a| stored.get(&a.id).map(|v| (a.name.clone(), a.json(v))))
        .collect())
}

fn read_password_stdin() -> anyhow::Result<Password> {
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("cannot read the password from standard input: {e}"))?;
    let line = text.lines().next().unwrap_or_default().to_owned();
    zeroize::Zeroize::zeroize(&mut text);
    Ok(Password::new(line))
}

/// Hashes on `threads` threads for about `seconds`; returns (hashes, elapsed seconds).
fn hash_rate(threads: usize, seconds: f64) -> (u64, f64) {
    let started = std::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs_f64(seconds);
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let password = Password::generate();
                    let mut n = 0u64;
                    while std::time::Instant::now() < deadline {
                        let _ = crate::login::password::hash(&password);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    (total, started.elapsed().as_secs_f64())
}

/// The threads (default: one per CPU) and seconds of a rate measurement, within bounds.
fn rate_run(threads: Option<usize>, seconds: f64) -> (usize, f64) {
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    (threads, seconds.clamp(0.5, 600.0))
}

/// Signs SAML responses in-process (libxmlsec1) on `threads` threads for about `seconds`;
/// returns (signatures, elapsed seconds, signed response bytes).
fn saml_sign_rate(threads: usize, seconds: f64) -> anyhow::Result<(u64, f64, usize)> {
    use crate::saml::response::{self, Assertion, OutAttribute, SigningKey};
    use crate::saml::sps::{Acs, AttributeRule, NameIdFormat, ServiceProvider, Signing, SpConfig};
    let now = crate::now_ms();
    let generated = crate::crypto::signing::generate(keys::Alg::Rs256, "bench", now / 1000)?;
    let pkey = crate::crypto::signing::parse_private_pem(&generated.private_pem)?;
    let key = SigningKey {
        private_der: zeroize::Zeroizing::new(pkey.private_key_to_der()?),
        certificate_b64: crate::saml::metadata::pem_body(&generated.certificate_pem),
    };
    let sp = ServiceProvider {
        id: "bench".into(),
        entity_id: "https://sp.example.com/saml".into(),
        name: "Bench".into(),
        config: SpConfig {
            acs: vec![Acs {
                url: "https://sp.example.com/acs".into(),
                index: 0,
                is_default: true,
            }],
            slo: Vec::new(),
            signing_certificates: Vec::new(),
            encryption_certificates: Vec::new(),
            name_id_format: NameIdFormat::Persistent,
            attributes: AttributeRule::defaults(),
            signing: Signing::Assertion,
            require_signed_requests: false,
            assertion_seconds: 300,
            idp_initiated: false,
            default_relay_state: None,
        },
        assigned_only: false,
        created_at: now,
        updated_at: now,
    };
    let attributes: Vec<OutAttribute> = sp
        .config
        .attributes
        .iter()
        .map(|r| OutAttribute {
            name: r.name.clone(),
            friendly_name: r.friendly_name.clone(),
            values: vec!["alice.example@bench.test".into()],
        })
        .collect();
    let assertion = Assertion {
        idp_entity_id: "http://bench.localhost:8080/saml/metadata",
        sp: &sp,
        acs_url: "https://sp.example.com/acs",
        in_response_to: Some("_0123456789abcdef0123456789abcdef01234567"),
        name_id: "4f1c2a9e0b7d6c5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e",
        name_id_format: NameIdFormat::Persistent.urn(),
        session_index: "0193f3c2-7a1b-7c3d-9e4f-0a1b2c3d4e5f",
        authn_instant_ms: now,
        mfa: false,
        attributes: &attributes,
        now_ms: now,
    };
    let size = response::signed_success(&assertion, &key)?.len();
    let started = std::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs_f64(seconds);
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (assertion, key) = (&assertion, &key);
                scope.spawn(move || -> Result<u64, response::SignError> {
                    let mut n = 0u64;
                    while std::time::Instant::now() < deadline {
                        response::signed_success(assertion, key)?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or(Ok(0)))
            .sum::<Result<u64, _>>()
    })?;
    Ok((total, started.elapsed().as_secs_f64(), size))
}

/// Signs a token-sized message on `threads` threads for about `seconds`.
fn sign_rate(threads: usize, seconds: f64) -> anyhow::Result<(u64, f64)> {
    use openssl::hash::MessageDigest;
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048)?)?;
    let message = [b'x'; 600];
    let started = std::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs_f64(seconds);
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let key = &key;
                scope.spawn(move || -> Result<u64, openssl::error::ErrorStack> {
                    let mut n = 0u64;
                    while std::time::Instant::now() < deadline {
                        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), key)?;
                        signer.update(&message)?;
                        let _ = signer.sign_to_vec()?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or(Ok(0)).unwrap_or(0))
            .sum()
    });
    Ok((total, started.elapsed().as_secs_f64()))
}

/// Runs every command but `serve`.
pub async fn run(command: Command, config: Config) -> anyhow::Result<Outcome> {
    let now = crate::now_ms();
    match command {
        Command::Serve { .. } => anyhow::bail!("serve is run by main"),
        Command::Migrate(out) => {
            let store = Store::connect(&config.database).await?;
            let applied = store.migrate(&config.database).await?;
            let text = if applied.is_empty() {
                "database is up to date".to_owned()
            } else {
                format!(
                    "applied {} migration(s): {}",
                    applied.len(),
                    applied.join(", ")
                )
            };
            Ok(done(out.json, json!({ "applied": applied }), text))
        }
        Command::HashRate {
            threads,
            seconds,
            out,
        } => {
            let (threads, seconds) = rate_run(threads, seconds);
            let (hashes, elapsed) =
                tokio::task::spawn_blocking(move || hash_rate(threads, seconds)).await?;
            let rate = hashes as f64 / elapsed;
            Ok(done(
                out.json,
                json!({
                    "threads": threads,
                    "hashes": hashes,
                    "seconds": elapsed,
                    "hashes_per_second": rate,
                    "parameters": format!("argon2id m={} t={} p={}", crate::login::password::M_COST_KIB, crate::login::password::T_COST, crate::login::password::P_COST),
                }),
                format!(
                    "{rate:.1} argon2id hashes/s on {threads} thread(s) ({hashes} in {elapsed:.2} s)"
                ),
            ))
        }
        Command::SignRate {
            threads,
            seconds,
            saml: true,
            out,
        } => {
            let (threads, seconds) = rate_run(threads, seconds);
            let (signatures, elapsed, size) =
                tokio::task::spawn_blocking(move || saml_sign_rate(threads, seconds)).await??;
            let rate = signatures as f64 / elapsed;
            Ok(done(
                out.json,
                json!({
                    "threads": threads,
                    "signatures": signatures,
                    "seconds": elapsed,
                    "signatures_per_second": rate,
                    "response_bytes": size,
                    "algorithm": "SAML response, RSA-SHA256 enveloped signature (libxmlsec1)",
                }),
                format!("{rate:.0} signed {size}-byte SAML responses/s on {threads} thread(s)"),
            ))
        }
        Command::SignRate {
            threads,
            seconds,
            saml: false,
            out,
        } => {
            let (threads, seconds) = rate_run(threads, seconds);
            let (signatures, elapsed) =
                tokio::task::spawn_blocking(move || sign_rate(threads, seconds)).await??;
            let rate = signatures as f64 / elapsed;
            Ok(done(
                out.json,
                json!({
                    "threads": threads,
                    "signatures": signatures,
                    "seconds": elapsed,
                    "signatures_per_second": rate,
                    "algorithm": "RS256 (RSA-2048, OpenSSL)",
                }),
                format!("{rate:.0} RS256 signatures/s on {threads} thread(s)"),
            ))
        }
        Command::Tenant(cmd) => {
            let svc = Services::open(&config).await?;
            tenant_command(&svc, cmd, now).await
        }
        Command::Client(cmd) => {
            let svc = Services::open(&config).await?;
            client_command(&svc, cmd, now).await
        }
        Command::Sp(cmd) => {
            let svc = Services::open(&config).await?;
            sp::run(&svc, cmd, now).await
        }
        Command::Group(cmd) => {
            let svc = Services::open(&config).await?;
            group::run(&svc, cmd, now).await
        }
        Command::User(cmd) => {
            let svc = Services::open(&config).await?;
            user_command(&svc, cmd, now).await
        }
        Command::Keys(KeysCommand::Rotate { tenant, alg, out }) => {
            let alg = parse_alg(&alg)?;
            let svc = Services::open(&config).await?;
            let t = directory::find_tenant(&svc, &tenant).await?;
            let url = svc.public_url.tenant_origin(t.slug.as_str());
            let step = keys::rotate(
                &svc.store,
                &svc.keyring,
                &t,
                alg,
                url,
                By::operator(&Origin::cli("keys rotate")),
                now,
            )
            .await?;
            Ok(match step {
                keys::Rotation::Published { next } => done(
                    out.json,
                    json!({ "published": next }),
                    format!(
                        "published key {next} as next (in the JWKS, not signing yet); run \
                         `keys rotate` again once clients have refreshed their JWKS caches"
                    ),
                ),
                keys::Rotation::Promoted {
                    active,
                    previous,
                    retired,
                } => done(
                    out.json,
                    json!({ "active": active, "previous": previous, "retired": retired }),
                    format!(
                        "key {active} now signs; previous: {}; retired: {}",
                        previous.as_deref().unwrap_or("-"),
                        if retired.is_empty() {
                            "-".to_owned()
                        } else {
                            retired.join(", ")
                        }
                    ),
                ),
            })
        }
        Command::Keys(KeysCommand::RetirePrevious { tenant, alg, out }) => {
            let alg = parse_alg(&alg)?;
            let svc = Services::open(&config).await?;
            let t = directory::find_tenant(&svc, &tenant).await?;
            let retired = keys::retire_previous(
                &svc.store,
                &svc.keyring,
                &t,
                alg,
                By::operator(&Origin::cli("keys retire-previous")),
                now,
            )
            .await?;
            let text = format!(
                "retired: {}",
                if retired.is_empty() {
                    "-".to_owned()
                } else {
                    retired.join(", ")
                }
            );
            Ok(done(out.json, json!({ "retired": retired }), text))
        }
        Command::Keys(KeysCommand::List { tenant, out }) => {
            let svc = Services::open(&config).await?;
            let t = directory::find_tenant(&svc, &tenant).await?;
            let list = keys::list(&svc.store, t.id).await?;
            let text = list
                .iter()
                .map(|k| format!("{}\t{}\t{}", k.kid, k.algorithm, k.state.as_str()))
                .collect::<Vec<_>>()
                .join("\n");
            Ok(done(
                out.json,
                json!({ "keys": list.iter().map(|k| json!({ "kid": k.kid, "algorithm": k.algorithm.as_str(), "state": k.state.as_str(), "not_after": k.not_after, "created_at": k.created_at })).collect::<Vec<_>>() }),
                text,
            ))
        }
        Command::Keys(KeysCommand::RotateMaster { new_key_file, out }) => {
            let svc = Services::open(&config).await?;
            let (new_key, created) = keys::read_or_create_new_key(&new_key_file)?;
            let count = keys::rotate_master(
                &svc.store,
                svc.keyring.master(),
                &new_key,
                &Origin::cli("keys rotate-master"),
                now,
            )
            .await?;
            let path = new_key_file.display().to_string();
            let text = format!(
                "re-wrapped the data keys of {count} tenant(s) under the new master key{}.\n\
                 Now configure it before the next start: LATCHKEY_MASTER_KEY_FILE={path} \
                 (the old key no longer opens this database).",
                if created {
                    format!(" (created {path})")
                } else {
                    String::new()
                }
            );
            Ok(done(
                out.json,
                json!({ "tenants": count, "new_key_file": path, "created": created }),
                text,
            ))
        }
        Command::Audit(AuditCommand::Verify { tenant, out }) => {
            let svc = Services::open(&config).await?;
            let t = directory::find_tenant(&svc, &tenant).await?;
            let chain = svc.keyring.chain_key(&svc.store, t.id).await?;
            let verdict = audit::verify(&svc.store, &chain, t.id).await?;
            Ok(match verdict {
                Verdict::Intact { entries } => done(
                    out.json,
                    json!({ "tenant": t.slug.as_str(), "ok": true, "entries": entries }),
                    format!(
                        "OK: the audit chain of `{}` verifies ({entries} entries)",
                        t.slug
                    ),
                ),
                Verdict::Broken { seq, reason } => Outcome {
                    json: out.json,
                    value: json!({ "tenant": t.slug.as_str(), "ok": false, "first_broken": seq, "reason": reason }),
                    text: format!("BROKEN: audit entry {seq} of `{}`: {reason}", t.slug),
                    ok: false,
                },
            })
        }
    }
}

async fn tenant_command(svc: &Services, cmd: TenantCommand, now: i64) -> anyhow::Result<Outcome> {
    match cmd {
        TenantCommand::Create {
            slug,
            name,
            admin_email,
            admin_username,
            out,
        } => {
            let created = directory::create_tenant(
                svc,
                NewTenantInput {
                    slug,
                    name,
                    admin_email,
                    admin_username,
                },
                &Origin::cli("tenant create"),
                now,
            )
            .await?;
            let mut value = tenant_json(&created.tenant, &created.url);
            value["admin"] = user_json(&created.admin);
            value["admin"]["one_time_password"] = json!(created.admin_password.expose());
            let text = format!(
                "created tenant `{}` at {}\nadmin: {}  one-time password: {}  (must be changed at first sign-in)",
                created.tenant.slug,
                created.url,
                created.admin.username,
                created.admin_password.expose()
            );
            Ok(done(out.json, value, text))
        }
        TenantCommand::List(out) => {
            let all = tenants::list(&svc.store).await?;
            let list: Vec<Value> = all
                .iter()
                .map(|t| tenant_json(t, &svc.public_url.tenant_origin(t.slug.as_str())))
                .collect();
            let text = all
                .iter()
                .map(|t| format!("{}\t{}\t{}", t.slug, t.status.as_str(), t.name))
                .collect::<Vec<_>>()
                .join("\n");
            Ok(done(out.json, json!({ "tenants": list }), text))
        }
        TenantCommand::Policy { slug, set, out } => {
            let t = directory::find_tenant(svc, &slug).await?;
            let policy = if set.is_empty() {
                crate::login::policy::load(&svc.store, t.id).await?
            } else {
                let settings = set
                    .iter()
                    .map(|s| {
                        s.split_once('=')
                            .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                            .ok_or_else(|| anyhow::anyhow!("`{s}` is not PATH=VALUE"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                admin::set_policy(
                    svc,
                    &t,
                    &settings,
                    By::operator(&Origin::cli("tenant policy")),
                    now,
                )
                .await?
            };
            let value = serde_json::to_value(&policy)?;
            let text = serde_json::to_string_pretty(&value)?;
            Ok(done(out.json, value, text))
        }
        TenantCommand::Show { slug, out } => {
            let t = directory::find_tenant(svc, &slug).await?;
            let url = svc.public_url.tenant_origin(t.slug.as_str());
            let keys = keys::list(&svc.store, t.id).await?;
            let mut value = tenant_json(&t, &url);
            value["signing_keys"] = keys
                .iter()
                .map(|k| json!({ "id": k.id.to_string(), "kid": k.kid, "algorithm": k.algorithm.as_str(), "state": k.state.as_str(), "not_after": k.not_after }))
                .collect();
            let text = format!(
                "{} ({})\nurl: {url}\nstatus: {}\nsigning keys: {}",
                t.slug,
                t.name,
                t.status.as_str(),
                keys.iter()
                    .map(|k| format!("{} [{}]", k.kid, k.state.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(done(out.json, value, text))
        }
    }
}

fn parse_alg(alg: &str) -> anyhow::Result<keys::Alg> {
    keys::Alg::parse(alg).ok_or_else(|| {
        anyhow::anyhow!(
            "--alg must be RS256 or ES256, not `{}`",
            alg.chars().take(16).collect::<String>()
        )
    })
}

fn client_json(c: &oidc_clients::Client, now: i64) -> Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "kind": c.kind.as_str(),
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types,
        "scopes": c.scopes,
        "claims": c.claim_rules.iter().map(oidc_clients::ClaimRule::to_text).collect::<Vec<_>>(),
        "require_consent": c.require_consent,
        "require_pkce": c.require_pkce,
        "access_token_seconds": c.access_token_seconds,
        "refresh_token_seconds": c.refresh_token_seconds,
        "id_token_alg": c.id_token_alg.as_str(),
        "previous_secret_valid_until": c.previous_secret_until(now),
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

async fn client_command(svc: &Services, cmd: ClientCommand, now: i64) -> anyhow::Result<Outcome> {
    match cmd {
        ClientCommand::Create {
            tenant,
            name,
            public,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            claims,
            consent,
            no_pkce,
            access_token_seconds,
            refresh_token_seconds,
            id_token_alg,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let (client, secret) = oidc_clients::create(
                svc,
                &t,
                oidc_clients::NewClient {
                    name,
                    kind: if public {
                        oidc_clients::ClientKind::Public
                    } else {
                        oidc_clients::ClientKind::Confidential
                    },
                    redirect_uris,
                    post_logout_redirect_uris,
                    grant_types,
                    scopes,
                    claim_rules: claims,
                    access_token_seconds,
                    refresh_token_seconds,
                    require_consent: consent,
                    require_pkce: !no_pkce,
                    id_token_alg,
                },
                audit::By::operator(&Origin::cli("client create")),
                now,
            )
            .await?;
            let mut value = client_json(&client, now);
            let mut text = format!(
                "created {} client `{}` in `{}`\nclient_id: {}",
                client.kind.as_str(),
                client.name,
                t.slug,
                client.client_id
            );
            if let Some(s) = &secret {
                value["client_secret"] = json!(s.0);
                text.push_str(&format!("\nclient_secret: {}  (shown once)", s.0));
            }
            Ok(done(out.json, value, text))
        }
        ClientCommand::List { tenant, out } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let list = oidc_clients::list(svc, &t).await?;
            let text = list
                .iter()
                .map(|c| format!("{}\t{}\t{}", c.client_id, c.kind.as_str(), c.name))
                .collect::<Vec<_>>()
                .join("\n");
            Ok(done(
                out.json,
                json!({ "clients": list.iter().map(|c| client_json(c, now)).collect::<Vec<_>>() }),
                text,
            ))
        }
        ClientCommand::Show {
            tenant,
            client_id,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let c = oidc_clients::find(svc, &t, client_id.trim())
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("there is no client `{client_id}` in `{}`", t.slug)
                })?;
            let value = client_json(&c, now);
            let text = serde_json::to_string_pretty(&value)?;
            Ok(done(out.json, value, text))
        }
        ClientCommand::RotateSecret {
            tenant,
            client_id,
            overlap_seconds,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let (secret, until) = oidc_clients::rotate_secret(
                svc,
                &t,
                client_id.trim(),
                overlap_seconds,
                audit::By::operator(&Origin::cli("client rotate-secret")),
                now,
            )
            .await?;
            Ok(done(
                out.json,
                json!({ "client_id": client_id.trim(), "client_secret": secret.0, "previous_secret_valid_until": until }),
                format!(
                    "new client_secret: {}  (shown once; the previous one works for {overlap_seconds} s more)",
                    secret.0
                ),
            ))
        }
        ClientCommand::Delete {
            tenant,
            client_id,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            oidc_clients::delete(
                svc,
                &t,
                client_id.trim(),
                audit::By::operator(&Origin::cli("client delete")),
                now,
            )
            .await?;
            Ok(done(
                out.json,
                json!({ "deleted": client_id.trim() }),
                format!("deleted client `{}`", client_id.trim()),
            ))
        }
    }
}

async fn find_user(svc: &Services, tenant: &str, username: &str) -> anyhow::Result<(Tenant, User)> {
    let t = directory::find_tenant(svc, tenant).await?;
    let u = users::find_by_username_key(&svc.store, t.id, &username_key(username.trim()))
        .await?
        .ok_or_else(|| anyhow::anyhow!("there is no user `{username}` in `{}`", t.slug))?;
    Ok((t, u))
}

async fn user_command(svc: &Services, cmd: UserCommand, now: i64) -> anyhow::Result<Outcome> {
    match cmd {
        UserCommand::Create {
            tenant,
            username,
            email,
            display_name,
            password_stdin,
            no_change_required,
            attributes: given,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let schema = directory::attributes::list(&svc.store, &t).await?;
            let values = checked_attributes(&schema, &given, true)?;
            let password = if password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let created = directory::create_user(
                svc,
                &t,
                NewUserInput {
                    username,
                    email,
                    display_name,
                    password,
                    must_change_password: !no_change_required,
                    attributes: values,
                },
                By::operator(&Origin::cli("user create")),
                now,
            )
            .await?;
            let mut value = user_json(&created.user);
            let mut text = format!("created user `{}` in `{}`", created.user.username, t.slug);
            if let Some(p) = &created.one_time_password {
                value["one_time_password"] = json!(p.expose());
                text.push_str(&format!(
                    "\none-time password: {}  (must be changed at first sign-in)",
                    p.expose()
                ));
            }
            Ok(done(out.json, value, text))
        }
        UserCommand::List { tenant, limit, out } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let list = users::list(&svc.store, t.id, None, limit.clamp(1, 10_000)).await?;
            let text = list
                .iter()
                .map(|u| format!("{}\t{}\t{}", u.username, u.email, u.status.as_str()))
                .collect::<Vec<_>>()
                .join("\n");
            Ok(done(
                out.json,
                json!({ "users": list.iter().map(user_json).collect::<Vec<_>>() }),
                text,
            ))
        }
        UserCommand::Unlock {
            tenant,
            username,
            out,
        } => {
            let (t, u) = find_user(svc, &tenant, &username).await?;
            let was =
                admin::unlock(svc, &t, &u, By::operator(&Origin::cli("user unlock")), now).await?;
            let text = if was {
                format!("unlocked `{}`", u.username)
            } else {
                format!("`{}` was not locked", u.username)
            };
            Ok(done(
                out.json,
                json!({ "user": user_json(&u), "was_locked": was }),
                text,
            ))
        }
        UserCommand::SetRole {
            tenant,
            username,
            role,
            out,
        } => {
            let role = match role.trim() {
                "none" => None,
                r => Some(AdminRole::parse(r).ok_or_else(|| {
                    anyhow::anyhow!("`{r}` is not one of: owner, admin, helpdesk, auditor, none")
                })?),
            };
            let (t, u) = find_user(svc, &tenant, &username).await?;
            let origin = Origin::cli("user set-role");
            directory::set_role(svc, t.id, &u, role, By::operator(&origin), now).await?;
            let name = role.map_or("none", AdminRole::as_str);
            Ok(done(
                out.json,
                json!({ "username": u.username, "admin_role": role.map(AdminRole::as_str) }),
                format!("`{}` now has the console role {name}", u.username),
            ))
        }
        UserCommand::SetStatus {
            tenant,
            username,
            status,
            out,
        } => {
            let status = UserStatus::parse(status.trim()).ok_or_else(|| {
                anyhow::anyhow!("`{status}` is not one of: active, disabled, restricted")
            })?;
            let (t, u) = find_user(svc, &tenant, &username).await?;
            let ended = admin::set_status(
                svc,
                &t,
                &u,
                status,
                By::operator(&Origin::cli("user set-status")),
                now,
            )
            .await?;
            Ok(done(
                out.json,
                json!({ "status": status.as_str(), "sessions_ended": ended }),
                format!(
                    "`{}` is now {} ({ended} sessions ended)",
                    u.username,
                    status.as_str()
                ),
            ))
        }
        UserCommand::ResetPassword {
            tenant,
            username,
            out,
        } => {
            let (t, u) = find_user(svc, &tenant, &username).await?;
            let p = admin::reset_password(
                svc,
                &t,
                &u,
                By::operator(&Origin::cli("user reset-password")),
                now,
            )
            .await?;
            Ok(done(
                out.json,
                json!({ "one_time_password": p.expose() }),
                format!(
                    "one-time password for `{}`: {}  (must be changed at next sign-in)",
                    u.username,
                    p.expose()
                ),
            ))
        }
        UserCommand::SetAttr {
            tenant,
            username,
            values: given,
            out,
        } => {
            let (t, u) = find_user(svc, &tenant, &username).await?;
            let schema = directory::attributes::list(&svc.store, &t).await?;
            let values = checked_attributes(&schema, &given, false)?;
            directory::update_profile(
                svc,
                &t,
                &u,
                None,
                Some((&schema, &values)),
                By::operator(&Origin::cli("user set-attr")),
                now,
            )
            .await?;
            let value = json!({ "username": u.username, "attributes": attributes_json(svc, &t, &u).await? });
            Ok(done(
                out.json,
                value,
                format!(
                    "set {} attribute value(s) of `{}`",
                    values.0.len(),
                    u.username
                ),
            ))
        }
        UserCommand::Show {
            tenant,
            username,
            out,
        } => {
            let (t, u) = find_user(svc, &tenant, &username).await?;
            let attributes = attributes_json(svc, &t, &u).await?;
            let mut text = format!(
                "{} <{}>\nid: {}\nname: {}\nstatus: {}",
                u.username,
                u.email,
                u.id,
                u.display_name,
                u.status.as_str()
            );
            for (name, v) in attributes.iter() {
                text.push_str(&format!("\n{name}: {v}"));
            }
            let mut value = user_json(&u);
            value["attributes"] = Value::Object(attributes);
            Ok(done(out.json, value, text))
        }
    }
}
