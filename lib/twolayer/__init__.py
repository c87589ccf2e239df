"""twolayer: online SGD in two-layer networks with power-law data spectra.

Reference library of the book reproducing Worschech & Rosenow, "Analyzing Neural
Scaling Laws in Two-Layer Networks with Power-Law Data Spectra" (ICLR 2025).
"""

__version__ = "0.1.0"
