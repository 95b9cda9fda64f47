"""perfbeacon: a self-hosted web-performance monitoring backend."""
