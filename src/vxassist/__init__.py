"""vxassist: remote-assistance agent with case intake for VXTracker hosts."""

__version__ = "0.1.0"
