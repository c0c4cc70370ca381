"""`make chaos`: kill -9, Loop outages (refused and reset), Loop restarts, a hostile Loop, garbage input and fuzzing,
each a bounded, repeatable run against real processes that prints what it tried and what survived."""
