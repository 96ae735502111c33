//! Lifecycle: where each user stands in the host's stages, and why.
//!
//! [`machine`] is the generic engine: stages, triggers and guards declared as
//! data, validated before use, stepped by events and by the passage of time.

pub mod machine;
