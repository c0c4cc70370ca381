"""REST routes of the converter, one module per resource (status only: the work comes from scanning the Loop)."""
