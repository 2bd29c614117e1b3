"""The only code touching the object store and the table format (Delta Lake)."""
