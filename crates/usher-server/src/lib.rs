//! usher's HTTP side. So far: the login flow ([`Bridge`]), sessions (EdDSA-signed JWTs, and the JWKS that lets any service
//! check them without either database) and the bounded pool password hashing runs on.

pub mod bridge;
pub mod http;
pub mod pool;
pub mod session;

pub use bridge::{Bridge, HashSource, LoginError, LoginOk, LoginPath};
pub use http::{AppState, router};
pub use pool::{HashPool, PoolError};
pub use session::{Claims, Session, SessionError, SessionKeys};
