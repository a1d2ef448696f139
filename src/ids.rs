//! Typed ids. Every id is a UUIDv7 (time-ordered, so inserts stay index-friendly) stored as
//! its canonical text form; the types keep a user id from being passed where a tenant id goes.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// A tenant (a company with its own subdomain).
    TenantId
);
typed_id!(
    /// A person in a tenant's directory.
    UserId
);
typed_id!(
    /// One signing key pair of a tenant.
    SigningKeyId
);
typed_id!(
    /// A group in a tenant's directory.
    GroupId
);
