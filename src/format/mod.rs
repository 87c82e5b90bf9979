//! The wire format sealpipe reads and writes itself (RFC 4880): packet
//! framing, the envelope (the key packets in front of the encrypted data),
//! the SEIPDv1 container, and the literal data packet inside it.
//! Everything above this layer deals in readers and writers, not octets.

pub mod envelope;
pub mod literal;
pub mod packet;
pub mod seipd;
