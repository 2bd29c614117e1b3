"""Pure settlement compute over numpy/Arrow: no I/O, no clock, no environment, no Ray."""
