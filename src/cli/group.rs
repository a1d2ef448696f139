//! `latchkey group …`: the directory groups of a tenant and their members.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{JsonFlag, Outcome, done, find_user};
use crate::audit::{By, Origin};
use crate::directory::{self, groups};
use crate::services::Services;

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a group.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// The tenant's groups, with their member counts.
    List {
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Rename a group (and replace its description with --description).
    Rename {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        group: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Delete a group (its memberships go with it; the users stay).
    Delete {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        group: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Add a user to a group.
    AddMember {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        group: String,
        #[arg(long)]
        username: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Remove a user from a group.
    RemoveMember {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        group: String,
        #[arg(long)]
        username: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// The usernames of a group's members.
    Members {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        group: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

fn group_json(g: &groups::Group) -> Value {
    json!({
        "id": g.id.to_string(),
        "name": g.name,
        "description": g.description,
        "members": g.members,
        "created_at": g.created_at,
        "updated_at": g.updated_at,
    })
}

pub async fn run(svc: &Services, cmd: GroupCommand, now: i64) -> anyhow::Result<Outcome> {
    match cmd {
        GroupCommand::Create {
            tenant,
            name,
            description,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let origin = Origin::cli("group create");
            let g =
                groups::create(svc, &t, &name, &description, By::operator(&origin), now).await?;
            let text = format!("created group `{}` in `{}`", g.name, t.slug);
            Ok(done(out.json, group_json(&g), text))
        }
        GroupCommand::List { tenant, out } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let list = groups::list(svc, &t).await?;
            let text = list
                .iter()
                .map(|g| format!("{}\t{} members", g.name, g.members))
                .collect::<Vec<_>>()
                .join("\n");
            let value = json!({ "groups": list.iter().map(group_json).collect::<Vec<_>>() });
            Ok(done(out.json, value, text))
        }
        GroupCommand::Rename {
            tenant,
            group,
            to,
            description,
            out,
        } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let g = groups::find(svc, &t, &group).await?;
            let origin = Origin::cli("group rename");
            let renamed = groups::rename(
                svc,
                &t,
                &g,
                &to,
                description.as_deref(),
                By::operator(&origin),
                now,
            )
            .await?;
            let text = format!("renamed group `{}` to `{}`", g.name, renamed.name);
            Ok(done(out.json, group_json(&renamed), text))
        }
        GroupCommand::Delete { tenant, group, out } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let g = groups::find(svc, &t, &group).await?;
            let origin = Origin::cli("group delete");
            groups::delete(svc, &t, &g, By::operator(&origin), now).await?;
            let text = format!("deleted group `{}` from `{}`", g.name, t.slug);
            Ok(done(out.json, json!({ "deleted": g.name }), text))
        }
        GroupCommand::AddMember {
            tenant,
            group,
            username,
            out,
        } => membership(svc, (&tenant, &group, &username), true, out.json, now).await,
        GroupCommand::RemoveMember {
            tenant,
            group,
            username,
            out,
        } => membership(svc, (&tenant, &group, &username), false, out.json, now).await,
        GroupCommand::Members { tenant, group, out } => {
            let t = directory::find_tenant(svc, &tenant).await?;
            let g = groups::find(svc, &t, &group).await?;
            let members = groups::members(svc, &t, &g).await?;
            let text = members.join("\n");
            Ok(done(
                out.json,
                json!({ "group": g.name, "members": members }),
                text,
            ))
        }
    }
}

/// `add-member` (`member`) or `remove-member`.
async fn membership(
    svc: &Services,
    (tenant, group, username): (&str, &str, &str),
    member: bool,
    json: bool,
    now: i64,
) -> anyhow::Result<Outcome> {
    let (t, u) = find_user(svc, tenant, username).await?;
    let g = groups::find(svc, &t, group).await?;
    let (command, key) = if member {
        ("group add-member", "added")
    } else {
        ("group remove-member", "removed")
    };
    let origin = Origin::cli(command);
    let changed = groups::set_member(svc, &t, &g, &u, member, By::operator(&origin), now).await?;
    let text = match (member, changed) {
        (true, true) => format!("added `{}` to `{}`", u.username, g.name),
        (true, false) => format!("`{}` was already in `{}`", u.username, g.name),
        (false, true) => format!("removed `{}` from `{}`", u.username, g.name),
        (false, false) => format!("`{}` was not in `{}`", u.username, g.name),
    };
    let value = json!({ "group": g.name, "username": u.username, key: changed });
    Ok(done(json, value, text))
}
