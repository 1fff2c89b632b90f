"""shopfloor: manufacturing quality and predictive-maintenance platform."""

__version__ = "0.1.0"
