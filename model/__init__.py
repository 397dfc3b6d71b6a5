"""The model-version format, shared by training (which writes it) and serving (which reads it)."""
