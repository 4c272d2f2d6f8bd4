"""Reference solutions of the course's assignments, one package per assignment (``reference_solutions.<name>``).

They are the instructor's answers and the single source of truth the grader derives its
architecture specs and thresholds from. Each package provides ``train.train_all(data_dir, log)``
(the figures ``grader reference train NAME`` writes to its ``metrics.json``) and, when the
assignment has architecture checks, ``specs.architecture_specs()`` (``grader reference specs NAME``).
"""
