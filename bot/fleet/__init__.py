"""Wiring of the fleet: [cluster] credentials, and the pieces of core.fleet started by the App."""
