"""repro: reproducible container builds and software supply-chain security."""

__version__ = "0.1.0"
