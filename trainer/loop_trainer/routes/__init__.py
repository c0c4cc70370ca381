"""REST routes of the trainer, one module per resource (status only: trainings come from the Loop)."""
