//! usher-server's integration tests, one binary: the HTTP surface over a real login bridge
//! (`http`), connections and error answers over raw sockets (`connections`), the OpenAPI
//! document (`openapi`), outages of legacy (`outage`), and the identity providers' hooks
//! (`hooks`). The login flow itself is tested in
//! usher-bridge; the fixtures both use are in usher-testkit.

usher_testkit::test_modules! {
    mod connections;
    mod hooks;
    mod http;
    mod openapi;
    mod outage;
}
