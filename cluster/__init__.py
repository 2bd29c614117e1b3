"""The only package importing Ray: runtime, worker actors, executor, job runner."""
