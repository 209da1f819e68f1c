//! usher's HTTP side. So far: sessions (EdDSA-signed JWTs, and the JWKS that lets any service
//! check them without either database) and the bounded pool password hashing runs on.

pub mod pool;
pub mod session;

pub use pool::{HashPool, PoolError};
pub use session::{Claims, Session, SessionError, SessionKeys};
