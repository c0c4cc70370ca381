"""A test double of the Learning Loop: its node-facing API, persistent on disk, plus a project generator.

It also serves as the local default Loop for `make run` and `docker compose up`. It is not the Learning Loop.
"""
