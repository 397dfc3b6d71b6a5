"""Model-store faults shared by both platforms: outage (file://) and corrupted weights."""
