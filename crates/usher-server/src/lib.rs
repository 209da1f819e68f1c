//! usher's HTTP side: the login bridge ([`Bridge`]: the new store first, then legacy, and
//! users migrated as they log in), registration, sessions (EdDSA-signed JWTs, and the JWKS
//! that lets any service check them without either database), the bounded pool password
//! hashing runs on, rate limits, the admin API and `/metrics` ([`router`] lists the routes).

pub mod breaker;
pub mod bridge;
pub mod conn;
pub mod http;
pub mod metrics;
pub mod pool;
pub mod ratelimit;
pub mod session;
pub mod status;
pub mod write_back;

pub use breaker::OutageConfig;
pub use bridge::{
    AuthSourceEntry, Bridge, HashSource, Legacy, LoginError, LoginOk, LoginPath, RegisterError,
    Registration,
};
pub use conn::ConnectionLimits;
pub use http::{AdminToken, AppState, MAX_HEADER_BYTES, MAX_URI_BYTES, router, serve, user_view};
pub use metrics::Metrics;
pub use pool::{HashPool, PoolError};
pub use ratelimit::{Limit, RateLimitConfig, RateLimits};
pub use session::{Claims, Session, SessionError, SessionKeys};
pub use write_back::{HttpWriteBack, HttpWriteBackConfig};
