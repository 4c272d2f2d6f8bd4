"""Reference solutions of the course's assignments.

They are the instructor's answers and the single source of truth the grader derives its
architecture specs and thresholds from (see ``metrics.json``, written by ``grader reference train``).
"""
