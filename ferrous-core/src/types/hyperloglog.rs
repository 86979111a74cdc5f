//! HyperLogLog: Redis's sparse/dense representation stored in a string value.
