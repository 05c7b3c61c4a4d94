//! The `/ws` JSON wire format: parsing client actions and writing server events.
//!
//! SKELETON: to be written with the hub.
