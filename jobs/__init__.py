"""Job specs, planning and runners: what to run (no Ray, no FastAPI)."""
