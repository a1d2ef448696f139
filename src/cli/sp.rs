//! `latchkey sp …`: the SAML service providers of a tenant.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{JsonFlag, Outcome, done};
use crate::audit::Origin;
use crate::directory;
use crate::saml::sps::{
    self, AttributeRule, ManualSp, NameIdFormat, ServiceProvider, Signing, SpOptions,
};
use crate::services::Services;

#[derive(Subcommand, Debug)]
pub enum SpCommand {
    /// Register an SP from its metadata (a file, or `-` for standard input).
    Import {
        #[arg(long)]
        tenant: String,
        /// The metadata file, or `-` to read it from standard input.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// Which entity, when the document describes several.
        #[arg(long)]
        entity_id: Option<String>,
        #[command(flatten)]
        options: OptionArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Register an SP by hand.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        entity_id: String,
        /// AssertionConsumerService URL, HTTP-POST binding (repeatable; the first is the default).
        #[arg(long = "acs", value_name = "URL", required = true)]
        acs_urls: Vec<String>,
        /// SingleLogoutService URL, HTTP-Redirect binding (repeatable).
        #[arg(long = "slo", value_name = "URL")]
        slo_urls: Vec<String>,
        /// PEM file of the SP's signing certificate (repeatable).
        #[arg(long = "certificate", value_name = "FILE")]
        certificates: Vec<PathBuf>,
        #[command(flatten)]
        options: OptionArgs,
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
        entity_id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    Delete {
        #[arg(long)]
        tenant: String,
        entity_id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Args, Debug)]
pub struct OptionArgs {
    /// Display name (default: the entity id).
    #[arg(long)]
    name: Option<String>,
    /// email, persistent, transient or unspecified (default: the first the SP lists that we
    /// issue, else persistent).
    #[arg(long)]
    name_id_format: Option<String>,
    /// What is signed: assertion, response or both.
    #[arg(long, default_value = "both")]
    sign: String,
    /// Refuse unsigned AuthnRequests (default: what the SP's metadata says).
    #[arg(long)]
    require_signed_requests: bool,
    /// Assertion lifetime in seconds (60 to 3600).
    #[arg(long)]
    assertion_seconds: Option<u32>,
    /// Allow IdP-initiated SSO to this SP.
    #[arg(long)]
    idp_initiated: bool,
    /// RelayState sent with IdP-initiated SSO (at most 80 bytes).
    #[arg(long)]
    relay_state: Option<String>,
    /// Attribute mapping, replacing the default: source=Name[|FriendlyName], repeatable;
    /// sources: username, email, display_name, user_id, groups.
    #[arg(long = "attribute", value_name = "RULE")]
    attributes: Vec<String>,
}

impl OptionArgs {
    fn into_options(self) -> anyhow::Result<SpOptions> {
        let name_id_format = self
            .name_id_format
            .map(|f| {
                NameIdFormat::parse(&f).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--name-id-format must be email, persistent, transient or unspecified"
                    )
                })
            })
            .transpose()?;
        let signing = Signing::parse(&self.sign)
            .ok_or_else(|| anyhow::anyhow!("--sign must be assertion, response or both"))?;
        let attributes = if self.attributes.is_empty() {
            None
        } else {
            Some(
                self.attributes
                    .iter()
                    .map(|a| AttributeRule::parse(a))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        Ok(SpOptions {
            name: self.name,
            name_id_format,
            signing: Some(signing),
            require_signed_requests: self.require_signed_requests.then_some(true),
            assertion_seconds: self.assertion_seconds,
            idp_initiated: self.idp_initiated,
            default_relay_state: self.relay_state,
            attributes,
        })
    }
}

