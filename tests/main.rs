//! Integration tests that drive the real binaries.
mod ci_template;
