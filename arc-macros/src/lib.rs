//! Attribute macros of Arc. See `arc_core` for the runtime they target.
