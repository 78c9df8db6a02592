"""A faithful local stand-in of the GDC REST API serving a release bundle (see README.md beside this file)."""

from sandbox.gdc_standin.faults import FAULT_KINDS, FaultInjector
from sandbox.gdc_standin.server import GdcStandIn

__all__ = ["FAULT_KINDS", "FaultInjector", "GdcStandIn"]
