"""Development stand-ins for what is not on this machine: the GDC API stand-in that serves release bundles,
and the synthetic cohort generator. Only the demo launchers (`make demo`, `make ui`) and tests import it."""
