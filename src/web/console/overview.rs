//! `/admin`: where an admin lands: the directory at a glance (users, locked accounts, two-step
//! adoption), sign-ins over the last 30 days as a small server-rendered chart, certificates
//! that expire soon, a user search and the latest activity.

use askama::Template;
use askama_web::WebTemplate;
use axum::response::Response;

use super::{Chrome, activity, admin, when};
use crate::console::Power;
use crate::keys::KeyState;
use crate::store::{sign_ins, users};
use crate::web::auth::Web;
use crate::web::error::AppError;

/// Certificates expiring within this are listed.
const SOON_MS: i64 = 30 * 86_400_000;
/// The chart's days.
const DAYS: i64 = 30;

/// One figure of the dashboard.
struct Figure {
    id: &'static str,
    label: &'static str,
    value: String,
    note: String,
    href: &'static str,
}

/// One day's bar: its place and heights in the chart's 600×120 box.
struct Bar {
    x: i64,
    ok_y: i64,
    ok_h: i64,
    bad_y: i64,
    bad_h: i64,
    title: String,
}

/// A certificate that expires soon.
struct Expiring {
    what: String,
    href: String,
    expires: String,
    expired: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    tenant_url: String,
    can_manage: bool,
    figures: Vec<Figure>,
    bars: Vec<Bar>,
    /// (succeeded, failed) over 7 and 30 days.
    week: (i64, i64),
    month: (i64, i64),
    /// Each day's counts, for the table beside the chart: (day, succeeded, failed).
    days: Vec<(String, i64, i64)>,
    expiring: Option<Vec<Expiring>>,
    activity: Option<Vec<activity::Line>>,
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "—".into();
    }
    format!("{}%", (part * 100 + whole / 2) / whole)
}

/// The chart's bars: stacked succeeded (below) and failed (above), scaled to the busiest day.
fn bars(counts: &[(i64, i64)], first_day: i64) -> Vec<Bar> {
    let max = counts.iter().map(|(a, b)| a + b).max().unwrap_or(0).max(1);
    let height = |n: i64| if n == 0 { 0 } else { (n * 110 / max).max(2) };
    counts
        .iter()
        .zip(0_i64..)
        .map(|((ok, bad), i)| {
            let (ok_h, bad_h) = (height(*ok), height(*bad));
            Bar {
                x: i * 20 + 2,
                ok_y: 120 - ok_h,
                ok_h,
                bad_y: 120 - ok_h - bad_h,
                bad_h,
                title: format!("{}: {ok} succeeded, {bad} failed", day_name(first_day + i)),
            }
        })
        .collect()
}

/// A day number (days since 1970-01-01) as `2026-12-07`.
fn day_name(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// A PEM certificate's expiry (unix ms), if it can be read.
fn not_after_ms(pem: &str) -> Option<i64> {
    let cert = openssl::x509::X509::from_pem(pem.as_bytes()).ok()?;
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(cert.not_after()).ok()?;
    Some((i64::from(diff.days) * 86_400 + i64::from(diff.secs)) * 1000)
}

/// Our signing keys' and the service providers' certificates that expire within 30 days.
async fn expiring(admin: &super::Admin) -> Result<Vec<Expiring>, AppError> {
    let svc = &admin.web.state.svc;
    let now = admin.web.now;
    let mut out = vec![];
    for k in crate::keys::list(&svc.store, admin.web.tenant.id).await? {
        if k.state != KeyState::Retired && k.not_after - now < SOON_MS {
            out.push(Expiring {
                what: format!("Signing key {} ({})", k.kid, k.algorithm.as_str()),
                href: "/admin/keys".into(),
                expires: when(k.not_after),
                expired: k.not_after <= now,
            });
        }
    }
    let sps = crate::saml::sps::list(svc, &admin.web.tenant)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    for sp in sps {
        for pem in &sp.config.signing_certificates {
            let Some(at) = not_after_ms(pem).filter(|at| at - now < SOON_MS) else {
                continue;
            };
            out.push(Expiring {
                what: format!("{}: its signing certificate", sp.name),
                href: format!("/admin/apps/saml/{}", sp.id),
                expires: when(at),
                expired: at <= now,
            });
        }
    }
    Ok(out)
}

pub async fn overview(web: Web) -> Result<Response, AppError> {
    let admin = admin!(web, Power::ViewDirectory);
    let svc = &admin.web.state.svc;
    let tenant = admin.web.tenant.id;
    let now = admin.web.now;
    let activity = if Power::ViewAudit.held_by(admin.role) {
        let rows = crate::store::audit::recent(&svc.store, tenant, 12).await?;
        Some(activity::lines(svc, tenant, rows).await?)
    } else {
        None
    };
    let (total, active, locked, mfa) = users::counts(&svc.store, tenant, now).await?;
    let counts = sign_ins::last_days(&svc.store, tenant, now, DAYS).await?;
    let sum = |days: usize| {
        counts[counts.len().saturating_sub(days)..]
            .iter()
            .fold((0, 0), |(a, b), (ok, bad)| (a + ok, b + bad))
    };
    let first_day = now.div_euclid(86_400_000) - DAYS + 1;
    let expiring = if Power::ViewSettings.held_by(admin.role) {
        Some(expiring(&admin).await?)
    } else {
        None
    };
    let figures = vec![
        Figure {
            id: "users",
            label: "Users",
            value: total.to_string(),
            note: format!("{active} active"),
            href: "/admin/users",
        },
        Figure {
            id: "locked",
            label: "Locked now",
            value: locked.to_string(),
            note: "after too many failed sign-ins".into(),
            href: "/admin/users?locked=yes",
        },
        Figure {
            id: "mfa",
            label: "Two-step verification",
            value: percent(mfa, active),
            note: format!("{mfa} of {active} active users"),
            href: "/admin/users?mfa=no&status=active",
        },
    ];
    let (chrome, csrf) = admin.chrome("/admin");
    let page = OverviewPage {
        chrome,
        tenant_url: svc.public_url.tenant_origin(admin.web.tenant.slug.as_str()),
        can_manage: Power::ManageDirectory.held_by(admin.role),
        figures,
        bars: bars(&counts, first_day),
        week: sum(7),
        month: sum(DAYS as usize),
        days: counts
            .iter()
            .zip(first_day..)
            .map(|((ok, bad), day)| (day_name(day), *ok, *bad))
            .collect(),
        expiring,
        activity,
    };
    Ok(admin.render(&csrf, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day_and_stack_failures_on_top() {
        let b = bars(&[(0, 0), (10, 0), (5, 5)], 0);
        assert_eq!((b[0].ok_h, b[0].bad_h), (0, 0));
        assert_eq!((b[1].ok_h, b[1].ok_y), (110, 10));
        assert_eq!((b[2].ok_h, b[2].bad_h, b[2].bad_y), (55, 55, 10));
        assert_eq!(b[2].title, "1970-01-03: 5 succeeded, 5 failed");
        assert_eq!(percent(1, 3), "33%");
        assert_eq!(percent(0, 0), "—");
    }
}
