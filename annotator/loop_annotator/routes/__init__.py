"""REST routes of the annotator, one module per resource (status only: user inputs arrive over Socket.IO)."""
