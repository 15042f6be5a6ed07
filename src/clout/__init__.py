"""clout: an open, calibrated, explainable 1-100 influence score."""

from clout.numerics import pin

pin()  # before anything loads NumPy: the same kernels, so the same bits, on every machine

__version__ = "0.1.0"
