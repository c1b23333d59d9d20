"""camlib: forensic camera model identification from pixels, as a reproducible report."""
__version__ = "0.1.0"
