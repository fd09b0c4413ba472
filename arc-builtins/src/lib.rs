//! Arc's built-in plugins.
