"""Screening intake: from a screening platform's result file to flags, and (in time) to cases and
the student archive. ``reader.py`` reads and scores a file and says what an import would do."""
