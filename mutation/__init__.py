"""make mutate: mutation testing of the modules that carry the guarantees (see docs/mutation.md)."""
