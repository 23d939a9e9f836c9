//! Authorization-request building blocks.

pub mod pkce;
pub mod request;
pub mod session;
