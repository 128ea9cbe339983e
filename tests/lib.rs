//! Whole-system tests: `end_to_end.rs` runs every blueprint through local delivery. The library is empty.
