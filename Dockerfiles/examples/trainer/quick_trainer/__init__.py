"""Example trainer plugin: the reference trainer with smaller, faster defaults."""
