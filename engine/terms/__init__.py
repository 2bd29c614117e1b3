"""Contract term kinds, one module each."""
