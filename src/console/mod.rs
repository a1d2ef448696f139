//! The tenant admin console's rules: what each admin role may do, when an action needs a fresh
//! proof of presence, and who may act on whom. Pages live in `web::console`; actions call the
//! features (`directory`, `login::admin`) with `By { actor: Actor::User(admin) }`, so each is
//! one transaction with its audit entry naming the admin.
//!
//! May use: `directory`.

use crate::directory::{AdminRole, User};

/// How long a password + TOTP proof counts for sensitive actions.
pub const REVERIFY_MS: i64 = 5 * 60_000;

/// Users per page of the user list.
pub const PAGE_SIZE: u64 = 50;

/// Something an admin can do in the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    /// See users and groups.
    ViewDirectory,
    /// Unlock, reset a password or MFA, end sessions.
    HelpUsers,
    /// Create, edit, disable, delete users; manage groups and memberships.
    ManageDirectory,
    /// Give and take console roles.
    ManageAdmins,
    /// Export the directory or a person's data.
    ExportDirectory,
    /// See applications, policies and keys.
    ViewSettings,
    /// Change the sign-in policy.
    ManagePolicies,
    /// Register, configure and delete applications, and say who may use them.
    ManageApps,
    /// Rotate and retire the tenant's signing keys.
    ManageKeys,
    /// See the audit log and export it.
    ViewAudit,
}

impl Power {
    /// Whether `role` holds this power. Owners hold all; admins all but admin management;
    /// helpdesk views users and helps them; auditors read everything and change nothing.
    pub fn held_by(self, role: AdminRole) -> bool {
        use Power::*;
        match role {
            AdminRole::Owner => true,
            AdminRole::Admin => self != ManageAdmins,
            AdminRole::Helpdesk => matches!(self, ViewDirectory | HelpUsers),
            AdminRole::Auditor => matches!(self, ViewDirectory | ViewSettings | ViewAudit),
        }
    }
}

/// Why an admin may not act on a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The role lacks the power.
    Role,
    /// The target holds a console role: only an owner acts on another admin's account.
    TargetIsAdmin,
    /// Admins do not disable, delete or demote themselves here (that would lock them out).
    OwnAccount,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Role => "Your console role does not allow this action.",
            Refusal::TargetIsAdmin => {
                "This account holds a console role. Only an owner can change another \
                 administrator's account."
            }
            Refusal::OwnAccount => {
                "You cannot do this to your own account from the console. Ask another owner, \
                 or use your account page."
            }
        }
    }
}

/// Whether `admin` (with `role`) may use `power` on `target`. `self_allowed` says whether the
/// action makes sense on one's own account.
pub fn may_act_on(
    admin: &User,
    role: AdminRole,
    power: Power,
    target: &User,
    self_allowed: bool,
) -> Result<(), Refusal> {
    if !power.held_by(role) {
        return Err(Refusal::Role);
    }
    if admin.id == target.id {
        return if self_allowed {
            Ok(())
        } else {
            Err(Refusal::OwnAccount)
        };
    }
    if target.admin_role.is_some() && role != AdminRole::Owner {
        return Err(Refusal::TargetIsAdmin);
    }
    Ok(())
}

/// The label of a role in the console.
pub fn role_label(role: AdminRole) -> &'static str {
    match role {
        AdminRole::Owner => "Owner",
        AdminRole::Admin => "Admin",
        AdminRole::Helpdesk => "Helpdesk",
        AdminRole::Auditor => "Auditor",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_by_role() {
        use Power::*;
        let all = [
            ViewDirectory,
            HelpUsers,
            ManageDirectory,
            ManageAdmins,
            ExportDirectory,
            ViewSettings,
            ManagePolicies,
            ManageApps,
            ManageKeys,
            ViewAudit,
        ];
        let held = |role| {
            all.iter()
                .filter(|p| p.held_by(role))
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(held(AdminRole::Owner), all.to_vec());
        assert!(!ManageAdmins.held_by(AdminRole::Admin));
        assert_eq!(held(AdminRole::Admin).len(), all.len() - 1);
        assert_eq!(held(AdminRole::Helpdesk), vec![ViewDirectory, HelpUsers]);
        assert_eq!(
            held(AdminRole::Auditor),
            vec![ViewDirectory, ViewSettings, ViewAudit]
        );
    }
}
