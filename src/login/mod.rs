//! Proving who a user is. For now: password hashing; sessions, lockout and MFA arrive with the
//! login issue.

pub mod password;
