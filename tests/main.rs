//! Integration tests that drive the real binaries, as users and CI do.

mod cli;
mod support;
