//! The wire format sealpipe reads and writes itself (RFC 4880): packet
//! framing, the envelope (the key packets in front of the encrypted data),
//! and the SEIPDv1 container. Everything above this layer deals in
//! readers and writers, not octets.

pub mod envelope;
pub mod packet;
pub mod seipd;
