"""REST routes of the detector, one module per concern."""
