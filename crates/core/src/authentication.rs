//! Checking an end user's password: the one place the hosted login page and the password grant
//! (and whatever asks for a password next) share. PBKDF2 with equal work for unknown accounts,
//! one generic refusal, and brute-force limits per account and per client IP (`rate_limit`).
//! (Client authentication is `client_auth`.)

use crate::b64;
use crate::config::Config;
use crate::error::Error;
use crate::ports::Host;
use crate::rate_limit::{self, Limit};
use crate::records::{self, UserRecord};

/// Failed logins allowed per account from one client IP, and per client IP, in one window
/// (Auth0's brute-force protection: 10 failures per account and IP).
pub const FAILURES_PER_ACCOUNT: u64 = 10;
pub const FAILURES_PER_IP: u64 = 100;

/// The message for any failed login: it never says which of the two was wrong.
pub const WRONG_CREDENTIALS: &str = "Wrong email or password.";
/// The message when the limits are reached.
pub const TOO_MANY_ATTEMPTS: &str = "Too many attempts. Wait a few minutes, then try again.";

/// The outcome of a password check.
#[derive(Debug)]
pub enum PasswordCheck {
    Verified(Box<UserRecord>),
    /// Unknown account or wrong password: the caller must not say which.
    Wrong,
    /// Too many failures for this account or this IP: nothing was checked.
    TooManyAttempts,
}

/// Checks `password` for the account `username` (an email), as seen from `ip`, within the
/// limits (`rate_limit`: counted before the password is checked).
pub async fn check_password<H: Host>(
    host: &H,
    config: &Config,
    username: &str,
    password: &str,
    ip: &str,
) -> Result<PasswordCheck, Error> {
    // Per account *and* IP (Auth0's default, `count_per_identifier_and_ip`): a stranger cannot
    // lock a user out of their own account by failing on purpose; and per IP overall.
    let ip = rate_limit::ip_subject(ip);
    let limits = [
        Limit { subject: ip.clone(), max_failures: FAILURES_PER_IP },
        Limit {
            subject: format!("account:{}:{ip}", b64::sha256(username.to_lowercase())),
            max_failures: FAILURES_PER_ACCOUNT,
        },
    ];
    if !rate_limit::attempt(host, "login", &limits).await? {
        return Ok(PasswordCheck::TooManyAttempts);
    }
    let user = records::user_by_email(host.store(), username).await?;
    let verified = match &user {
        Some(user) => records::verify_password(host.crypto(), &user.password, password).await?,
        None => {
            // Spend the same time as a real check, so timing does not reveal who has an account.
            let dummy = records::PasswordHash::dummy(config.password_iterations);
            records::verify_password(host.crypto(), &dummy, password).await?;
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else { return Ok(PasswordCheck::Wrong) };
    rate_limit::succeeded(host, "login", &limits).await?;
    Ok(PasswordCheck::Verified(Box::new(user)))
}
