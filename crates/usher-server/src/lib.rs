//! usher's HTTP side. So far: sessions — EdDSA-signed JWTs and the JWKS that lets any service
//! check them without either database.

pub mod session;

pub use session::{Claims, Session, SessionError, SessionKeys};