/// Reads a small text file (or standard input for `-`), refusing anything over `limit` bytes.
fn read_limited(path: &PathBuf, limit: usize) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let taken = if path.as_os_str() == "-" {
        std::io::stdin()
            .take(limit as u64 + 1)
            .read_to_end(&mut buf)?
    } else {
        std::fs::File::open(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
            .take(limit as u64 + 1)
            .read_to_end(&mut buf)?
    };
    if taken > limit {
        anyhow::bail!("{} is larger than {limit} bytes", path.display());
    }
    String::from_utf8(buf).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))
}

pub fn sp_json(sp: &ServiceProvider) -> Value {
    json!({
        "entity_id": sp.entity_id,
        "name": sp.name,
        "acs": sp.config.acs,
        "slo": sp.config.slo,
        "signing_certificates": sp.config.signing_certificates.len(),
        "encryption_certificates": sp.config.encryption_certificates.len(),
        "name_id_format": sp.config.name_id_format.short(),
        "attributes": sp.config.attributes,
        "sign": sp.config.signing,
        "require_signed_requests": sp.config.require_signed_requests,
        "assertion_seconds": sp.config.assertion_seconds,
        "idp_initiated": sp.config.idp_initiated,
        "default_relay_state": sp.config.default_relay_state,
        "created_at": sp.created_at,
        "updated_at": sp.updated_at,
    })
}

fn shown(out: &JsonFlag, sp: &ServiceProvider, verb: &str, slug: &str) -> anyhow::Result<Outcome> {
    let value = sp_json(sp);
    let text = format!(
        "{verb} service provider `{}` in `{slug}`\n{}",
        sp.entity_id,
        serde_json::to_string_pretty(&value)?
    );
    Ok(done(out.json, value, text))
}

pub async fn run(svc: &Services, cmd: SpCommand, now: i64) -> anyhow::Result<Outcome> {
    match cmd {
        SpCommand::Import {
            tenant,
            file,
            entity_id,
            options,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let xml = read_limited(&file, crate::saml::inbound::MAX_METADATA_BYTES)?;
            let sp = sps::import(
                svc,
                &t,
                &xml,
                entity_id.as_deref(),
                options.into_options()?,
                crate::audit::By::operator(&Origin::cli("sp import")),
                now,
            )
            .await?;
            shown(&out, &sp, "imported", t.slug.as_str())
        }
        SpCommand::Create {
            tenant,
            entity_id,
            acs_urls,
            slo_urls,
            certificates,
            options,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let certificates = certificates
                .iter()
                .map(|p| read_limited(p, 16 * 1024))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let sp = sps::create(
                svc,
                &t,
                ManualSp {
                    entity_id,
                    acs_urls,
                    slo_urls,
                    certificates,
                },
                options.into_options()?,
                crate::audit::By::operator(&Origin::cli("sp create")),
                now,
            )
            .await?;
            shown(&out, &sp, "created", t.slug.as_str())
        }
        SpCommand::List { tenant, out } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let list = sps::list(svc, &t).await?;
            let text = list
                .iter()
                .map(|sp| format!("{}\t{}", sp.entity_id, sp.name))
                .collect::<Vec<_>>()
                .join("\n");
            Ok(done(
                out.json,
                json!({ "service_providers": list.iter().map(sp_json).collect::<Vec<_>>() }),
                text,
            ))
        }
        SpCommand::Show {
            tenant,
            entity_id,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let sp = sps::find(svc, &t, entity_id.trim())
                .await?
                .ok_or_else(|| sps::SpError::NotFound(entity_id.chars().take(100).collect()))?;
            shown(&out, &sp, "", t.slug.as_str())
        }
        SpCommand::Delete {
            tenant,
            entity_id,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let origin = Origin::cli("sp delete");
            sps::delete(
                svc,
                &t,
                entity_id.trim(),
                crate::audit::By::operator(&origin),
                now,
            )
            .await?;
            Ok(done(
                out.json,
                json!({ "deleted": entity_id }),
                format!("deleted service provider `{entity_id}` from `{}`", t.slug),
            ))
        }
    }
}
