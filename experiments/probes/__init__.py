"""Probes shared by every platform: SLO window, quality, served version, time-series recorder."""
