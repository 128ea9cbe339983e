//! What each algorithm of the blueprints takes and returns: one set of types for the
//! blueprints that call and the `algo-server` adapters that answer, so the two ends
//! cannot drift. Each module names the algorithm's default path.

pub mod face_detection;
pub mod predict;
pub mod smart_thumbnail;
pub mod speech_to_text;
