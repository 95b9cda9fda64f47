"""Beacon ingestion: schemas, normalization, the /api/vitals endpoint and the writer."""
