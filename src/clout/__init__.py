"""clout: an open, calibrated, explainable 1-100 influence score."""

__version__ = "0.1.0"
