"""Routes of the stub Loop, one module per resource; all are mounted under `/api`."""
