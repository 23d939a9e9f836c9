//! Checking a user's password: the one place the hosted login page and the password grant (and
//! whatever asks for a password next) share. PBKDF2 with equal work for unknown accounts, one
//! generic refusal, and brute-force limits per account and per client IP, counted on the ledger.

use crate::b64;
use crate::config::Config;
use crate::error::Error;
use crate::ports::{Clock, Host, Ledger};
use crate::records::{self, UserRecord};

/// Failed logins allowed per account and per client IP in one window (Auth0's brute-force
/// protection also stops at 10 failures per account).
pub const FAILURES_PER_ACCOUNT: u64 = 10;
pub const FAILURES_PER_IP: u64 = 100;
pub const WINDOW_SECONDS: i64 = 300;

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

/// Checks `password` for the account `username` (an email), as seen from `ip`.
///
/// Every attempt is counted atomically before the password is checked (so parallel guesses
/// cannot all slip under the limit), successes are counted too (only failures use up the
/// allowance), and the previous window's failures still count, so the allowance does not reset
/// at a window boundary.
pub async fn check_password<H: Host>(
    host: &H,
    config: &Config,
    username: &str,
    password: &str,
    ip: &str,
) -> Result<PasswordCheck, Error> {
    let now = host.clock().now();
    let window = now / WINDOW_SECONDS;
    let keep_until = (window + 2) * WINDOW_SECONDS;
    let account = b64::sha256(username.to_lowercase());
    let subjects = [
        (format!("ip:{ip}"), FAILURES_PER_IP),
        (format!("account:{account}"), FAILURES_PER_ACCOUNT),
    ];
    let key = |kind: &str, subject: &str, w: i64| format!("rate:login-{kind}:{subject}:{w}");
    let mut blocked = false;
    for (subject, limit) in &subjects {
        let ledger = host.ledger();
        let attempts = ledger.increment(&key("attempts", subject, window), now, keep_until).await?;
        let successes = ledger.count(&key("successes", subject, window), now).await?;
        let previous = ledger
            .count(&key("attempts", subject, window - 1), now)
            .await?
            .saturating_sub(ledger.count(&key("successes", subject, window - 1), now).await?);
        blocked |= attempts.saturating_sub(successes) + previous > *limit;
    }
    if blocked {
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
    for (subject, _) in &subjects {
        host.ledger().increment(&key("successes", subject, window), now, keep_until).await?;
    }
    Ok(PasswordCheck::Verified(Box::new(user)))
}
