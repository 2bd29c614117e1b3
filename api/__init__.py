"""Entry points: the FastAPI app and the `m2c` CLI. Ray is reached only through `cluster`."""
