//! The authorization request side: the request and its checks, the browser session, consent,
//! PKCE, and how an approved interaction completes.

pub mod consent;
pub mod details;
pub mod intake;
pub mod interaction;
pub mod pkce;
pub mod request;
pub mod request_object;
pub mod session;
