"""Pieces shared by compute and catalog: documents, search expressions, time helpers."""
