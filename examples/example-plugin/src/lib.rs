//! An example third-party Arc plugin crate.
