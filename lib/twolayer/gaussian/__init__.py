"""Gaussian averages: activations, their closed forms or quadratures, and the averages that
drive the order-parameter dynamics.  Imports only ``twolayer.problem``."""

from .activations import ERF, LINEAR, RELU, TANH, Activation, activation_of, erf_i4
from .averages import covariance, delta_delta, eps_g, readout_drift, stein_coefficients

__all__ = ["ERF", "LINEAR", "RELU", "TANH", "Activation", "activation_of", "covariance", "delta_delta",
           "eps_g", "erf_i4", "readout_drift", "stein_coefficients"]
