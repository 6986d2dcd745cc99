//! The key value store trait of AYS and its backends: memory, embedded redb, Redis.
