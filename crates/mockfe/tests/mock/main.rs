//! End-to-end tests of the mock Front End's services over real loopback
//! sockets, speaking the codecs of `phonestorm-proto` and, where a standard
//! tool exists, that tool (dig), so the mock is judged by more than its own
//! dialect. One test binary; each module is a service.

mod common;
mod dns;
mod sntp;
