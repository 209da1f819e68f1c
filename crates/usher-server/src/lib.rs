//! usher's HTTP side: the login bridge ([`Bridge`]: the new store first, then legacy, and
//! users migrated as they log in), registration, sessions (EdDSA-signed JWTs, and the JWKS
//! that lets any service check them without either database), the bounded pool password
//! hashing runs on, rate limits, the admin API and `/metrics` ([`router`] lists the routes).

pub mod conn;
pub mod error;
pub mod hooks;
pub mod http;
pub mod openapi;
pub mod ratelimit;
pub mod session;

pub use conn::ConnectionLimits;
pub use error::ApiError;
pub use hooks::{Hook, HookAuth, HookAuthConfig, HookConfig, Hooks, HooksConfig, Provider};
pub use http::{AdminToken, AppState, MAX_HEADER_BYTES, MAX_URI_BYTES, router, serve, user_view};
pub use ratelimit::{Limit, RateLimitConfig, RateLimits};
pub use session::{Claims, Session, SessionError, SessionKeys};
/// The login service the routes call (re-exported from `usher-bridge`, which has no HTTP).
pub use usher_bridge as bridge;
pub use usher_bridge::{
    AuthSourceEntry, Bridge, Courier, Delivery, HashPool, HashSource, HttpWriteBack,
    HttpWriteBackConfig, Legacy, LoginError, LoginOk, LoginPath, OutageConfig, PoolError,
    RegisterError, Registration,
};
pub use usher_runtime::Metrics;
