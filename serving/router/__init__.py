"""The router: pools of replicas, retries across zones, standby spill-over, degraded fallback."""
