"""Unit tests: no lab, no network."""
