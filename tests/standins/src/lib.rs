//! Stand-ins for the services tests cannot reach: each is a real HTTP server on 127.0.0.1
//! speaking the service's wire protocol, with knobs to make it misbehave on purpose (rate
//! limits, timeouts, malformed answers) and a record of what it was sent.

pub mod alpaca;
pub mod openai;
