"""Faults and probes for Kubernetes (chaosk8s style), speaking the local drivers' verbs."""
