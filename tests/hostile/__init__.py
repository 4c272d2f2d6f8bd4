"""A corpus of hostile and broken Práctica 3 submissions, graded end to end (see corpus.py)."""
