//! Shared helpers for the end-to-end tests, demo and benchmark.
