"""Benchmarks of the course grader against nbgrader and bare notebook execution (see bench/README.md)."""
