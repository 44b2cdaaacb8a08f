"""Known-answer vectors for the normaliser, and helpers that craft tar streams."""
