"""Chaos Toolkit controls that every rendered experiment declares (see the safeguard)."""
