//! Authorization-request building blocks.

pub mod pkce;
